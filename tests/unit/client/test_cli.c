/*
 * test_cli.c - the `cairn` CLI's command-line parsing and status printing,
 * which need no server.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cairn/errors.h"
#include "client/cli.h"

/* argv as main() gets it: mutable strings that outlive the parse. */
static int parse(struct cairn_cli_args *a, char *err, int argc, const char **argv)
{
	static char store[16][128];
	char *v[16];
	cr_assert_leq(argc, 16);
	for (int i = 0; i < argc; i++) {
		snprintf(store[i], sizeof(store[i]), "%s", argv[i]);
		v[i] = store[i];
	}
	return cairn_cli_parse(argc, v, a, err, 256);
}

#define PARSE(a, err, ...)                                                                         \
	parse(a, err, (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)),         \
	      (const char *[]){__VA_ARGS__})

Test(cli, get_takes_one_key_and_default_timeout)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "get", "k"), 0);
	cr_assert_eq(a.command, CAIRN_CLI_GET);
	cr_assert_str_eq(a.key, "k");
	cr_assert_eq(a.timeout_ms, 5000);
	cr_assert_null(a.config_path);
}

Test(cli, global_options_come_before_the_command)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "-c", "x.ini", "--timeout", "250", "put", "k", "v"),
		     0);
	cr_assert_eq(a.command, CAIRN_CLI_PUT);
	cr_assert_str_eq(a.config_path, "x.ini");
	cr_assert_eq(a.timeout_ms, 250);
	cr_assert_str_eq(a.key, "k");
	cr_assert_str_eq(a.value, "v");
}

Test(cli, long_options_accept_equals_form)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "--config=y.ini", "--timeout=7", "del", "k"), 0);
	cr_assert_str_eq(a.config_path, "y.ini");
	cr_assert_eq(a.timeout_ms, 7);
	cr_assert_eq(a.command, CAIRN_CLI_DEL);
}

Test(cli, cas_takes_key_expected_and_new)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "cas", "k", "old", "new"), 0);
	cr_assert_eq(a.command, CAIRN_CLI_CAS);
	cr_assert_str_eq(a.key, "k");
	cr_assert_str_eq(a.expected, "old");
	cr_assert_str_eq(a.value, "new");
}

Test(cli, operands_after_the_command_may_start_with_a_dash)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "put", "-k", "-1"), 0);
	cr_assert_str_eq(a.key, "-k");
	cr_assert_str_eq(a.value, "-1");
}

Test(cli, double_dash_ends_the_options)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "--", "get", "k"), 0);
	cr_assert_eq(a.command, CAIRN_CLI_GET);
}

Test(cli, status_takes_json_flag)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "status", "--json"), 0);
	cr_assert_eq(a.command, CAIRN_CLI_STATUS);
	cr_assert(a.json);
	cr_assert_eq(PARSE(&a, err, "cairn", "status"), 0);
	cr_assert_not(a.json);
}

Test(cli, missing_command_is_a_usage_error)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn"), CAIRN_EINVAL);
	cr_assert_str_eq(err, "no command given");
}

Test(cli, unknown_command_is_named)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "frob", "k"), CAIRN_EINVAL);
	cr_assert_str_eq(err, "unknown command 'frob'");
}

Test(cli, wrong_operand_counts_are_usage_errors)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "get"), CAIRN_EINVAL);
	cr_assert_str_eq(err, "missing argument: expected get KEY");
	cr_assert_eq(PARSE(&a, err, "cairn", "put", "k"), CAIRN_EINVAL);
	cr_assert_eq(PARSE(&a, err, "cairn", "del", "k", "extra"), CAIRN_EINVAL);
	cr_assert_str_eq(err, "too many arguments: expected del KEY");
	cr_assert_eq(PARSE(&a, err, "cairn", "cas", "k", "a"), CAIRN_EINVAL);
	cr_assert_eq(PARSE(&a, err, "cairn", "status", "--yaml"), CAIRN_EINVAL);
}

Test(cli, bad_timeouts_are_usage_errors)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "--timeout", "0", "get", "k"), CAIRN_EINVAL);
	cr_assert_eq(PARSE(&a, err, "cairn", "--timeout", "-5", "get", "k"), CAIRN_EINVAL);
	cr_assert_eq(PARSE(&a, err, "cairn", "--timeout", "12ms", "get", "k"), CAIRN_EINVAL);
	cr_assert_eq(PARSE(&a, err, "cairn", "--timeout", "99999999999", "get", "k"), CAIRN_EINVAL);
	cr_assert_eq(PARSE(&a, err, "cairn", "get", "k", "--timeout"), CAIRN_EINVAL);
	cr_assert_eq(PARSE(&a, err, "cairn", "--timeout"), CAIRN_EINVAL);
	cr_assert_str_eq(err, "option --timeout needs a value");
}

