/*
 * main.c - cairnd, one member of a cairn cluster (CONTRACT.md).
 *
 *   cairnd --config FILE --id N [--data-dir DIR]      (short: -c FILE -i N)
 *
 * Parses the command line and runs the node (server/node.h) in the
 * foreground until SIGTERM or SIGINT. A usage error, a bad config, an
 * unknown id, a port in use or an unusable data dir: one line on stderr and
 * exit status 2, with nothing in the data dir changed.
 */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cairn/limits.h"
#include "util/log.h"
#ifndef CAIRN_SERVER_INCOMPLETE
#include "server/node.h"
#endif

#define EXIT_USAGE 2

struct options {
	const char *config_path;
	const char *data_dir; /* NULL: the member's data_dir from the config */
	uint64_t id;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: cairnd --config FILE --id N [--data-dir DIR]\n"
		     "       cairnd -c FILE -i N [--data-dir DIR]\n"
		     "Runs one member of the cluster described by FILE.\n");
}

/* A positive decimal id, 1..CAIRN_NODE_ID_MAX. */
static int parse_id(const char *text, uint64_t *out)
{
	uint64_t value = 0;

	if (text[0] == '\0' || text[0] == '0')
		return -1;
	for (const char *c = text; *c != '\0'; c++) {
		if (*c < '0' || *c > '9')
			return -1;
		if (value <= CAIRN_NODE_ID_MAX)
			value = value * 10 + (uint64_t)(*c - '0');
	}
	if (value > CAIRN_NODE_ID_MAX)
		return -1;
	*out = value;
	return 0;
}

/* Returns 0, 1 when --help was printed, or -1 after one line on stderr. */
static int parse_args(int argc, char **argv, struct options *opts)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"id", required_argument, NULL, 'i'},
		{"data-dir", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:i:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts->config_path = optarg;
			break;
		case 'i':
			if (parse_id(optarg, &opts->id) != 0) {
				fprintf(stderr, "cairnd: --id: '%s' is not a node id (1..%u)\n",
					optarg, CAIRN_NODE_ID_MAX);
				return -1;
			}
			break;
		case 'd':
			if (optarg[0] == '\0' || strlen(optarg) >= PATH_MAX) {
				fprintf(stderr, "cairnd: --data-dir: empty or too long\n");
				return -1;
			}
			opts->data_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case ':':
			fprintf(stderr, "cairnd: option %s needs a value\n", argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "cairnd: unknown option %s (try --help)\n",
				argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cairnd: unexpected argument '%s' (try --help)\n", argv[optind]);
		return -1;
	}
	if (opts->config_path == NULL || opts->id == 0) {
		fprintf(stderr, "cairnd: missing %s (try --help)\n",
			opts->config_path == NULL ? "--config FILE" : "--id N");
		return -1;
	}
	return 0;
}

/* Up to CAIRN_CLIENT_CONNS_MAX clients plus peers need descriptors; take
 * the hard limit rather than the (often 1024) soft one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct options opts = {0};
	int rc = parse_args(argc, argv, &opts);
	if (rc != 0)
		return rc > 0 ? EXIT_SUCCESS : EXIT_USAGE;
	/* A peer that vanishes mid-write must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	const char *level = getenv("CAIRN_LOG_LEVEL");
	enum cairn_log_level lv;
	if (level != NULL && cairn_log_parse_level(level, &lv) == 0)
		cairn_log_set_level(lv);
#ifdef CAIRN_SERVER_INCOMPLETE
	fprintf(stderr, "cairnd: built without the raft, storage or kv module\n");
	return EXIT_USAGE;
#else
	return cairn_node_run(opts.config_path, opts.id, opts.data_dir);
#endif
}
