/*
 * config.c - loading the INI cluster file with inih, and validating it.
 *
 * inih splits "key = value" lines and strips comments, but its handler sees
 * no line numbers and no empty sections. So inih reads through our own line
 * reader (ini_parse_stream): it counts lines, refuses over-long lines and
 * control bytes, strips leading blanks (which turns off inih's multi-line
 * continuation) and handles every [section] header itself. The key handler
 * then checks each key against the current section. The first error wins
 * and stops the reading; its message names FILE:LINE and the key.
 */
#include <assert.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "config/config.h"

enum section_kind {
	SECTION_NONE = 0,
	SECTION_CLUSTER,
	SECTION_NODE,
};

enum key {
	KEY_HEARTBEAT_MS,
	KEY_ELECTION_TIMEOUT_MS,
	KEY_LOG_KEEP_ENTRIES,
	KEY_PEER,
	KEY_CLIENT,
	KEY_DATA_DIR,
	KEY_COUNT,
};

static const struct key_spec {
	const char *name;
	enum section_kind section;
} keys[KEY_COUNT] = {
	[KEY_HEARTBEAT_MS] = {"heartbeat_ms", SECTION_CLUSTER},
	[KEY_ELECTION_TIMEOUT_MS] = {"election_timeout_ms", SECTION_CLUSTER},
	[KEY_LOG_KEEP_ENTRIES] = {"log_keep_entries", SECTION_CLUSTER},
	[KEY_PEER] = {"peer", SECTION_NODE},
	[KEY_CLIENT] = {"client", SECTION_NODE},
	[KEY_DATA_DIR] = {"data_dir", SECTION_NODE},
};

struct parser {
	const char *path;
	FILE *file;
	struct cairn_config *config;
	char *err;
	size_t err_size;
	int lineno;    /* lines read so far; the one being handled */
	int failed_at; /* lineno when the first error was found, 0 while none */
	int rc;        /* its code */

	enum section_kind section;
	char section_name[32]; /* "cluster" or "node 7", for messages */
	int section_line;
	struct cairn_node_config *node; /* the current [node N], else NULL */
	int key_line[KEY_COUNT];        /* where each key of the section was set */
	int cluster_line;               /* the [cluster] header, 0 while none */
	int node_line[CAIRN_MEMBERS_MAX];
};

/* Records the first error only: "FILE:LINE: message", or "FILE: message"
 * when line is 0. */
__attribute__((format(printf, 4, 5))) static void fail(struct parser *p, int rc, int line,
						       const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	assert(rc < 0);
	if (p->failed_at != 0)
		return;
	p->failed_at = p->lineno > 0 ? p->lineno : 1;
	p->rc = rc;
	if (p->err_size == 0)
		return;
	if (line > 0)
		n = snprintf(p->err, p->err_size, "%s:%d: ", p->path, line);
	else
		n = snprintf(p->err, p->err_size, "%s: ", p->path);
	if (n < 0 || (size_t)n >= p->err_size)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->err_size - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Decimal digits only, at most max; *out untouched on failure. Returns 0,
 * -1 when text is not digits, -2 when out of range. */
static int parse_u64(const char *text, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t value = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		if (value <= max)
			value = value * 10 + (uint64_t)(text[i] - '0');
	}
	if (value < min || value > max)
		return -2;
	*out = value;
	return 0;
}

/* Called when a section ends (at the next header or at the end of the
 * file): a node must have all its keys, the timings must agree. */
static void finish_section(struct parser *p)
{
	const struct cairn_config *c = p->config;

	if (p->section == SECTION_NODE) {
		for (int k = KEY_PEER; k <= KEY_DATA_DIR; k++) {
			if (p->key_line[k] == 0) {
				fail(p, CAIRN_ECONFIG, p->section_line, "[%s]: missing key '%s'",
				     p->section_name, keys[k].name);
				return;
			}
		}
	}
	if (p->section == SECTION_CLUSTER && c->heartbeat_ms >= c->election_timeout_ms) {
		int line = p->key_line[KEY_HEARTBEAT_MS] > p->key_line[KEY_ELECTION_TIMEOUT_MS]
				   ? p->key_line[KEY_HEARTBEAT_MS]
				   : p->key_line[KEY_ELECTION_TIMEOUT_MS];
		fail(p, CAIRN_ECONFIG, line,
		     "[cluster] heartbeat_ms %u must be less than election_timeout_ms %u",
		     c->heartbeat_ms, c->election_timeout_ms);
	}
}

