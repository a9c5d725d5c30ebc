/*
 * client.h - the cairn client library: a small synchronous client that talks
 * to a cluster on its client ports.
 *
 * A client is given the cluster's members (from a config file or a list of
 * addresses). It connects to any member, follows "not leader" hints to the
 * leader and retries on refused or lost connections, all inside one overall
 * deadline per call. Every write carries the client's random id and a fresh
 * sequence number; a retry re-sends the same pair, so a write takes effect at
 * most once however often it is retried. Every call ends in one of the
 * outcome classes below, which are exactly the exit codes of the `cairn` CLI.
 *
 * The caller allocates struct cairn_client; its fields are private. Calls are
 * blocking (poll() with deadlines) and a client is not thread-safe: use one
 * per thread. The request/reply bookkeeping (ids, retries, classification) is
 * in src/client/op.h, separate from the sockets, for callers that bring their
 * own event loop.
 */
#ifndef CAIRN_CLIENT_H
#define CAIRN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/limits.h"

struct cairn_config;

/* Default for the whole of one call, retries and leader discovery included. */
#define CAIRN_CLIENT_TIMEOUT_MS_DEFAULT 5000u
/* How long one attempt waits for a reply before trying another member. */
#define CAIRN_CLIENT_ATTEMPT_MS_DEFAULT 1500u
/* How long `status` waits for a member at most (members answer at once). */
#define CAIRN_CLIENT_STATUS_MS_MAX 2000u
/* "HOST:PORT" or "[IPv6]:PORT", with the terminating NUL. */
#define CAIRN_CLIENT_ADDR_BYTES_MAX 272u
#define CAIRN_CLIENT_ROLE_BYTES_MAX 32u

/* The outcome of one call; the values are the CLI's exit codes. */
enum cairn_client_outcome {
	CAIRN_CLIENT_DONE = 0,         /* get found the key; put/del/cas applied */
	CAIRN_CLIENT_NOT_FOUND = 1,    /* get or cas: the key does not exist */
	CAIRN_CLIENT_BAD_INPUT = 2,    /* rejected before anything was sent */
	CAIRN_CLIENT_UNAVAILABLE = 3,  /* certainly not applied (or a read timed out) */
	CAIRN_CLIENT_UNKNOWN = 4,      /* a write was sent, no answer in time */
	CAIRN_CLIENT_CAS_MISMATCH = 5, /* cas: the value differs; nothing changed */
};

/* A short lower-case name ("done", "not found", ...). Never NULL. */
const char *cairn_client_outcome_name(enum cairn_client_outcome outcome);

/* One member of the cluster as the client knows it. */
struct cairn_client_member {
	uint64_t id;                              /* > 0 */
	char peer[CAIRN_CLIENT_ADDR_BYTES_MAX];   /* may be empty */
	char client[CAIRN_CLIENT_ADDR_BYTES_MAX]; /* where requests go */
};

/* The result of get/put/del/cas. value is set for a get that found its key;
 * it points into the client and stays valid until the next call on it.
 * message says why, for the user, when the outcome is not DONE. */
struct cairn_client_result {
	enum cairn_client_outcome outcome;
	const uint8_t *value;
	size_t value_bytes;
	char message[512];
};

/* What one member reported about itself. Fields after reachable are
 * meaningful only when reachable; leader 0 means the member knows none. */
struct cairn_client_node_status {
	uint64_t id;
	char peer[CAIRN_CLIENT_ADDR_BYTES_MAX];
	char client[CAIRN_CLIENT_ADDR_BYTES_MAX];
	bool reachable;
	char role[CAIRN_CLIENT_ROLE_BYTES_MAX]; /* "leader", "follower", ... */
	uint64_t term;
	uint64_t leader;
	uint64_t commit_index;
	uint64_t applied_index;
	uint64_t last_log_index;
	/* The log kept behind compaction: its first index and the payload
	 * bytes held in memory. 0, 0 from a member that does not report them. */
	uint64_t first_log_index;
	uint64_t log_bytes;
};

/* Private; see client.c. */
struct cairn_client {
	struct cairn_client_member members[CAIRN_MEMBERS_MAX];
	size_t members_n;
	uint64_t client_id; /* random, never 0 */
	uint64_t seq_next;  /* next write's sequence number, from 1 */
	uint64_t req_id_next;
	uint32_t attempt_ms;
	size_t target;                                 /* member tried first by the next call */
	char leader_addr[CAIRN_CLIENT_ADDR_BYTES_MAX]; /* last hinted leader, or "" */
	void *conn;                                    /* the open connection, or NULL */
	uint8_t *value;                                /* the last get's value (owned) */
	size_t value_bytes;
};

/* Start a client for members[0..n) (1 <= n <= CAIRN_MEMBERS_MAX), copied.
 * Draws the random client id. Returns 0, CAIRN_EINVAL (bad list) or
 * CAIRN_EIO (no randomness). */
int cairn_client_init(struct cairn_client *c, const struct cairn_client_member *members, size_t n);

/* The same from a loaded cluster config (every member's client address). */
int cairn_client_init_config(struct cairn_client *c, const struct cairn_config *cfg);

/* Close the connection and free what the client holds. */
void cairn_client_close(struct cairn_client *c);

/* How long one attempt waits for its reply before the client tries another
 * member (default CAIRN_CLIENT_ATTEMPT_MS_DEFAULT); 0 restores the default. */
void cairn_client_set_attempt_ms(struct cairn_client *c, uint32_t attempt_ms);

/* The four operations. Each returns 0 and fills *res (res->outcome tells
 * how it ended) within timeout_ms, or a negative CAIRN_E* code for a local
 * failure (out of memory) with res->outcome UNAVAILABLE. Keys of 1 to
 * CAIRN_KEY_BYTES_MAX bytes and values up to CAIRN_VALUE_BYTES_MAX bytes;
 * anything else is BAD_INPUT and nothing is sent. */
int cairn_client_get(struct cairn_client *c, const void *key, size_t key_bytes, uint32_t timeout_ms,
		     struct cairn_client_result *res);
int cairn_client_put(struct cairn_client *c, const void *key, size_t key_bytes, const void *value,
		     size_t value_bytes, uint32_t timeout_ms, struct cairn_client_result *res);
int cairn_client_del(struct cairn_client *c, const void *key, size_t key_bytes, uint32_t timeout_ms,
		     struct cairn_client_result *res);
int cairn_client_cas(struct cairn_client *c, const void *key, size_t key_bytes,
		     const void *expected, size_t expected_bytes, const void *value,
		     size_t value_bytes, uint32_t timeout_ms, struct cairn_client_result *res);

/* Ask every member for its status, all in parallel, for at most
 * min(timeout_ms, CAIRN_CLIENT_STATUS_MS_MAX). out has room for
 * c->members_n entries, filled in member order; a member that did not answer
 * has reachable false. Returns 0 or CAIRN_ENOMEM. */
int cairn_client_status(struct cairn_client *c, uint32_t timeout_ms,
			struct cairn_client_node_status *out);

/* The leader as a set of status reports tells it: a reachable member that
 * reports itself leader (the highest term wins), else the leader named by
 * the reachable members of the highest term; 0 when none is known. */
uint64_t cairn_client_status_leader(const struct cairn_client_node_status *st, size_t n);

#endif