Test(cli, unknown_option_is_named)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "--verbose", "get", "k"), CAIRN_EINVAL);
	cr_assert_str_eq(err, "unknown option '--verbose'");
}

Test(cli, help_is_not_an_error)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "--help"), 0);
	cr_assert_eq(a.command, CAIRN_CLI_HELP);
}

Test(cli, config_path_prefers_flag_then_env_then_default)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "get", "k"), 0);
	cr_assert_str_eq(cairn_cli_config_path(&a, NULL), "config/cluster.ini");
	cr_assert_str_eq(cairn_cli_config_path(&a, ""), "config/cluster.ini");
	cr_assert_str_eq(cairn_cli_config_path(&a, "env.ini"), "env.ini");
	cr_assert_eq(PARSE(&a, err, "cairn", "-c", "flag.ini", "get", "k"), 0);
	cr_assert_str_eq(cairn_cli_config_path(&a, "env.ini"), "flag.ini");
}

static char *json_of(const char *s)
{
	static char text[256];
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	cr_assert_eq(cairn_cli_json_string(&b, s), 0);
	cr_assert_lt(b.len, sizeof(text));
	memcpy(text, b.data, b.len);
	text[b.len] = '\0';
	cairn_buf_free(&b);
	return text;
}

Test(cli, json_strings_escape_quotes_backslashes_and_controls)
{
	cr_assert_str_eq(json_of("plain"), "\"plain\"");
	cr_assert_str_eq(json_of("a\"b\\c"), "\"a\\\"b\\\\c\"");
	cr_assert_str_eq(json_of("t\tn\n\x01"), "\"t\\tn\\n\\u0001\"");
	cr_assert_str_eq(json_of("h\xc3\xa9"), "\"h\xc3\xa9\"");
}

static void node(struct cairn_client_node_status *s, uint64_t id, bool up, const char *role,
		 uint64_t term, uint64_t leader)
{
	memset(s, 0, sizeof(*s));
	s->id = id;
	snprintf(s->peer, sizeof(s->peer), "127.0.0.1:700%u", (unsigned)id);
	snprintf(s->client, sizeof(s->client), "127.0.0.1:800%u", (unsigned)id);
	s->reachable = up;
	if (!up)
		return;
	snprintf(s->role, sizeof(s->role), "%s", role);
	s->term = term;
	s->leader = leader;
	s->commit_index = 120;
	s->applied_index = 119;
	s->last_log_index = 121;
	s->first_log_index = 101;
}

static char *status_json(const struct cairn_client_node_status *st, size_t n)
{
	static char text[4096];
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	cr_assert_eq(cairn_cli_status_json(&b, st, n), 0);
	cr_assert_lt(b.len, sizeof(text));
	memcpy(text, b.data, b.len);
	text[b.len] = '\0';
	cairn_buf_free(&b);
	return text;
}

Test(cli, status_json_has_the_contract_shape)
{
	struct cairn_client_node_status st[2];
	node(&st[0], 1, true, "leader", 3, 1);
	node(&st[1], 2, true, "follower", 3, 1);
	cr_assert_str_eq(
		status_json(st, 2),
		"{\"leader\": 1, \"nodes\": ["
		"{\"id\": 1, \"peer\": \"127.0.0.1:7001\", \"client\": \"127.0.0.1:8001\", "
		"\"reachable\": true, \"role\": \"leader\", \"term\": 3, \"leader\": 1, "
		"\"commit_index\": 120, \"applied_index\": 119, \"last_log_index\": 121}, "
		"{\"id\": 2, \"peer\": \"127.0.0.1:7002\", \"client\": \"127.0.0.1:8002\", "
		"\"reachable\": true, \"role\": \"follower\", \"term\": 3, \"leader\": 1, "
		"\"commit_index\": 120, \"applied_index\": 119, \"last_log_index\": 121}]}");
}

Test(cli, status_json_reports_unreachable_members_with_nulls)
{
	struct cairn_client_node_status st[1];
	node(&st[0], 3, false, NULL, 0, 0);
	cr_assert_str_eq(
		status_json(st, 1),
		"{\"leader\": null, \"nodes\": ["
		"{\"id\": 3, \"peer\": \"127.0.0.1:7003\", \"client\": \"127.0.0.1:8003\", "
		"\"reachable\": false, \"role\": null, \"term\": null, \"leader\": null, "
		"\"commit_index\": null, \"applied_index\": null, "
		"\"last_log_index\": null}]}");
}

