/*
 * cairn.c - the `cairn` command-line client (build/cairn).
 *
 *   cairn [-c FILE] [--timeout MS] get KEY | put KEY VALUE | del KEY
 *                                  | cas KEY EXPECTED NEW | status [--json] | batch
 *
 * It loads the cluster file, runs one command through the client library
 * within the timeout and exits with the contract's status: 0 done, 1 not
 * found, 2 bad input, 3 unavailable, 4 outcome unknown, 5 cas mismatch.
 * Messages go to stderr; only a get's value and status go to stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn/client.h"
#include "cairn/errors.h"
#include "cairn/limits.h"
#include "client/cli.h"
#include "config/config.h"
#include "util/buf.h"

/* Read all of stdin, refusing more than the value limit. Returns 0, or
 * CAIRN_ETOOBIG / CAIRN_EIO / CAIRN_ENOMEM. */
static int read_stdin(struct cairn_buf *b)
{
	for (;;) {
		if (cairn_buf_reserve(b, 65536) != 0)
			return b->len > CAIRN_VALUE_BYTES_MAX ? CAIRN_ETOOBIG : CAIRN_ENOMEM;
		ssize_t n = read(STDIN_FILENO, b->data + b->len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return CAIRN_EIO;
		if (n == 0)
			break;
		b->len += (size_t)n;
		if (b->len > CAIRN_VALUE_BYTES_MAX)
			return CAIRN_ETOOBIG;
	}
	return 0;
}

static int run_status(struct cairn_client *c, const struct cairn_cli_args *args)
{
	struct cairn_client_node_status st[CAIRN_MEMBERS_MAX];
	struct cairn_buf out;
	cairn_buf_init(&out, 0);
	int rv = cairn_client_status(c, args->timeout_ms, st);
	if (rv == 0 && args->json) {
		rv = cairn_cli_status_json(&out, st, c->members_n);
		if (rv == 0)
			rv = cairn_buf_append_u8(&out, '\n');
	} else if (rv == 0) {
		rv = cairn_cli_status_table(&out, st, c->members_n);
	}
	if (rv == 0 && fwrite(out.data, 1, out.len, stdout) != out.len)
		rv = CAIRN_EIO;
	cairn_buf_free(&out);
	if (rv != 0) {
		fprintf(stderr, "cairn: status: %s\n", cairn_strerror(rv));
		return CAIRN_CLIENT_UNAVAILABLE;
	}
	/* Status is a report: it succeeds if it could be made at all, even
	 * with members down; a cluster with nobody reachable is unavailable. */
	for (size_t i = 0; i < c->members_n; i++) {
		if (st[i].reachable)
			return CAIRN_CLIENT_DONE;
	}
	fprintf(stderr, "cairn: status: no member reachable\n");
	return CAIRN_CLIENT_UNAVAILABLE;
}

/* Run one get/put/del/cas of args with the given value bytes. */
static void execute(struct cairn_client *c, const struct cairn_cli_args *args, const void *value,
		    size_t value_bytes, struct cairn_client_result *res)
{
	uint32_t t = args->timeout_ms;
	const char *key = args->key;
	size_t kb = strlen(key);
	switch (args->command) {
	case CAIRN_CLI_GET:
		cairn_client_get(c, key, kb, t, res);
		break;
	case CAIRN_CLI_PUT:
		cairn_client_put(c, key, kb, value, value_bytes, t, res);
		break;
	case CAIRN_CLI_DEL:
		cairn_client_del(c, key, kb, t, res);
		break;
	default:
		cairn_client_cas(c, key, kb, args->expected, strlen(args->expected), value,
				 value_bytes, t, res);
		break;
	}
}

static void report(const struct cairn_client_result *res)
{
	if (res->outcome != CAIRN_CLIENT_DONE)
		fprintf(stderr, "cairn: %s: %s\n", cairn_client_outcome_name(res->outcome),
			res->message);
}

static int run_command(struct cairn_client *c, const struct cairn_cli_args *args)
{
	struct cairn_client_result res;
	struct cairn_buf input;
	cairn_buf_init(&input, CAIRN_VALUE_BYTES_MAX + 65536u + 1u);
	const void *value = args->value;
	size_t value_bytes = args->value != NULL ? strlen(args->value) : 0;
	if (args->command == CAIRN_CLI_PUT && strcmp(args->value, "-") == 0) {
		int rv = read_stdin(&input);
		if (rv != 0) {
			fprintf(stderr, "cairn: put: reading the value from stdin: %s\n",
				rv == CAIRN_ETOOBIG ? "value is larger than 1 MiB"
						    : cairn_strerror(rv));
			cairn_buf_free(&input);
			return CAIRN_CLIENT_BAD_INPUT;
		}
		value = input.data != NULL ? (const void *)input.data : (const void *)"";
		value_bytes = input.len;
	}
	execute(c, args, value, value_bytes, &res);
	cairn_buf_free(&input);
	if (res.outcome == CAIRN_CLIENT_DONE && args->command == CAIRN_CLI_GET) {
		if (fwrite(res.value, 1, res.value_bytes, stdout) != res.value_bytes ||
		    fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
			fprintf(stderr, "cairn: get: writing the value: %s\n", strerror(errno));
			return CAIRN_CLIENT_UNAVAILABLE;
		}
	}
	report(&res);
	return (int)res.outcome;
}

/* `cairn batch`: one command per stdin line, each with the whole timeout,
 * over one client (one connection). Prints "CODE" per line, "0 VALUE" for a
 * get that found its key. Exits with the first non-zero code, else 0. */
static int run_batch(struct cairn_client *c, const struct cairn_cli_args *batch)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int first_failure = 0;
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		struct cairn_cli_args args = *batch;
		struct cairn_client_result res;
		char err[256];
		if (cairn_cli_parse_line(line, &args, err, sizeof(err)) != 0) {
			fprintf(stderr, "cairn: batch: %s\n", err);
			res.outcome = CAIRN_CLIENT_BAD_INPUT;
		} else {
			execute(c, &args, args.value, args.value ? strlen(args.value) : 0, &res);
			report(&res);
		}
		printf("%d", (int)res.outcome);
		if (res.outcome == CAIRN_CLIENT_DONE && args.command == CAIRN_CLI_GET) {
			putchar(' ');
			fwrite(res.value, 1, res.value_bytes, stdout);
		}
		putchar('\n');
		fflush(stdout);
		if (first_failure == 0)
			first_failure = (int)res.outcome;
	}
	free(line);
	return first_failure;
}