static void begin_node(struct parser *p, const char *id_text, size_t len)
{
	struct cairn_config *c = p->config;
	uint64_t id = 0;
	int rc = len > 0 && id_text[0] == '0' ? -1
					      : parse_u64(id_text, len, 1, CAIRN_NODE_ID_MAX, &id);

	if (rc == -1) {
		fail(p, CAIRN_ECONFIG, p->lineno,
		     "[node %.*s]: node id '%.*s' is not a positive integer", (int)len, id_text,
		     (int)len, id_text);
		return;
	}
	if (rc == -2) {
		fail(p, CAIRN_ECONFIG, p->lineno, "[node %.*s]: node id %.*s out of range 1..%u",
		     (int)len, id_text, (int)len, id_text, CAIRN_NODE_ID_MAX);
		return;
	}
	for (size_t i = 0; i < c->node_count; i++) {
		if (c->nodes[i].id == id) {
			fail(p, CAIRN_ECONFIG, p->lineno,
			     "[node %llu]: duplicate node id %llu (first at line %d)",
			     (unsigned long long)id, (unsigned long long)id, p->node_line[i]);
			return;
		}
	}
	if (c->node_count == CAIRN_MEMBERS_MAX) {
		fail(p, CAIRN_ECONFIG, p->lineno, "[node %llu]: too many members (at most %u)",
		     (unsigned long long)id, CAIRN_MEMBERS_MAX);
		return;
	}
	p->node_line[c->node_count] = p->lineno;
	p->node = &c->nodes[c->node_count++];
	p->node->id = id;
	p->section = SECTION_NODE;
	snprintf(p->section_name, sizeof(p->section_name), "node %llu", (unsigned long long)id);
}

/* A "[name]" header line: ends the previous section, starts the next. */
static void begin_section(struct parser *p, const char *name, size_t len)
{
	finish_section(p);
	if (p->failed_at != 0)
		return;
	p->section = SECTION_NONE;
	p->node = NULL;
	p->section_line = p->lineno;
	memset(p->key_line, 0, sizeof(p->key_line));
	if (len == 7 && memcmp(name, "cluster", 7) == 0) {
		if (p->cluster_line != 0) {
			fail(p, CAIRN_ECONFIG, p->lineno,
			     "duplicate section [cluster] (first at line %d)", p->cluster_line);
			return;
		}
		p->cluster_line = p->lineno;
		p->section = SECTION_CLUSTER;
		snprintf(p->section_name, sizeof(p->section_name), "cluster");
		return;
	}
	if (len >= 5 && memcmp(name, "node ", 5) == 0) {
		begin_node(p, name + 5, len - 5);
		return;
	}
	fail(p, CAIRN_ECONFIG, p->lineno, "unknown section [%.*s] (expected [cluster] or [node N])",
	     (int)len, name);
}

/* A section header as inih reads it: '[' name ']', then at most blanks
 * and a ';' comment (inih itself would ignore any text after the ']'). */
static void header_line(struct parser *p, const char *line)
{
	const char *close = strchr(line, ']');
	const char *rest;

	assert(line[0] == '[');
	if (close == NULL) {
		fail(p, CAIRN_ECONFIG, p->lineno, "missing ']' in section header");
		return;
	}
	rest = close + 1 + strspn(close + 1, " \t");
	if (*rest != '\0' && *rest != ';') {
		fail(p, CAIRN_ECONFIG, p->lineno, "unexpected text after [%.*s]",
		     (int)(close - line - 1), line + 1);
		return;
	}
	begin_section(p, line + 1, (size_t)(close - line - 1));
}

/* Checks one line read into str: control bytes, the BOM, leading blanks. */
static char *clean_line(struct parser *p, char *str, size_t len)
{
	size_t skip;

	if (len > 0 && str[len - 1] == '\r')
		len--;
	str[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			fail(p, CAIRN_ECONFIG, p->lineno, "control character 0x%02x in line", c);
			return NULL;
		}
	}
	skip = 0;
	if (p->lineno == 1 && strncmp(str, "\xef\xbb\xbf", 3) == 0)
		skip = 3;
	skip += strspn(str + skip, " \t");
	memmove(str, str + skip, len - skip + 1);
	if (str[0] == '[')
		header_line(p, str);
	return p->failed_at != 0 ? NULL : str;
}

/* The ini_reader: one whole line per call, as fgets() would give it to
 * inih, or NULL at the end of the file or after the first error. */
