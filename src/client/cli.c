/*
 * cli.c - command-line parsing and status printing for the `cairn` CLI.
 *
 * Options are global and come before the command, so that keys and values
 * after it may start with '-' freely ("cairn put k -1" stores "-1"). The
 * JSON printer writes exactly the shape of the contract: one line, the
 * members in config order, null for what an unreachable member could not
 * report.
 */
#include "client/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"

#define TIMEOUT_MS_MAX 86400000u

const char cairn_cli_usage[] =
	"usage: cairn [-c FILE] [--timeout MS] get KEY\n"
	"       cairn [-c FILE] [--timeout MS] put KEY VALUE    (VALUE '-' reads stdin)\n"
	"       cairn [-c FILE] [--timeout MS] del KEY\n"
	"       cairn [-c FILE] [--timeout MS] cas KEY EXPECTED NEW\n"
	"       cairn [-c FILE] [--timeout MS] status [--json]\n"
	"       cairn [-c FILE] [--timeout MS] batch   (commands from stdin, one per line:\n"
	"             'get KEY', 'put KEY VALUE', 'del KEY', 'cas KEY EXPECTED NEW';\n"
	"             prints each one's exit code, and a found value after it)\n"
	"options: -c, --config FILE  cluster file (default $CAIRN_CONFIG, else "
	"config/cluster.ini)\n"
	"         -t, --timeout MS   the whole command's time limit (default 5000)\n"
	"exit: 0 done, 1 not found, 2 bad input, 3 unavailable, 4 outcome unknown,\n"
	"      5 cas: value differs\n";

static int parse_timeout(const char *s, uint32_t *out)
{
	if (s[0] == '\0')
		return CAIRN_EINVAL;
	uint64_t v = 0;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return CAIRN_EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > TIMEOUT_MS_MAX)
			return CAIRN_EINVAL;
	}
	if (v == 0)
		return CAIRN_EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* An option that takes a value, as "-x V", "--long V" or "--long=V".
 * Returns 1 if argv[*i] is that option (value in *val, *i advanced past
 * it), 0 if not, CAIRN_EINVAL if its value is missing. */
static int option_value(int argc, char *const argv[], int *i, const char *short_name,
			const char *long_name, const char **val)
{
	const char *a = argv[*i];
	size_t long_len = strlen(long_name);
	if (strncmp(a, long_name, long_len) == 0 && a[long_len] == '=') {
		*val = a + long_len + 1;
		return 1;
	}
	if (strcmp(a, short_name) != 0 && strcmp(a, long_name) != 0)
		return 0;
	if (*i + 1 >= argc)
		return CAIRN_EINVAL;
	*i += 1;
	*val = argv[*i];
	return 1;
}

static int usage_error(char *err, size_t errsz, const char *fmt, const char *what)
{
	snprintf(err, errsz, fmt, what);
	return CAIRN_EINVAL;
}

/* Parse the global options; *i ends at the command. */
static int parse_options(int argc, char *const argv[], int *i, struct cairn_cli_args *args,
			 char *err, size_t errsz)
{
	for (; *i < argc; (*i)++) {
		const char *a = argv[*i];
		const char *val = NULL;
		if (strcmp(a, "--") == 0) {
			(*i)++;
			return 0;
		}
		if (a[0] != '-' || a[1] == '\0')
			return 0;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			args->command = CAIRN_CLI_HELP;
			return 0;
		}
		int rv = option_value(argc, argv, i, "-c", "--config", &val);
		if (rv == 1) {
			if (val[0] == '\0')
				return usage_error(err, errsz, "%s: empty config file name", a);
			args->config_path = val;
			continue;
		}
		if (rv == 0)
			rv = option_value(argc, argv, i, "-t", "--timeout", &val);
		if (rv == 1) {
			if (parse_timeout(val, &args->timeout_ms) != 0)
				return usage_error(err, errsz,
						   "bad timeout '%s': milliseconds, 1 to 86400000",
						   val);
			continue;
		}
		if (rv < 0)
			return usage_error(err, errsz, "option %s needs a value", a);
		return usage_error(err, errsz, "unknown option '%s'", a);
	}
	return 0;
}

struct command_shape {
	const char *name;
	enum cairn_cli_command command;
	int operands;
	const char *synopsis;
};

static const struct command_shape commands[] = {
	{"get", CAIRN_CLI_GET, 1, "get KEY"},
	{"put", CAIRN_CLI_PUT, 2, "put KEY VALUE"},
	{"del", CAIRN_CLI_DEL, 1, "del KEY"},
	{"cas", CAIRN_CLI_CAS, 3, "cas KEY EXPECTED NEW"},
	{"status", CAIRN_CLI_STATUS, 0, "status [--json]"},
	{"batch", CAIRN_CLI_BATCH, 0, "batch"},
};

