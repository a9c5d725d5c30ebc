/*
 * main.c - cairnd's entry point (placeholder until the server issue).
 *
 * Parses the command line of the contract, loads the cluster file and
 * checks that the member id is in it. Every error is one line on stderr
 * and exit status 2. The server itself does not exist yet, so after saying
 * what it would start it logs that and exits 2 too, touching no data dir.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/limits.h"
#include "config/config.h"
#include "util/log.h"

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "unknown"
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

int main(int argc, char **argv)
{
	struct options opts = {0};
	static struct cairn_config config;
	const struct cairn_node_config *self;
	char err[512];
	int rc = parse_args(argc, argv, &opts);

	if (rc != 0)
		return rc > 0 ? EXIT_SUCCESS : EXIT_USAGE;
	if (cairn_config_load(opts.config_path, &config, err, sizeof(err)) != 0) {
		fprintf(stderr, "cairnd: %s\n", err);
		return EXIT_USAGE;
	}
	self = cairn_config_node(&config, opts.id);
	if (self == NULL) {
		fprintf(stderr, "cairnd: node id %llu is not a member in %s\n",
			(unsigned long long)opts.id, opts.config_path);
		cairn_config_free(&config);
		return EXIT_USAGE;
	}
	cairn_log_set_node(opts.id);
	CAIRN_INFO("cairnd %s starting: peer %s client %s data_dir %s", CAIRN_VERSION,
		   self->peer.text, self->client.text,
		   opts.data_dir != NULL ? opts.data_dir : self->data_dir);
	CAIRN_ERROR("server not implemented yet");
	cairn_config_free(&config);
	return EXIT_USAGE;
}