int main(int argc, char **argv)
{
	struct cairn_cli_args args;
	char err[256];
	if (cairn_cli_parse(argc, argv, &args, err, sizeof(err)) != 0) {
		fprintf(stderr, "cairn: %s\n%s", err, cairn_cli_usage);
		return CAIRN_CLIENT_BAD_INPUT;
	}
	if (args.command == CAIRN_CLI_HELP) {
		fputs(cairn_cli_usage, stdout);
		return 0;
	}
	const char *path = cairn_cli_config_path(&args, getenv("CAIRN_CONFIG"));
	struct cairn_config cfg;
	char cfg_err[512];
	if (cairn_config_load(path, &cfg, cfg_err, sizeof(cfg_err)) != 0) {
		fprintf(stderr, "cairn: %s\n", cfg_err);
		return CAIRN_CLIENT_BAD_INPUT;
	}
	struct cairn_client c;
	int rv = cairn_client_init_config(&c, &cfg);
	cairn_config_free(&cfg);
	if (rv != 0) {
		fprintf(stderr, "cairn: %s: %s\n", path, cairn_strerror(rv));
		return CAIRN_CLIENT_BAD_INPUT;
	}
	int code;
	if (args.command == CAIRN_CLI_STATUS)
		code = run_status(&c, &args);
	else if (args.command == CAIRN_CLI_BATCH)
		code = run_batch(&c, &args);
	else
		code = run_command(&c, &args);
	cairn_client_close(&c);
	return code;
}