/* Cut the next space-separated word off *rest; NULL if there is none. */
static char *word(char **rest)
{
	char *w = *rest;
	if (w == NULL || *w == '\0')
		return NULL;
	char *sp = strchr(w, ' ');
	if (sp == NULL) {
		*rest = NULL;
	} else {
		*sp = '\0';
		*rest = sp + 1;
	}
	return w;
}

int cairn_cli_parse_line(char *line, struct cairn_cli_args *args, char *err, size_t errsz)
{
	char *rest = line;
	char *name = word(&rest);
	const struct command_shape *shape = NULL;
	/* The first four commands, get put del cas, are the batch ones. */
	for (size_t k = 0; name != NULL && k < 4; k++) {
		if (strcmp(name, commands[k].name) == 0)
			shape = &commands[k];
	}
	if (shape == NULL)
		return usage_error(err, errsz, "unknown batch command '%s'", name ? name : "");
	args->command = shape->command;
	args->key = word(&rest);
	args->expected = NULL;
	args->value = NULL;
	if (shape->command == CAIRN_CLI_CAS)
		args->expected = word(&rest);
	if (shape->operands >= 2)
		args->value = rest;
	else if (rest != NULL && *rest != '\0')
		return usage_error(err, errsz, "too many arguments: expected %s", shape->synopsis);
	if (args->key == NULL || (shape->operands >= 2 && args->value == NULL) ||
	    (shape->operands == 3 && args->expected == NULL))
		return usage_error(err, errsz, "missing argument: expected %s", shape->synopsis);
	return 0;
}

int cairn_cli_parse(int argc, char *const argv[], struct cairn_cli_args *args, char *err,
		    size_t errsz)
{
	memset(args, 0, sizeof(*args));
	args->timeout_ms = CAIRN_CLIENT_TIMEOUT_MS_DEFAULT;
	err[0] = '\0';
	int i = 1;
	int rv = parse_options(argc, argv, &i, args, err, errsz);
	if (rv != 0 || args->command == CAIRN_CLI_HELP)
		return rv;
	if (i >= argc)
		return usage_error(err, errsz, "%s", "no command given");
	const char *name = argv[i++];
	const struct command_shape *shape = NULL;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(name, commands[k].name) == 0)
			shape = &commands[k];
	}
	if (shape == NULL)
		return usage_error(err, errsz, "unknown command '%s'", name);
	args->command = shape->command;
	int left = argc - i;
	if (shape->command == CAIRN_CLI_STATUS && left == 1 && strcmp(argv[i], "--json") == 0) {
		args->json = true;
		return 0;
	}
	if (left != shape->operands) {
		snprintf(err, errsz, "%s: expected %s",
			 left < shape->operands ? "missing argument" : "too many arguments",
			 shape->synopsis);
		return CAIRN_EINVAL;
	}
	if (shape->operands >= 1)
		args->key = argv[i];
	if (shape->command == CAIRN_CLI_PUT)
		args->value = argv[i + 1];
	if (shape->command == CAIRN_CLI_CAS) {
		args->expected = argv[i + 1];
		args->value = argv[i + 2];
	}
	return 0;
}

const char *cairn_cli_config_path(const struct cairn_cli_args *args, const char *env_config)
{
	if (args->config_path != NULL)
		return args->config_path;
	if (env_config != NULL && env_config[0] != '\0')
		return env_config;
	return "config/cluster.ini";
}

static int append_str(struct cairn_buf *out, const char *s)
{
	return cairn_buf_append(out, s, strlen(s));
}

static int append_fmt_u64(struct cairn_buf *out, const char *name, uint64_t v, bool null)
{
	char tmp[64];
	if (null)
		snprintf(tmp, sizeof(tmp), ", \"%s\": null", name);
	else
		snprintf(tmp, sizeof(tmp), ", \"%s\": %" PRIu64, name, v);
	return append_str(out, tmp);
}

int cairn_cli_json_string(struct cairn_buf *out, const char *s)
{
	int rv = cairn_buf_append_u8(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; rv == 0 && *p != '\0'; p++) {
		char esc[8];
		switch (*p) {
		case '"':
			rv = append_str(out, "\\\"");
			break;
		case '\\':
			rv = append_str(out, "\\\\");
			break;
		case '\n':
			rv = append_str(out, "\\n");
			break;
		case '\r':
			rv = append_str(out, "\\r");
			break;
		case '\t':
			rv = append_str(out, "\\t");
			break;
		default:
			if (*p < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)*p);
				rv = append_str(out, esc);
			} else {
				rv = cairn_buf_append_u8(out, *p);
			}
		}
	}
	if (rv == 0)
		rv = cairn_buf_append_u8(out, '"');
	return rv;
}