static char *read_line_cb(char *str, int num, void *stream)
{
	struct parser *p = stream;
	size_t cap, len = 0;
	int c;

	if (p->failed_at != 0)
		return NULL;
	assert(num > 3);
	cap = (size_t)num - 3; /* room for "\r\n\0", as inih asks */
	while ((c = getc(p->file)) != EOF && c != '\n') {
		if (len == cap) {
			p->lineno++;
			fail(p, CAIRN_ECONFIG, p->lineno, "line too long (more than %zu bytes)",
			     cap);
			return NULL;
		}
		str[len++] = (char)c;
	}
	if (c == EOF && ferror(p->file)) {
		fail(p, CAIRN_EIO, 0, "cannot read: %s", strerror(errno));
		return NULL;
	}
	if (c == EOF && len == 0)
		return NULL;
	p->lineno++;
	if (p->lineno > (int)CAIRN_CONFIG_LINES_MAX) {
		fail(p, CAIRN_ECONFIG, p->lineno, "too many lines (more than %u)",
		     CAIRN_CONFIG_LINES_MAX);
		return NULL;
	}
	return clean_line(p, str, len);
}

static void set_uint(struct parser *p, enum key key, const char *value, uint64_t min, uint64_t max,
		     uint32_t *out)
{
	uint64_t ms = 0;
	int rc = parse_u64(value, strlen(value), min, max, &ms);

	if (rc == -1)
		fail(p, CAIRN_ECONFIG, p->lineno, "[cluster] %s: '%s' is not a whole number",
		     keys[key].name, value);
	else if (rc == -2)
		fail(p, CAIRN_ECONFIG, p->lineno, "[cluster] %s: %s out of range %llu..%llu",
		     keys[key].name, value, (unsigned long long)min, (unsigned long long)max);
	else
		*out = (uint32_t)ms;
}

/* Refuses an address some member already uses for peer or client traffic:
 * both would try to bind it. */
static int check_addr_unused(struct parser *p, enum key key, const struct cairn_addr *addr)
{
	const struct cairn_config *c = p->config;

	for (size_t i = 0; i < c->node_count; i++) {
		const struct cairn_node_config *n = &c->nodes[i];
		const char *which = NULL;

		if (n->peer.kind != 0 && cairn_addr_equal(&n->peer, addr))
			which = "peer";
		else if (n->client.kind != 0 && cairn_addr_equal(&n->client, addr))
			which = "client";
		if (which != NULL) {
			fail(p, CAIRN_ECONFIG, p->lineno,
			     "[%s] %s: address %s already used by [node %llu] %s", p->section_name,
			     keys[key].name, addr->text, (unsigned long long)n->id, which);
			return -1;
		}
	}
	return 0;
}

static void set_addr(struct parser *p, enum key key, const char *value, struct cairn_addr *out)
{
	char msg[CAIRN_ADDR_TEXT_BYTES + 128];
	struct cairn_addr addr;

	if (cairn_addr_parse(value, &addr, msg, sizeof(msg)) != 0) {
		fail(p, CAIRN_ECONFIG, p->lineno, "[%s] %s: %s", p->section_name, keys[key].name,
		     msg);
		return;
	}
	if (check_addr_unused(p, key, &addr) != 0)
		return;
	*out = addr;
}

static void set_data_dir(struct parser *p, const char *value)
{
	size_t len = strlen(value);

	if (len >= sizeof(p->node->data_dir)) {
		fail(p, CAIRN_ECONFIG, p->lineno, "[%s] data_dir: path longer than %zu bytes",
		     p->section_name, sizeof(p->node->data_dir) - 1);
		return;
	}
	memcpy(p->node->data_dir, value, len + 1);
}

static int find_key(enum section_kind section, const char *name)
{
	for (int k = 0; k < KEY_COUNT; k++) {
		if (keys[k].section == section && strcmp(keys[k].name, name) == 0)
			return k;
	}
	return -1;
}

