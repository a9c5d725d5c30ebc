/*
 * main.c - the command line of cairn-sim.
 *
 *   cairn-sim --seeds N --start S [--members 3|5] [--verbose]
 *   cairn-sim --self-test
 *
 * Runs seeds S .. S+N-1. With --members every seed runs a cluster of that
 * size; without it seeds alternate: odd seeds run 3 members, even seeds 5.
 * A run is a pure function of (seed, members), so a failing seed prints the
 * exact command that replays it. --verbose prints the trace of every run
 * (tick, member, event). --self-test proves the harness itself: replays are
 * identical, and violations injected on purpose are caught. Exit status: 0
 * when every seed passes, 1 when one fails, 2 for a bad command line.
 */
#include "sim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <dlfcn.h>
#include <sanitizer/common_interface_defs.h>
#define SIM_HAVE_SANITIZER 1
#endif

/* Written before each seed so that a crash inside the core (an assert, a
 * sanitizer report) still names the seed that caused it. */
static char crash_note[512];
static size_t crash_note_len;

static void crash_report(void)
{
	fflush(stdout); /* not async-signal-safe, but the trace is what matters */
	if (crash_note_len > 0) {
		ssize_t w = write(STDERR_FILENO, crash_note, crash_note_len);
		(void)w;
	}
}

static void on_fatal_signal(int sig)
{
	crash_report();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void crash_note_set(const char *prog, uint64_t seed, uint32_t n)
{
	int len = snprintf(crash_note, sizeof(crash_note),
			   "\ncairn-sim: seed %llu (members %u) crashed the simulator\n"
			   "  replay: %s --seeds 1 --start %llu --members %u --verbose\n",
			   (unsigned long long)seed, n, prog, (unsigned long long)seed, n);
	crash_note_len = len > 0 ? (size_t)len : 0;
}

static void crash_handlers_install(void)
{
	signal(SIGABRT, on_fatal_signal);
	signal(SIGSEGV, on_fatal_signal);
	signal(SIGBUS, on_fatal_signal);
	signal(SIGFPE, on_fatal_signal);
#ifdef SIM_HAVE_SANITIZER
	__sanitizer_set_death_callback(crash_report);
	/* GCC links UBSan as its own runtime with its own copy of the death
	 * callback; reach that one too, so a UBSan report names the seed. */
	void *ubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
	if (ubsan != NULL) {
		void (*set_cb)(void (*)(void));
		void *sym = dlsym(ubsan, "__sanitizer_set_death_callback");
		if (sym != NULL) {
			memcpy(&set_cb, &sym, sizeof(set_cb));
			set_cb(crash_report);
		}
	}
#endif
}

static double wall_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: cairn-sim --seeds N --start S [--members 3|5] [--verbose]\n"
		   "       cairn-sim --self-test\n"
		   "Without --members, odd seeds run 3 members and even seeds 5.\n"
		   "--inject K (1..5) replays a seed with the self-test's injected fault K.\n");
}

struct opts {
	uint64_t seeds;
	uint64_t start;
	uint32_t members; /* 0: alternate by seed */
	bool verbose;
	bool self_test;
	enum sim_inject inject; /* --inject: replay a self-test injection */
};

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (s == NULL || *s == '\0' || *s == '-')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	bool have_seeds = false, have_start = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t v;
		if (strcmp(a, "--verbose") == 0) {
			o->verbose = true;
		} else if (strcmp(a, "--self-test") == 0) {
			o->self_test = true;
		} else if (strcmp(a, "--inject") == 0 && i + 1 < argc &&
			   parse_u64(argv[++i], &v) == 0 && v <= SIM_INJECT_SNAPSHOT) {
			o->inject = (enum sim_inject)v;
		} else if (strcmp(a, "--seeds") == 0 && i + 1 < argc &&
			   parse_u64(argv[++i], &o->seeds) == 0 && o->seeds > 0) {
			have_seeds = true;
		} else if (strcmp(a, "--start") == 0 && i + 1 < argc &&
			   parse_u64(argv[++i], &o->start) == 0) {
			have_start = true;
		} else if (strcmp(a, "--members") == 0 && i + 1 < argc &&
			   parse_u64(argv[++i], &v) == 0 && (v == 3 || v == 5)) {
			o->members = (uint32_t)v;
		} else {
			return -1;
		}
	}
	if (o->self_test)
		return 0;
	return have_seeds && have_start ? 0 : -1;
}

static uint32_t members_for(const struct opts *o, uint64_t seed)
{
	if (o->members != 0)
		return o->members;
	return seed % 2 ? 3 : 5;
}

