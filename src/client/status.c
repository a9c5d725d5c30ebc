/*
 * status.c - ask every member for its status at once.
 *
 * One connection and one STATUS op per member, all polled together until
 * each has answered or failed, or the (short) deadline passes. A member that
 * does not answer is reported unreachable; nothing here retries, since a
 * status is a snapshot and a retry would only make it older.
 */
#include "cairn/client.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "cairn/errors.h"
#include "client/conn.h"
#include "client/op.h"
#include "client/wire.h"
#include "util/clock.h"

struct probe {
	struct cairn_client_conn conn;
	struct cairn_client_op op;
	bool done;
};

static void probe_start(struct cairn_client *c, struct probe *p, size_t i,
			struct cairn_client_node_status *st)
{
	memset(st, 0, sizeof(*st));
	st->id = c->members[i].id;
	snprintf(st->peer, sizeof(st->peer), "%s", c->members[i].peer);
	snprintf(st->client, sizeof(st->client), "%s", c->members[i].client);
	cairn_client_op_init(&p->op, CAIRN_CLIENT_OP_STATUS, NULL, 0, NULL, 0, NULL, 0,
			     c->client_id, 0);
	p->done = false;
	if (cairn_client_conn_open(&p->conn, c->members[i].client) != 0) {
		p->done = true;
		return;
	}
	struct cairn_buf frame;
	cairn_buf_init(&frame, CAIRN_FRAME_BYTES_MAX);
	int rv = cairn_client_op_encode(&p->op, c->req_id_next++, &frame);
	if (rv == 0)
		rv = cairn_client_conn_send(&p->conn, frame.data, frame.len);
	cairn_buf_free(&frame);
	if (rv != 0)
		p->done = true;
}

/* Look for the STATUS reply among the frames received. */
static void probe_read(struct probe *p, struct cairn_client_node_status *st)
{
	for (;;) {
		const uint8_t *payload;
		size_t bytes;
		if (cairn_client_conn_frame(&p->conn, &payload, &bytes) != 1)
			break;
		struct cairn_client_reply r;
		if (cairn_client_wire_decode(payload, bytes, &r) != 0) {
			p->done = true;
			return;
		}
		if (!cairn_client_op_reply_matches(&p->op, &r))
			continue;
		if (r.kind == CAIRN_CLIENT_REPLY_STATUS) {
			st->reachable = true;
			snprintf(st->role, sizeof(st->role), "%s", r.status.role);
			st->term = r.status.term;
			st->leader = r.status.leader;
			st->commit_index = r.status.commit_index;
			st->applied_index = r.status.applied_index;
			st->last_log_index = r.status.last_log_index;
			st->first_log_index = r.status.first_log_index;
			st->log_bytes = r.status.log_bytes;
		}
		p->done = true;
		return;
	}
	if (p->conn.state == CAIRN_CLIENT_CONN_FAILED)
		p->done = true;
}

int cairn_client_status(struct cairn_client *c, uint32_t timeout_ms,
			struct cairn_client_node_status *out)
{
	assert(c->members_n <= CAIRN_MEMBERS_MAX);
	struct probe probes[CAIRN_MEMBERS_MAX];
	struct pollfd pfds[CAIRN_MEMBERS_MAX];
	size_t n = c->members_n;
	if (timeout_ms > CAIRN_CLIENT_STATUS_MS_MAX)
		timeout_ms = CAIRN_CLIENT_STATUS_MS_MAX;
	uint64_t deadline = cairn_clock_now_ms() + timeout_ms;
	for (size_t i = 0; i < n; i++)
		probe_start(c, &probes[i], i, &out[i]);
	for (;;) {
		size_t waiting = 0;
		for (size_t i = 0; i < n; i++) {
			if (!probes[i].done)
				probe_read(&probes[i], &out[i]);
			pfds[i].fd = probes[i].done ? -1 : probes[i].conn.fd;
			pfds[i].events =
				probes[i].done ? 0 : cairn_client_conn_events(&probes[i].conn);
			pfds[i].revents = 0;
			waiting += probes[i].done ? 0 : 1;
		}
		uint64_t now = cairn_clock_now_ms();
		if (waiting == 0 || now >= deadline)
			break;
		int ready = poll(pfds, (nfds_t)n, (int)(deadline - now));
		if (ready < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < n && ready > 0; i++) {
			if (pfds[i].fd >= 0 && pfds[i].revents != 0)
				(void)cairn_client_conn_io(&probes[i].conn, pfds[i].revents);
		}
	}
	for (size_t i = 0; i < n; i++)
		cairn_client_conn_close(&probes[i].conn);
	return 0;
}

uint64_t cairn_client_status_leader(const struct cairn_client_node_status *st, size_t n)
{
	uint64_t best_term = 0;
	uint64_t leader = 0;
	bool self_reported = false;
	for (size_t i = 0; i < n; i++) {
		if (!st[i].reachable)
			continue;
		bool self = strcmp(st[i].role, "leader") == 0;
		if (self && (!self_reported || st[i].term > best_term)) {
			self_reported = true;
			best_term = st[i].term;
			leader = st[i].id;
		}
	}
	if (self_reported)
		return leader;
	for (size_t i = 0; i < n; i++) {
		if (!st[i].reachable || st[i].leader == 0)
			continue;
		if (leader == 0 || st[i].term > best_term) {
			best_term = st[i].term;
			leader = st[i].leader;
		}
	}
	return leader;
}