Test(cli, status_json_leader_is_null_while_none_is_known)
{
	struct cairn_client_node_status st[2];
	node(&st[0], 1, true, "candidate", 4, 0);
	node(&st[1], 2, true, "follower", 4, 0);
	cr_assert(strncmp(status_json(st, 2), "{\"leader\": null, ", 17) == 0);
	cr_assert_not_null(strstr(status_json(st, 2), "\"term\": 4, \"leader\": null, "));
}

Test(cli, status_leader_prefers_a_self_reported_leader_of_the_highest_term)
{
	struct cairn_client_node_status st[3];
	node(&st[0], 1, true, "leader", 3, 1); /* stale leader, cut off */
	node(&st[1], 2, true, "leader", 4, 2);
	node(&st[2], 3, true, "follower", 4, 2);
	cr_assert_eq(cairn_client_status_leader(st, 3), 2);
}

Test(cli, status_leader_falls_back_to_what_followers_report)
{
	struct cairn_client_node_status st[3];
	node(&st[0], 1, false, NULL, 0, 0);
	node(&st[1], 2, true, "follower", 4, 1);
	node(&st[2], 3, true, "follower", 4, 1);
	cr_assert_eq(cairn_client_status_leader(st, 3), 1);
	node(&st[1], 2, true, "follower", 5, 0);
	node(&st[2], 3, true, "candidate", 5, 0);
	cr_assert_eq(cairn_client_status_leader(st, 3), 0);
}

Test(cli, status_table_has_a_header_and_a_row_per_member)
{
	struct cairn_client_node_status st[2];
	node(&st[0], 1, true, "leader", 3, 1);
	node(&st[1], 2, false, NULL, 0, 0);
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	cr_assert_eq(cairn_cli_status_table(&b, st, 2), 0);
	cr_assert_eq(cairn_buf_append_u8(&b, 0), 0);
	const char *t = (const char *)b.data;
	cr_assert(strncmp(t, "leader: 1\nID ", 13) == 0);
	cr_assert_not_null(strstr(t, "unreachable"));
	cr_assert_not_null(strstr(t, "127.0.0.1:8002"));
	cr_assert_not_null(strstr(t, " LASTLOG FIRSTLOG\n"));
	cr_assert_not_null(strstr(t, "      121      101\n"), "%s", t);
	size_t lines = 0;
	for (const char *p = t; *p != '\0'; p++)
		lines += *p == '\n';
	cr_assert_eq(lines, 4);
	cairn_buf_free(&b);
}

static int parse_line(struct cairn_cli_args *a, const char *text, char *err)
{
	static char line[256];
	snprintf(line, sizeof(line), "%s", text);
	memset(a, 0, sizeof(*a));
	return cairn_cli_parse_line(line, a, err, 256);
}

Test(cli, batch_is_a_command)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(PARSE(&a, err, "cairn", "--timeout", "100", "batch"), 0);
	cr_assert_eq(a.command, CAIRN_CLI_BATCH);
	cr_assert_eq(PARSE(&a, err, "cairn", "batch", "x"), CAIRN_EINVAL);
}

Test(cli, batch_put_value_is_the_rest_of_the_line)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(parse_line(&a, "put k hello  world", err), 0);
	cr_assert_eq(a.command, CAIRN_CLI_PUT);
	cr_assert_str_eq(a.key, "k");
	cr_assert_str_eq(a.value, "hello  world");
	cr_assert_eq(parse_line(&a, "put k ", err), 0);
	cr_assert_str_eq(a.value, "");
}

Test(cli, batch_lines_parse_get_del_and_cas)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(parse_line(&a, "get k", err), 0);
	cr_assert_eq(a.command, CAIRN_CLI_GET);
	cr_assert_str_eq(a.key, "k");
	cr_assert_eq(parse_line(&a, "del k", err), 0);
	cr_assert_eq(a.command, CAIRN_CLI_DEL);
	cr_assert_eq(parse_line(&a, "cas k old new value", err), 0);
	cr_assert_eq(a.command, CAIRN_CLI_CAS);
	cr_assert_str_eq(a.expected, "old");
	cr_assert_str_eq(a.value, "new value");
}

Test(cli, batch_lines_with_wrong_shapes_are_refused)
{
	struct cairn_cli_args a;
	char err[256];
	cr_assert_eq(parse_line(&a, "", err), CAIRN_EINVAL);
	cr_assert_eq(parse_line(&a, "status", err), CAIRN_EINVAL);
	cr_assert_eq(parse_line(&a, "get", err), CAIRN_EINVAL);
	cr_assert_str_eq(err, "missing argument: expected get KEY");
	cr_assert_eq(parse_line(&a, "get a b", err), CAIRN_EINVAL);
	cr_assert_eq(parse_line(&a, "put k", err), CAIRN_EINVAL);
	cr_assert_eq(parse_line(&a, "cas k old", err), CAIRN_EINVAL);
}