static int run_seeds(const char *prog, const struct opts *o)
{
	uint64_t failed = 0, virtual_ms = 0, committed = 0, elections = 0, crashes = 0, reads = 0;
	uint64_t snapshots = 0, installs = 0;
	double t0 = wall_seconds();
	clock_t cpu0 = clock();
	for (uint64_t k = 0; k < o->seeds; k++) {
		uint64_t seed = o->start + k;
		uint32_t n = members_for(o, seed);
		struct sim_result res;
		crash_note_set(prog, seed, n);
		sim_run(seed, n, o->verbose, o->inject, &res);
		virtual_ms += res.virtual_ms;
		committed += res.committed;
		elections += res.elections;
		crashes += res.crashes;
		reads += res.reads;
		snapshots += res.snapshots;
		installs += res.installs;
		if (res.passed)
			continue;
		failed++;
		char inject[32] = "";
		if (o->inject != SIM_INJECT_NONE)
			snprintf(inject, sizeof(inject), " --inject %d", (int)o->inject);
		printf("FAIL seed %llu (members %u): %s\n"
		       "  replay: %s --seeds 1 --start %llu --members %u%s --verbose\n",
		       (unsigned long long)seed, n, res.why, prog, (unsigned long long)seed, n,
		       inject);
		fflush(stdout);
	}
	crash_note_len = 0;
	double wall = wall_seconds() - t0;
	double cpu = (double)(clock() - cpu0) / CLOCKS_PER_SEC;
	double cluster_s = (double)virtual_ms / 1000.0;
	printf("cairn-sim: %llu seeds from %llu (members %s): %llu passed, %llu failed\n",
	       (unsigned long long)o->seeds, (unsigned long long)o->start,
	       o->members == 3   ? "3"
	       : o->members == 5 ? "5"
				 : "3 odd / 5 even",
	       (unsigned long long)(o->seeds - failed), (unsigned long long)failed);
	printf("cairn-sim: %llu entries committed, %llu leaders elected, %llu crashes, "
	       "%llu reads answered\n",
	       (unsigned long long)committed, (unsigned long long)elections,
	       (unsigned long long)crashes, (unsigned long long)reads);
	printf("cairn-sim: %llu snapshots sent, %llu installed\n", (unsigned long long)snapshots,
	       (unsigned long long)installs);
	printf("cairn-sim: %.1f simulated cluster-seconds in %.2f wall seconds: "
	       "%.0f cluster-seconds per wall second (%.0f per CPU second)\n",
	       cluster_s, wall, wall > 0 ? cluster_s / wall : 0.0, cpu > 0 ? cluster_s / cpu : 0.0);
	return failed ? 1 : 0;
}

/* The same seed twice must give the same trace, bit for bit. */
static int self_test_replay(void)
{
	int bad = 0;
	for (uint64_t seed = 1; seed <= 8; seed++) {
		for (uint32_t n = 3; n <= 5; n += 2) {
			struct sim_result a, b;
			sim_run(seed, n, false, SIM_INJECT_NONE, &a);
			sim_run(seed, n, false, SIM_INJECT_NONE, &b);
			if (a.trace_hash != b.trace_hash || a.virtual_ms != b.virtual_ms ||
			    a.passed != b.passed) {
				printf("self-test: seed %llu members %u does not replay: "
				       "%016llx vs %016llx\n",
				       (unsigned long long)seed, n,
				       (unsigned long long)a.trace_hash,
				       (unsigned long long)b.trace_hash);
				bad = 1;
			}
		}
	}
	/* And different seeds must give different runs. */
	struct sim_result a, b;
	sim_run(1, 3, false, SIM_INJECT_NONE, &a);
	sim_run(2, 3, false, SIM_INJECT_NONE, &b);
	if (a.trace_hash == b.trace_hash) {
		printf("self-test: seeds 1 and 2 gave the same trace\n");
		bad = 1;
	}
	printf("self-test: replay %s\n", bad ? "FAILED" : "identical for 16 runs");
	return bad;
}

/* A violation injected on purpose must be reported as the property it
 * breaks, within a few seeds. */
static int self_test_inject(enum sim_inject inject, const char *name, const char *property)
{
	uint32_t others = 0;
	for (uint64_t seed = 1; seed <= 400; seed++) {
		struct sim_result res;
		sim_run(seed, seed % 2 ? 3 : 5, false, inject, &res);
		if (res.passed)
			continue;
		if (strncmp(res.why, property, strlen(property)) == 0) {
			printf("self-test: %s caught at seed %llu: %s\n", name,
			       (unsigned long long)seed, res.why);
			return 0;
		}
		/* A broken world may first break something else (a lying
		 * disk can stall replication); keep looking. */
		if (others++ < 3)
			printf("self-test: %s first showed as another failure at seed %llu: %s\n",
			       name, (unsigned long long)seed, res.why);
	}
	printf("self-test: %s was never caught\n", name);
	return 1;
}

static int self_test(void)
{
	int bad = self_test_replay();
	bad |= self_test_inject(SIM_INJECT_APPLIED, "a corrupted applied sequence",
				"state-machine safety");
	bad |= self_test_inject(SIM_INJECT_DISK_LOSS, "a disk that loses fsynced entries",
				"committed entry lost");
	bad |= self_test_inject(SIM_INJECT_STALE_READ, "a read answered one index low",
				"linearizable read");
	bad |= self_test_inject(SIM_INJECT_EARLY_SEND, "votes and acks sent before the write",
				"persist before you speak");
	bad |= self_test_inject(SIM_INJECT_SNAPSHOT, "a snapshot of a state never applied",
				"state-machine safety");
	printf("self-test: %s\n", bad ? "FAILED" : "passed");
	return bad;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	crash_handlers_install();
	int rc = o.self_test ? self_test() : run_seeds(argv[0], &o);
	sim_shutdown();
	fflush(stdout);
	return rc;
}
