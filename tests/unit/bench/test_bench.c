/*
 * test_bench.c - the pure parts of cairn-bench: command-line parsing, key
 * formatting and nearest-rank percentiles. tools/bench.c is compiled in
 * whole with CAIRN_BENCH_NO_MAIN, which leaves out the libuv load
 * generator, so its file-local functions are tested as they are.
 */
#include <criterion/criterion.h>

#include "../../../tools/bench.c"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int parse(int argc, const char *const argv[], struct bench_opts *o, char *err)
{
	return parse_args(argc, argv, o, err, 256);
}

Test(bench, defaults_match_the_etcd_workload)
{
	const char *argv[] = {"cairn-bench", "--endpoints", "127.0.0.1:8001", "--no-progress"};
	struct bench_opts o;
	char err[256] = "";
	cr_assert_eq(parse(ARGC(argv), argv, &o, err), 0, "%s", err);
	cr_assert_eq(o.key_bytes, 8);
	cr_assert_eq(o.value_bytes, 256);
	cr_assert_eq(o.keyspace, 100000);
	cr_assert_eq(o.op, BENCH_OP_PUT);
	cr_assert_eq(o.clients, 1);
	cr_assert_eq(o.conns, 1);
	cr_assert_eq(o.timeout_ms, BENCH_TIMEOUT_MS_DEFAULT);
	cr_assert(o.rate == 0.0);
	cr_assert_not(o.progress);
}

Test(bench, parses_every_option_in_both_spellings)
{
	const char *argv[] = {"cairn-bench",
			      "--endpoints=127.0.0.1:8001,[::1]:8002,db1:8003",
			      "--clients",
			      "256",
			      "--conns=32",
			      "--total",
			      "40000",
			      "--key-bytes=16",
			      "--value-bytes",
			      "0",
			      "--keyspace",
			      "1000",
			      "--op=mixed",
			      "--read-percent",
			      "90",
			      "--rate=2500.5",
			      "--timeout",
			      "750",
			      "--seed=7",
			      "--sequential",
			      "--progress"};
	struct bench_opts o;
	char err[256] = "";
	cr_assert_eq(parse(ARGC(argv), argv, &o, err), 0, "%s", err);
	cr_assert_eq(o.endpoint_count, 3);
	cr_assert_str_eq(o.endpoints[1], "[::1]:8002");
	cr_assert_str_eq(o.endpoints[2], "db1:8003");
	cr_assert_eq(o.clients, 256);
	cr_assert_eq(o.conns, 32);
	cr_assert_eq(o.total, 40000);
	cr_assert_eq(o.key_bytes, 16);
	cr_assert_eq(o.value_bytes, 0);
	cr_assert_eq(o.keyspace, 1000);
	cr_assert_eq(o.op, BENCH_OP_MIXED);
	cr_assert_str_eq(op_name(o.op), "mixed");
	cr_assert_eq(o.read_percent, 90);
	cr_assert(o.rate == 2500.5);
	cr_assert_eq(o.timeout_ms, 750);
	cr_assert_eq(o.seed, 7);
	cr_assert(o.sequential);
	cr_assert(o.progress);
}

Test(bench, conns_default_to_clients_up_to_64)
{
	const char *argv[] = {"cairn-bench", "-c", "cluster.ini", "--clients", "256"};
	struct bench_opts o;
	char err[256] = "";
	cr_assert_eq(parse(ARGC(argv), argv, &o, err), 0, "%s", err);
	cr_assert_str_eq(o.config_path, "cluster.ini");
	cr_assert_eq(o.conns, 64);
}

Test(bench, refuses_config_and_endpoints_together_or_neither)
{
	const char *both[] = {"cairn-bench", "--config", "a.ini", "--endpoints", "127.0.0.1:1"};
	const char *neither[] = {"cairn-bench", "--clients", "4"};
	struct bench_opts o;
	char err[256] = "";
	cr_assert_eq(parse(ARGC(both), both, &o, err), CAIRN_EINVAL);
	cr_assert_eq(parse(ARGC(neither), neither, &o, err), CAIRN_EINVAL);
	cr_assert(strstr(err, "--config") != NULL, "%s", err);
}