static int node_json(struct cairn_buf *out, const struct cairn_client_node_status *s)
{
	char tmp[64];
	bool off = !s->reachable;
	snprintf(tmp, sizeof(tmp), "{\"id\": %" PRIu64 ", \"peer\": ", s->id);
	int rv = append_str(out, tmp);
	if (rv == 0)
		rv = s->peer[0] != '\0' ? cairn_cli_json_string(out, s->peer)
					: append_str(out, "null");
	if (rv == 0)
		rv = append_str(out, ", \"client\": ");
	if (rv == 0)
		rv = cairn_cli_json_string(out, s->client);
	if (rv == 0)
		rv = append_str(out, off ? ", \"reachable\": false, \"role\": "
					 : ", \"reachable\": true, \"role\": ");
	if (rv == 0)
		rv = off ? append_str(out, "null") : cairn_cli_json_string(out, s->role);
	if (rv == 0)
		rv = append_fmt_u64(out, "term", s->term, off);
	if (rv == 0)
		rv = append_fmt_u64(out, "leader", s->leader, off || s->leader == 0);
	if (rv == 0)
		rv = append_fmt_u64(out, "commit_index", s->commit_index, off);
	if (rv == 0)
		rv = append_fmt_u64(out, "applied_index", s->applied_index, off);
	if (rv == 0)
		rv = append_fmt_u64(out, "last_log_index", s->last_log_index, off);

	if (rv == 0)
		rv = cairn_buf_append_u8(out, '}');
	return rv;
}

int cairn_cli_status_json(struct cairn_buf *out, const struct cairn_client_node_status *st,
			  size_t n)
{
	char tmp[64];
	uint64_t leader = cairn_client_status_leader(st, n);
	if (leader == 0)
		snprintf(tmp, sizeof(tmp), "{\"leader\": null, \"nodes\": [");
	else
		snprintf(tmp, sizeof(tmp), "{\"leader\": %" PRIu64 ", \"nodes\": [", leader);
	int rv = append_str(out, tmp);
	for (size_t i = 0; rv == 0 && i < n; i++) {
		if (i > 0)
			rv = append_str(out, ", ");
		if (rv == 0)
			rv = node_json(out, &st[i]);
	}
	if (rv == 0)
		rv = append_str(out, "]}");
	return rv;
}

static int table_row(struct cairn_buf *out, const struct cairn_client_node_status *s)
{
	char line[1024];
	char leader[24] = "-";
	if (!s->reachable) {
		snprintf(line, sizeof(line),
			 "%-4" PRIu64 " %-22s %-22s %-11s %6s %6s %8s %8s %8s %8s\n", s->id,
			 s->client, s->peer[0] != '\0' ? s->peer : "-", "unreachable", "-", "-",
			 "-", "-", "-", "-");
		return append_str(out, line);
	}
	if (s->leader != 0)
		snprintf(leader, sizeof(leader), "%" PRIu64, s->leader);
	snprintf(line, sizeof(line),
		 "%-4" PRIu64 " %-22s %-22s %-11s %6" PRIu64 " %6s %8" PRIu64 " %8" PRIu64
		 " %8" PRIu64 " %8" PRIu64 "\n",
		 s->id, s->client, s->peer[0] != '\0' ? s->peer : "-", s->role, s->term, leader,
		 s->commit_index, s->applied_index, s->last_log_index, s->first_log_index);
	return append_str(out, line);
}

int cairn_cli_status_table(struct cairn_buf *out, const struct cairn_client_node_status *st,
			   size_t n)
{
	char line[256];
	uint64_t leader = cairn_client_status_leader(st, n);
	if (leader == 0)
		snprintf(line, sizeof(line), "leader: none known\n");
	else
		snprintf(line, sizeof(line), "leader: %" PRIu64 "\n", leader);
	int rv = append_str(out, line);
	if (rv == 0)
		rv = append_str(out,
				"ID   CLIENT                 PEER                   ROLE          "
				"TERM LEADER   COMMIT  APPLIED  LASTLOG FIRSTLOG\n");
	for (size_t i = 0; rv == 0 && i < n; i++)
		rv = table_row(out, &st[i]);
	return rv;
}
