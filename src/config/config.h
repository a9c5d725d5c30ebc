/*
 * config.h - the INI cluster file of the contract, loaded and validated.
 *
 * One file describes the whole cluster: [cluster] timing and log retention,
 * and one [node N] section per member with its peer address, client address
 * and data dir.
 * cairn_config_load() checks every key and reports the first problem as one
 * line "FILE:LINE: message" naming the key; a config that loads is complete
 * and consistent, so later modules never re-check it. Addresses are parsed
 * and validated here but never resolved (net/ resolves host names).
 */
#ifndef CAIRN_CONFIG_CONFIG_H
#define CAIRN_CONFIG_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/limits.h"

/* A host name is at most 253 characters (RFC 1123), a label at most 63. */
#define CAIRN_HOST_NAME_BYTES_MAX 253u
#define CAIRN_HOST_LABEL_BYTES_MAX 63u
/* Buffers: a host (name or address text, no brackets) and HOST:PORT text. */
#define CAIRN_HOST_BYTES (CAIRN_HOST_NAME_BYTES_MAX + 1u)
#define CAIRN_ADDR_TEXT_BYTES (CAIRN_HOST_NAME_BYTES_MAX + 2u + 1u + 5u + 1u)

/* Timing bounds, in milliseconds; heartbeat_ms < election_timeout_ms too. */
#define CAIRN_CONFIG_HEARTBEAT_MS_DEFAULT 50u
#define CAIRN_CONFIG_ELECTION_TIMEOUT_MS_DEFAULT 300u
#define CAIRN_CONFIG_HEARTBEAT_MS_MIN 1u
#define CAIRN_CONFIG_HEARTBEAT_MS_MAX 30000u
#define CAIRN_CONFIG_ELECTION_TIMEOUT_MS_MIN 10u
#define CAIRN_CONFIG_ELECTION_TIMEOUT_MS_MAX 60000u

/* Applied entries kept in the log behind the applied index, for followers
 * that lag a little (etcd's --snapshot-catchup-entries); one further behind
 * gets a snapshot. */
#define CAIRN_CONFIG_LOG_KEEP_ENTRIES_DEFAULT 10000u
#define CAIRN_CONFIG_LOG_KEEP_ENTRIES_MIN 1u
#define CAIRN_CONFIG_LOG_KEEP_ENTRIES_MAX 10000000u

/* A config file longer than this is refused rather than read on and on. */
#define CAIRN_CONFIG_LINES_MAX 10000u

_Static_assert(CAIRN_CONFIG_HEARTBEAT_MS_DEFAULT < CAIRN_CONFIG_ELECTION_TIMEOUT_MS_DEFAULT,
	       "the default timings must be valid");
_Static_assert(CAIRN_CONFIG_HEARTBEAT_MS_MIN < CAIRN_CONFIG_ELECTION_TIMEOUT_MS_MIN,
	       "the smallest timings must be valid");

enum cairn_addr_kind {
	CAIRN_ADDR_IPV4 = 1,
	CAIRN_ADDR_IPV6 = 2,
	CAIRN_ADDR_NAME = 3, /* a host name, resolved later by net/ */
};

struct cairn_addr {
	enum cairn_addr_kind kind;
	uint16_t port;                    /* 1..65535 */
	char host[CAIRN_HOST_BYTES];      /* "127.0.0.1", "::1" (no brackets), "db1" */
	char text[CAIRN_ADDR_TEXT_BYTES]; /* as written, for display: "[::1]:7001" */
	uint8_t ip[16];                   /* IPV4: 4 bytes, IPV6: 16, network order */
};

struct cairn_node_config {
	uint64_t id; /* 1..CAIRN_NODE_ID_MAX */
	struct cairn_addr peer;
	struct cairn_addr client;
	char data_dir[PATH_MAX]; /* non-empty; relative paths are from the cwd */
};

struct cairn_config {
	uint32_t heartbeat_ms;
	/* Invariant: heartbeat_ms < election_timeout_ms. */
	uint32_t election_timeout_ms;
	/* [cluster] log_keep_entries: CAIRN_CONFIG_LOG_KEEP_ENTRIES_MIN..MAX. */
	uint32_t log_keep_entries;
	/* Invariant: 1 <= node_count <= CAIRN_MEMBERS_MAX; nodes sorted by id,
	 * ids unique, no address used twice. */
	size_t node_count;
	struct cairn_node_config nodes[CAIRN_MEMBERS_MAX];
};

/*
 * Loads and validates the cluster file at path into *out (caller-owned; no
 * pointers into the file remain). Returns 0, or on failure a negative code
 * with a one-line message (no newline) in err:
 *   CAIRN_EIO      the file cannot be opened or read ("FILE: cannot open: ...")
 *   CAIRN_ECONFIG  the contents are wrong ("FILE:LINE: [node 1] peer: ...")
 * On failure *out is left zeroed. err may be NULL when err_size is 0.
 * The file format is inih's: a line holds at most 197 bytes (the line
 * buffer of Debian's libinih), "name = value" or "name: value", and an
 * inline comment needs a blank before its ';' ("a;b" is the value "a;b").
 * Lines whose first non-blank is ';' or '#' are comments.
 */
int cairn_config_load(const char *path, struct cairn_config *out, char *err, size_t err_size);

/* Releases what a loaded config holds and zeroes it. Safe on a zeroed
 * config and to call twice. */
void cairn_config_free(struct cairn_config *config);

/* The member with this id, or NULL. Points into config. */
const struct cairn_node_config *cairn_config_node(const struct cairn_config *config, uint64_t id);

/*
 * Parses "HOST:PORT": an IPv4 dotted quad, "[IPv6]" or an RFC 1123 host
 * name, then a port 1..65535. Nothing is resolved. Returns 0, or
 * CAIRN_EINVAL with a message (no newline, no file name) in err.
 */
int cairn_addr_parse(const char *text, struct cairn_addr *out, char *err, size_t err_size);

/* Nonzero when a and b name the same endpoint (same port and the same
 * address, or host names equal ignoring case). */
int cairn_addr_equal(const struct cairn_addr *a, const struct cairn_addr *b);

#endif
