/*
 * cli.h - the parts of the `cairn` CLI (tools/cairn.c) that need no server:
 * parsing the command line, and printing `status` as JSON and as a table.
 * They live in the library so unit tests can pin them down.
 */
#ifndef CAIRN_CLIENT_CLI_H
#define CAIRN_CLIENT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/client.h"
#include "util/buf.h"

enum cairn_cli_command {
	CAIRN_CLI_GET,
	CAIRN_CLI_PUT,
	CAIRN_CLI_DEL,
	CAIRN_CLI_CAS,
	CAIRN_CLI_STATUS,
	CAIRN_CLI_BATCH, /* commands from stdin, one per line */
	CAIRN_CLI_HELP,
};

/* A parsed command line. Strings point into argv. */
struct cairn_cli_args {
	enum cairn_cli_command command;
	const char *config_path; /* NULL: $CAIRN_CONFIG, else config/cluster.ini */
	uint32_t timeout_ms;
	bool json;            /* status --json */
	const char *key;      /* get, put, del, cas */
	const char *value;    /* put: the value ("-": read stdin); cas: the new value */
	const char *expected; /* cas */
};

/* The usage text, one command per line. */
extern const char cairn_cli_usage[];

/* Parse argv[1..argc). Global options come before the command:
 * -c/--config FILE, -t/--timeout MS (1..86400000), -h/--help, and "--"
 * ending them; `status` takes --json. Returns 0, or CAIRN_EINVAL with a
 * one-line reason in err (size errsz). */
int cairn_cli_parse(int argc, char *const argv[], struct cairn_cli_args *args, char *err,
		    size_t errsz);

/* Parse one line of `cairn batch` input (no newline; changed in place,
 * the strings in args point into it): "get KEY", "del KEY", "put KEY VALUE"
 * (VALUE is the rest of the line, spaces and all, possibly empty) or
 * "cas KEY EXPECTED NEW" (NEW is the rest of the line). Only command,
 * key, value and expected of args are set. Returns 0 or CAIRN_EINVAL with a
 * reason in err. */
int cairn_cli_parse_line(char *line, struct cairn_cli_args *args, char *err, size_t errsz);

/* The config path to use: the -c value, else $CAIRN_CONFIG if set and
 * non-empty (env_config, may be NULL), else "config/cluster.ini". */
const char *cairn_cli_config_path(const struct cairn_cli_args *args, const char *env_config);

/* Append JSON text for s (quotes included), escaping as RFC 8259 says. */
int cairn_cli_json_string(struct cairn_buf *out, const char *s);

/* Append the contract's one-line `status --json` object (no newline). */
int cairn_cli_status_json(struct cairn_buf *out, const struct cairn_client_node_status *st,
			  size_t n);

/* Append the human-readable status table (several lines, each ending in a
 * newline). */
int cairn_cli_status_table(struct cairn_buf *out, const struct cairn_client_node_status *st,
			   size_t n);

#endif