Test(bench, refuses_bad_numbers_and_unknown_options)
{
	const char *cases[][3] = {
		{"cairn-bench", "--clients", "0"},
		{"cairn-bench", "--clients", "-3"},
		{"cairn-bench", "--total", "12x"},
		{"cairn-bench", "--op", "scan"},
		{"cairn-bench", "--rate", "0"},
		{"cairn-bench", "--key-bytes", "1025"},
		{"cairn-bench", "--read-percent", "101"},
		{"cairn-bench", "--frobnicate", "1"},
		{"cairn-bench", "--endpoints", "nohostport"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bench_opts o;
		char err[256] = "";
		cr_assert_eq(parse(3, cases[i], &o, err), CAIRN_EINVAL, "%s %s accepted",
			     cases[i][1], cases[i][2]);
		cr_assert(err[0] != '\0');
	}
}

Test(bench, refuses_more_conns_than_clients_and_keys_too_narrow)
{
	const char *conns[] = {
		"cairn-bench", "--endpoints", "127.0.0.1:1", "--clients", "4", "--conns", "8"};
	const char *keys[] = {"cairn-bench", "--endpoints", "127.0.0.1:1", "--key-bytes",
			      "4",           "--keyspace",  "100000"};
	struct bench_opts o;
	char err[256] = "";
	cr_assert_eq(parse(ARGC(conns), conns, &o, err), CAIRN_EINVAL);
	cr_assert_eq(parse(ARGC(keys), keys, &o, err), CAIRN_EINVAL);
	cr_assert(strstr(err, "--key-bytes") != NULL, "%s", err);
}

Test(bench, option_missing_its_value_is_an_error)
{
	const char *argv[] = {"cairn-bench", "--endpoints", "127.0.0.1:1", "--total"};
	struct bench_opts o;
	char err[256] = "";
	cr_assert_eq(parse(ARGC(argv), argv, &o, err), CAIRN_EINVAL);
	cr_assert(strstr(err, "needs a value") != NULL, "%s", err);
}

Test(bench, keys_are_zero_padded_decimal_of_fixed_width)
{
	uint8_t key[8];
	format_key(key, sizeof(key), 0);
	cr_assert_arr_eq(key, "00000000", 8);
	format_key(key, sizeof(key), 99999);
	cr_assert_arr_eq(key, "00099999", 8);
	cr_assert_eq(key_digits(100000), 5);
	cr_assert_eq(key_digits(100001), 6);
	cr_assert_eq(key_digits(1), 1);
}

Test(bench, percentiles_are_nearest_rank)
{
	uint64_t v[1000];
	for (size_t i = 0; i < 1000; i++)
		v[i] = 1000 - i; /* 1000 .. 1, unsorted */
	qsort(v, 1000, sizeof(v[0]), cmp_u64);
	cr_assert_eq(v[0], 1);
	cr_assert_eq(percentile_ns(v, 1000, 500), 500);
	cr_assert_eq(percentile_ns(v, 1000, 900), 900);
	cr_assert_eq(percentile_ns(v, 1000, 990), 990);
	cr_assert_eq(percentile_ns(v, 1000, 999), 999);
	cr_assert_eq(percentile_ns(v, 1000, 1000), 1000);
	cr_assert_eq(percentile_ns(v, 1000, 0), 1);
}

Test(bench, percentiles_of_few_samples_round_up)
{
	uint64_t v[] = {10, 20, 30};
	cr_assert_eq(percentile_ns(v, 3, 500), 20);
	cr_assert_eq(percentile_ns(v, 3, 990), 30);
	cr_assert_eq(percentile_ns(v, 1, 999), 10);
	cr_assert_eq(percentile_ns(v, 0, 500), 0);
	cr_assert(ns_to_ms(1500000) == 1.5);
}
