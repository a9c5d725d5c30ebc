/*
 * client.c - the blocking driver of the client library.
 *
 * One call runs one op (op.c) to its end inside one deadline: connect to a
 * member, send, wait for the reply with poll(), and follow what the op says
 * (follow a leader hint, try the next member, back off a little). Only one
 * connection is open at a time; it is kept for the next call when it ended
 * well. `status` opens one connection per member and polls them together.
 */
#include "cairn/client.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cairn/errors.h"
#include "client/conn.h"
#include "client/op.h"
#include "client/wire.h"
#include "util/clock.h"

#define BACKOFF_MS_MIN 10u
#define BACKOFF_MS_MAX 200u

static int random_u64(uint64_t *out)
{
	uint64_t v = 0;
	while (v == 0) {
		ssize_t n = getrandom(&v, sizeof(v), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(v))
			return CAIRN_EIO;
	}
	*out = v;
	return 0;
}

int cairn_client_init(struct cairn_client *c, const struct cairn_client_member *members, size_t n)
{
	memset(c, 0, sizeof(*c));
	if (n == 0 || n > CAIRN_MEMBERS_MAX)
		return CAIRN_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (members[i].id == 0 || members[i].client[0] == '\0')
			return CAIRN_EINVAL;
		c->members[i] = members[i];
		c->members[i].peer[sizeof(c->members[i].peer) - 1] = '\0';
		c->members[i].client[sizeof(c->members[i].client) - 1] = '\0';
	}
	c->members_n = n;
	c->seq_next = 1;
	c->req_id_next = 1;
	c->attempt_ms = CAIRN_CLIENT_ATTEMPT_MS_DEFAULT;
	int rv = random_u64(&c->client_id);
	if (rv != 0)
		return rv;
	/* Spread clients over the members for their first contact. */
	c->target = (size_t)(c->client_id % n);
	return 0;
}

void cairn_client_close(struct cairn_client *c)
{
	if (c->conn != NULL) {
		cairn_client_conn_close(c->conn);
		free(c->conn);
		c->conn = NULL;
	}
	free(c->value);
	c->value = NULL;
	c->value_bytes = 0;
}

void cairn_client_set_attempt_ms(struct cairn_client *c, uint32_t attempt_ms)
{
	c->attempt_ms = attempt_ms == 0 ? CAIRN_CLIENT_ATTEMPT_MS_DEFAULT : attempt_ms;
}

static void drop_conn(struct cairn_client *c)
{
	if (c->conn == NULL)
		return;
	cairn_client_conn_close(c->conn);
	free(c->conn);
	c->conn = NULL;
}

/* The address the next attempt goes to: the last leader hint, else the
 * current member. */
static const char *target_addr(const struct cairn_client *c)
{
	if (c->leader_addr[0] != '\0')
		return c->leader_addr;
	return c->members[c->target].client;
}

static void next_member(struct cairn_client *c)
{
	c->leader_addr[0] = '\0';
	c->target = (c->target + 1) % c->members_n;
}

/* Follow a NOT_LEADER hint. Returns false if it names nobody reachable. */
static bool follow_hint(struct cairn_client *c, const struct cairn_client_reply *r)
{
	for (size_t i = 0; i < c->members_n; i++) {
		if (r->leader_id != 0 && c->members[i].id == r->leader_id) {
			c->target = i;
			c->leader_addr[0] = '\0';
			return true;
		}
	}
	if (r->leader_addr[0] == '\0')
		return false;
	snprintf(c->leader_addr, sizeof(c->leader_addr), "%s", r->leader_addr);
	return true;
}

static void sleep_until(uint64_t until_ms)
{
	uint64_t now = cairn_clock_now_ms();
	if (until_ms > now)
		(void)poll(NULL, 0, (int)(until_ms - now));
}

static int ensure_conn(struct cairn_client *c)
{
	if (c->conn != NULL) {
		/* A kept connection may have been closed by the member since
		 * (restart, idle limit): notice that before sending on it, so
		 * a write is not counted as sent into a dead socket. */
		struct cairn_client_conn *conn = c->conn;
		struct pollfd pfd = {.fd = conn->fd, .events = POLLIN};
		if (conn->state == CAIRN_CLIENT_CONN_OPEN && poll(&pfd, 1, 0) > 0)
			(void)cairn_client_conn_io(conn, pfd.revents);
		if (conn->state == CAIRN_CLIENT_CONN_OPEN)
			return 0;
		drop_conn(c);
	}
	struct cairn_client_conn *conn = malloc(sizeof(*conn));
	if (conn == NULL)
		return CAIRN_ENOMEM;
	(void)cairn_client_conn_open(conn, target_addr(c));
	c->conn = conn;
	return 0;
}