/* The ini_handler: one "name = value" of the current section. */
static int on_key_cb(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	int k;

	(void)section; /* ours, from header_line(), is the same and complete */
	if (p->failed_at != 0)
		return 0;
	if (p->section == SECTION_NONE) {
		fail(p, CAIRN_ECONFIG, p->lineno, "key '%s' outside any section", name);
		return 0;
	}
	k = find_key(p->section, name);
	if (k < 0) {
		fail(p, CAIRN_ECONFIG, p->lineno, "[%s] unknown key '%s'", p->section_name, name);
		return 0;
	}
	if (p->key_line[k] != 0) {
		fail(p, CAIRN_ECONFIG, p->lineno, "[%s] duplicate key '%s' (first at line %d)",
		     p->section_name, name, p->key_line[k]);
		return 0;
	}
	p->key_line[k] = p->lineno;
	if (value[0] == '\0') {
		fail(p, CAIRN_ECONFIG, p->lineno, "[%s] %s: empty value", p->section_name, name);
		return 0;
	}
	switch ((enum key)k) {
	case KEY_HEARTBEAT_MS:
		set_uint(p, KEY_HEARTBEAT_MS, value, CAIRN_CONFIG_HEARTBEAT_MS_MIN,
			 CAIRN_CONFIG_HEARTBEAT_MS_MAX, &p->config->heartbeat_ms);
		break;
	case KEY_ELECTION_TIMEOUT_MS:
		set_uint(p, KEY_ELECTION_TIMEOUT_MS, value, CAIRN_CONFIG_ELECTION_TIMEOUT_MS_MIN,
			 CAIRN_CONFIG_ELECTION_TIMEOUT_MS_MAX, &p->config->election_timeout_ms);
		break;
	case KEY_LOG_KEEP_ENTRIES:
		set_uint(p, KEY_LOG_KEEP_ENTRIES, value, CAIRN_CONFIG_LOG_KEEP_ENTRIES_MIN,
			 CAIRN_CONFIG_LOG_KEEP_ENTRIES_MAX, &p->config->log_keep_entries);
		break;
	case KEY_PEER:
		set_addr(p, KEY_PEER, value, &p->node->peer);
		break;
	case KEY_CLIENT:
		set_addr(p, KEY_CLIENT, value, &p->node->client);
		break;
	case KEY_DATA_DIR:
		set_data_dir(p, value);
		break;
	case KEY_COUNT:
		assert(0 && "not a key");
	}
	return p->failed_at == 0;
}

static int compare_node_ids(const void *a, const void *b)
{
	const struct cairn_node_config *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/* Runs inih over the open file; afterwards p->failed_at says whether it
 * went wrong. */
static void parse(struct parser *p)
{
	int rc = ini_parse_stream(read_line_cb, p, on_key_cb, p);

	if (rc == -2)
		fail(p, CAIRN_ENOMEM, 0, "out of memory");
	/* inih reports the line of its first error: ours, or a line it could
	 * not split that came before ours. */
	if (rc > 0 && (p->failed_at == 0 || rc < p->failed_at)) {
		p->failed_at = 0;
		p->lineno = rc;
		fail(p, CAIRN_ECONFIG, rc, "syntax error (expected [section] or key = value)");
	}
	if (p->failed_at != 0)
		return;
	finish_section(p);
	if (p->failed_at == 0 && p->config->node_count == 0)
		fail(p, CAIRN_ECONFIG, 0, "no members (expected at least one [node N] section)");
}

int cairn_config_load(const char *path, struct cairn_config *out, char *err, size_t err_size)
{
	struct parser p;

	assert(path != NULL);
	assert(err != NULL || err_size == 0);
	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	out->heartbeat_ms = CAIRN_CONFIG_HEARTBEAT_MS_DEFAULT;
	out->election_timeout_ms = CAIRN_CONFIG_ELECTION_TIMEOUT_MS_DEFAULT;
	out->log_keep_entries = CAIRN_CONFIG_LOG_KEEP_ENTRIES_DEFAULT;
	p.path = path;
	p.config = out;
	p.err = err;
	p.err_size = err_size;
	p.file = fopen(path, "re");
	if (p.file == NULL) {
		fail(&p, CAIRN_EIO, 0, "cannot open: %s", strerror(errno));
		goto out;
	}
	parse(&p);
	fclose(p.file);
out:
	if (p.failed_at != 0) {
		memset(out, 0, sizeof(*out));
		return p.rc;
	}
	qsort(out->nodes, out->node_count, sizeof(out->nodes[0]), compare_node_ids);
	assert(out->node_count >= 1 && out->node_count <= CAIRN_MEMBERS_MAX);
	assert(out->heartbeat_ms < out->election_timeout_ms);
	return 0;
}

void cairn_config_free(struct cairn_config *config)
{
	memset(config, 0, sizeof(*config));
}

const struct cairn_node_config *cairn_config_node(const struct cairn_config *config, uint64_t id)
{
	for (size_t i = 0; i < config->node_count; i++) {
		if (config->nodes[i].id == id)
			return &config->nodes[i];
	}
	return NULL;
}