/* What one attempt ended with, besides a reply. */
struct attempt {
	bool replied;
	enum cairn_client_step step;
	char why[384];
};

static void keep_value(struct cairn_client *c, const struct cairn_client_reply *r)
{
	free(c->value);
	c->value = NULL;
	c->value_bytes = 0;
	/* One extra byte so an empty value still has a non-NULL pointer. */
	c->value = malloc(r->value_bytes + 1);
	if (c->value == NULL)
		return;
	if (r->value_bytes > 0)
		memcpy(c->value, r->value, r->value_bytes);
	c->value_bytes = r->value_bytes;
}

/* Take every whole frame the connection holds; stop at the reply that
 * answers the attempt. Returns 0, or an error that ends the attempt. */
static int take_replies(struct cairn_client *c, struct cairn_client_op *op, struct attempt *a)
{
	struct cairn_client_conn *conn = c->conn;
	for (;;) {
		const uint8_t *payload;
		size_t bytes;
		int rv = cairn_client_conn_frame(conn, &payload, &bytes);
		if (rv <= 0)
			return rv;
		struct cairn_client_reply r;
		rv = cairn_client_wire_decode(payload, bytes, &r);
		if (rv != 0)
			return CAIRN_EPROTO;
		if (!cairn_client_op_reply_matches(op, &r))
			continue;
		a->replied = true;
		a->step = cairn_client_op_reply(op, &r);
		if (a->step == CAIRN_CLIENT_STEP_FINISH && op->kind == CAIRN_CLIENT_OP_GET &&
		    op->outcome == CAIRN_CLIENT_DONE)
			keep_value(c, &r);
		else if (a->step == CAIRN_CLIENT_STEP_REDIRECT && !follow_hint(c, &r))
			a->step = CAIRN_CLIENT_STEP_BACKOFF;
		return 0;
	}
}

/* Send the op once over the current connection and wait for its reply
 * until until_ms. */
static int attempt_once(struct cairn_client *c, struct cairn_client_op *op, uint64_t until_ms,
			struct attempt *a)
{
	struct cairn_buf frame;
	cairn_buf_init(&frame, CAIRN_FRAME_BYTES_MAX);
	int rv = cairn_client_op_encode(op, c->req_id_next++, &frame);
	if (rv == 0)
		rv = cairn_client_conn_send(c->conn, frame.data, frame.len);
	cairn_buf_free(&frame);
	if (rv == CAIRN_ENOMEM)
		return rv;
	struct cairn_client_conn *conn = c->conn;
	while (!a->replied) {
		if (!op->sent && cairn_client_conn_flushed(conn))
			cairn_client_op_sent(op);
		rv = take_replies(c, op, a);
		if (rv != 0 || a->replied)
			break;
		if (conn->state == CAIRN_CLIENT_CONN_FAILED) {
			rv = conn->err;
			break;
		}
		uint64_t now = cairn_clock_now_ms();
		if (now >= until_ms) {
			snprintf(a->why, sizeof(a->why), "no reply from %s", target_addr(c));
			return 0;
		}
		struct pollfd pfd = {.fd = conn->fd, .events = cairn_client_conn_events(conn)};
		int n = poll(&pfd, 1, (int)(until_ms - now));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			(void)cairn_client_conn_io(conn, pfd.revents);
	}
	if (rv != 0 && rv != CAIRN_ENOMEM)
		snprintf(a->why, sizeof(a->why), "%s: %s", target_addr(c), cairn_strerror(rv));
	return rv == CAIRN_ENOMEM ? rv : 0;
}

static void result_from(struct cairn_client *c, const struct cairn_client_op *op,
			struct cairn_client_result *res)
{
	res->outcome = op->outcome;
	res->value = NULL;
	res->value_bytes = 0;
	snprintf(res->message, sizeof(res->message), "%s", op->message);
	if (op->kind == CAIRN_CLIENT_OP_GET && op->outcome == CAIRN_CLIENT_DONE) {
		res->value = c->value;
		res->value_bytes = c->value_bytes;
		if (c->value == NULL) {
			res->outcome = CAIRN_CLIENT_UNAVAILABLE;
			snprintf(res->message, sizeof(res->message), "out of memory for the value");
		}
	}
}

/* Run op to its end within timeout_ms. */
static int run(struct cairn_client *c, struct cairn_client_op *op, uint32_t timeout_ms,
	       struct cairn_client_result *res)
{
	int err = 0;
	if (cairn_client_op_check(op) != 0)
		goto out;
	uint64_t deadline = cairn_clock_now_ms() + timeout_ms;
	uint32_t backoff_ms = BACKOFF_MS_MIN;
	size_t misses = 0;    /* attempts since the last useful answer */
	size_t redirects = 0; /* hints followed; stale hints could ping-pong */
	char why[384] = "";
	while (!op->finished) {
		uint64_t now = cairn_clock_now_ms();
		if (now >= deadline) {
			cairn_client_op_expire(op, why[0] != '\0' ? why : NULL);
			break;
		}
		err = ensure_conn(c);
		if (err != 0)
			break;
		struct attempt a = {.replied = false, .step = CAIRN_CLIENT_STEP_NEXT};
		uint64_t until = now + c->attempt_ms < deadline ? now + c->attempt_ms : deadline;
		err = attempt_once(c, op, until, &a);
		if (err != 0)
			break;
		if (a.why[0] != '\0')
			snprintf(why, sizeof(why), "%s", a.why);
		if (a.replied && a.step == CAIRN_CLIENT_STEP_FINISH)
			break;
		drop_conn(c);
		bool pause;
		if (a.replied && a.step == CAIRN_CLIENT_STEP_REDIRECT) {
			misses = 0;
			pause = ++redirects % (c->members_n + 1) == 0;
		} else {
			next_member(c);
			misses++;
			pause = (a.replied && a.step == CAIRN_CLIENT_STEP_BACKOFF) ||
				misses % c->members_n == 0;
		}
		if (pause) {
			uint64_t until_ms = cairn_clock_now_ms() + backoff_ms;
			sleep_until(until_ms < deadline ? until_ms : deadline);
			backoff_ms =
				backoff_ms * 2 > BACKOFF_MS_MAX ? BACKOFF_MS_MAX : backoff_ms * 2;
		}
	}
	if (err != 0) {
		drop_conn(c);
		if (!op->finished)
			cairn_client_op_fail(op, err);
	}
out:
	assert(op->finished);
	result_from(c, op, res);
	return err;
}

int cairn_client_get(struct cairn_client *c, const void *key, size_t key_bytes, uint32_t timeout_ms,
		     struct cairn_client_result *res)
{
	struct cairn_client_op op;
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_GET, key, key_bytes, NULL, 0, NULL, 0,
			     c->client_id, 0);
	return run(c, &op, timeout_ms, res);
}

int cairn_client_put(struct cairn_client *c, const void *key, size_t key_bytes, const void *value,
		     size_t value_bytes, uint32_t timeout_ms, struct cairn_client_result *res)
{
	struct cairn_client_op op;
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_PUT, key, key_bytes, value, value_bytes, NULL, 0,
			     c->client_id, c->seq_next++);
	return run(c, &op, timeout_ms, res);
}

int cairn_client_del(struct cairn_client *c, const void *key, size_t key_bytes, uint32_t timeout_ms,
		     struct cairn_client_result *res)
{
	struct cairn_client_op op;
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_DEL, key, key_bytes, NULL, 0, NULL, 0,
			     c->client_id, c->seq_next++);
	return run(c, &op, timeout_ms, res);
}

int cairn_client_cas(struct cairn_client *c, const void *key, size_t key_bytes,
		     const void *expected, size_t expected_bytes, const void *value,
		     size_t value_bytes, uint32_t timeout_ms, struct cairn_client_result *res)
{
	struct cairn_client_op op;
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_CAS, key, key_bytes, value, value_bytes, expected,
			     expected_bytes, c->client_id, c->seq_next++);
	return run(c, &op, timeout_ms, res);
}
