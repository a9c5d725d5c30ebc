/*
 * test_driver.c - the blocking client against scripted fake members on
 * loopback: following leader hints, retrying a write whose reply was lost
 * under the same (client id, seq), and telling UNKNOWN from UNAVAILABLE.
 *
 * A fake member is a thread with a listening socket that decodes requests
 * with proto's decoder and answers as its script says. The "leader" keeps
 * a one-slot store and applies each (client id, seq) at most once, like the
 * real state machine's sessions, and counts what it saw.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cairn/client.h"
#include "cairn/errors.h"
#include "client/conn.h"
#include "proto/proto.h"
#include "util/clock.h"

enum script {
	LEADER,           /* serves requests */
	FOLLOWER,         /* NOT_LEADER pointing at hint_id */
	BLACK_HOLE,       /* reads, never answers */
	DROP_FIRST_WRITE, /* leader that applies the first write, then hangs up unanswered */
};

struct fake {
	enum script script;
	int listen_fd;
	uint16_t port;
	uint64_t id;
	uint64_t hint_id;
	char hint_addr[64];
	pthread_t thread;
	atomic_bool stop;
	/* leader state */
	atomic_int writes_seen;
	atomic_int writes_applied;
	uint64_t last_seq;
	char value[64];
	size_t value_len;
	bool has_value;
	bool dropped;
};

#define CONNS_MAX 16

static void reply_with(int fd, struct cairn_proto_reply *rep)
{
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	cr_assert_eq(cairn_proto_encode_reply(&b, rep), 0);
	size_t done = 0;
	while (done < b.len) {
		ssize_t n = send(fd, b.data + done, b.len - done, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	cairn_buf_free(&b);
}

/* Serve one request; returns false to hang up on the client. */
static bool serve(struct fake *f, int fd, const struct cairn_proto_request *req)
{
	struct cairn_proto_reply rep;
	bool write = req->type == CAIRN_PROTO_PUT || req->type == CAIRN_PROTO_DEL;
	if (f->script == BLACK_HOLE)
		return true;
	if (req->type == CAIRN_PROTO_STATUS) {
		memset(&rep, 0, sizeof(rep));
		rep.type = CAIRN_PROTO_STATUS_REPLY;
		rep.id = req->id;
		rep.status.node_id = f->id;
		snprintf(rep.status.role, sizeof(rep.status.role), "%s",
			 f->script == FOLLOWER ? "follower" : "leader");
		rep.status.term = 2;
		rep.status.leader = f->script == FOLLOWER ? f->hint_id : f->id;
		rep.status.commit_index = 5;
		rep.status.applied_index = 4;
		rep.status.last_log_index = 6;
		reply_with(fd, &rep);
		return true;
	}
	if (f->script == FOLLOWER) {
		cairn_proto_reply_init(&rep, req->id, CAIRN_PROTO_NOT_LEADER);
		rep.leader_id = f->hint_id;
		snprintf(rep.leader_addr, sizeof(rep.leader_addr), "%s", f->hint_addr);
		reply_with(fd, &rep);
		return true;
	}
	cairn_proto_reply_init(&rep, req->id, CAIRN_PROTO_OK);
	if (write) {
		atomic_fetch_add(&f->writes_seen, 1);
		if (req->seq > f->last_seq) {
			f->last_seq = req->seq;
			atomic_fetch_add(&f->writes_applied, 1);
			f->has_value = req->type == CAIRN_PROTO_PUT;
			f->value_len = req->value.len < sizeof(f->value) ? req->value.len : 0;
			if (f->value_len > 0)
				memcpy(f->value, req->value.data, f->value_len);
		}
		if (f->script == DROP_FIRST_WRITE && !f->dropped) {
			f->dropped = true;
			return false;
		}
	} else if (req->type == CAIRN_PROTO_GET) {
		if (!f->has_value) {
			rep.code = CAIRN_PROTO_NOT_FOUND;
		} else {
			rep.has_value = true;
			rep.value.data = (const uint8_t *)f->value;
			rep.value.len = (uint32_t)f->value_len;
		}
	}
	reply_with(fd, &rep);
	return true;
}

/* Read what fd has; serve each whole frame. Returns false when done with fd. */
static bool pump(struct fake *f, int fd, struct cairn_buf *in)
{
	uint8_t chunk[4096];
	ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
	if (n <= 0)
		return false;
	cr_assert_eq(cairn_buf_append(in, chunk, (size_t)n), 0);
	while (in->len >= 4) {
		uint32_t len = cairn_get_be32(in->data);
		if (in->len < 4 + (size_t)len)
			break;
		struct cairn_proto_request req;
		cr_assert_eq(cairn_proto_decode_request(in->data + 4, len, &req), 0);
		bool keep = serve(f, fd, &req);
		cairn_buf_consume(in, 4 + (size_t)len);
		if (!keep)
			return false;
	}
	return true;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfds[CONNS_MAX + 1];
	struct cairn_buf bufs[CONNS_MAX + 1];
	size_t n = 1;
	pfds[0].fd = f->listen_fd;
	pfds[0].events = POLLIN;
	while (!atomic_load(&f->stop)) {
		if (poll(pfds, (nfds_t)n, 20) <= 0)
			continue;
		for (size_t i = n; i-- > 1;) {
			if (pfds[i].revents == 0 || pump(f, pfds[i].fd, &bufs[i]))
				continue;
			close(pfds[i].fd);
			cairn_buf_free(&bufs[i]);
			pfds[i] = pfds[n - 1];
			bufs[i] = bufs[n - 1];
			n--;
		}
		if ((pfds[0].revents & POLLIN) != 0 && n < CONNS_MAX + 1) {
			int fd = accept(f->listen_fd, NULL, NULL);
			if (fd >= 0) {
				pfds[n].fd = fd;
				pfds[n].events = POLLIN;
				pfds[n].revents = 0;
				cairn_buf_init(&bufs[n], 0);
				n++;
			}
		}
	}
	for (size_t i = 1; i < n; i++) {
		close(pfds[i].fd);
		cairn_buf_free(&bufs[i]);
	}
	return NULL;
}

static int listen_any(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 64), 0);
	socklen_t len = sizeof(sa);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Start fake member id; a FOLLOWER points at hint_id on hint_port. */
static void fake_start_hint(struct fake *f, uint64_t id, enum script script, uint64_t hint_id,
			    uint16_t hint_port)
{
	memset(f, 0, sizeof(*f));
	f->id = id;
	f->script = script;
	f->hint_id = hint_id;
	if (hint_port != 0)
		snprintf(f->hint_addr, sizeof(f->hint_addr), "127.0.0.1:%u", (unsigned)hint_port);
	f->listen_fd = listen_any(&f->port);
	atomic_init(&f->stop, false);
	cr_assert_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_start(struct fake *f, uint64_t id, enum script script)
{
	fake_start_hint(f, id, script, 0, 0);
}

static void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
}

/* A port nobody listens on (bound, then closed). */
static uint16_t dead_port(void)
{
	uint16_t port;
	close(listen_any(&port));
	return port;
}

static void member(struct cairn_client_member *m, uint64_t id, uint16_t port)
{
	memset(m, 0, sizeof(*m));
	m->id = id;
	snprintf(m->client, sizeof(m->client), "127.0.0.1:%u", (unsigned)port);
}

Test(driver, follows_not_leader_hints_to_the_leader)
{
	struct fake fol, lead;
	fake_start(&lead, 2, LEADER);
	fake_start_hint(&fol, 1, FOLLOWER, 2, lead.port);
	struct cairn_client_member ms[1];
	member(&ms[0], 1, fol.port); /* the client knows only the follower */
	struct cairn_client c;
	struct cairn_client_result res;
	cr_assert_eq(cairn_client_init(&c, ms, 1), 0);
	cr_assert_eq(cairn_client_put(&c, "k", 1, "hello", 5, 2000, &res), 0);
	cr_assert_eq(res.outcome, CAIRN_CLIENT_DONE, "%s", res.message);
	cr_assert_eq(cairn_client_get(&c, "k", 1, 2000, &res), 0);
	cr_assert_eq(res.outcome, CAIRN_CLIENT_DONE);
	cr_assert_eq(res.value_bytes, 5);
	cr_assert(memcmp(res.value, "hello", 5) == 0);
	cairn_client_close(&c);
	fake_stop(&fol);
	fake_stop(&lead);
	cr_assert_eq(atomic_load(&lead.writes_applied), 1);
}

Test(driver, retry_after_a_lost_reply_applies_the_write_once)
{
	struct fake lead;
	fake_start(&lead, 1, DROP_FIRST_WRITE);
	struct cairn_client_member ms[1];
	member(&ms[0], 1, lead.port);
	struct cairn_client c;
	struct cairn_client_result res;
	cr_assert_eq(cairn_client_init(&c, ms, 1), 0);
	cr_assert_eq(cairn_client_put(&c, "k", 1, "v", 1, 3000, &res), 0);
	cr_assert_eq(res.outcome, CAIRN_CLIENT_DONE, "%s", res.message);
	cairn_client_close(&c);
	fake_stop(&lead);
	cr_assert_eq(atomic_load(&lead.writes_seen), 2, "the write was retried");
	cr_assert_eq(atomic_load(&lead.writes_applied), 1, "and applied once");
}

Test(driver, write_sent_into_silence_is_unknown_and_read_is_unavailable)
{
	struct fake hole;
	fake_start(&hole, 1, BLACK_HOLE);
	struct cairn_client_member ms[1];
	member(&ms[0], 1, hole.port);
	struct cairn_client c;
	struct cairn_client_result res;
	cr_assert_eq(cairn_client_init(&c, ms, 1), 0);
	uint64_t t0 = cairn_clock_now_ms();
	cr_assert_eq(cairn_client_put(&c, "k", 1, "v", 1, 300, &res), 0);
	cr_assert_eq(res.outcome, CAIRN_CLIENT_UNKNOWN, "%s", res.message);
	cr_assert_lt(cairn_clock_now_ms() - t0, 2000, "the deadline holds");
	cr_assert_eq(cairn_client_get(&c, "k", 1, 300, &res), 0);
	cr_assert_eq(res.outcome, CAIRN_CLIENT_UNAVAILABLE);
	cairn_client_close(&c);
	fake_stop(&hole);
}

Test(driver, refused_everywhere_is_unavailable_within_the_timeout)
{
	struct cairn_client_member ms[3];
	for (uint64_t i = 0; i < 3; i++)
		member(&ms[i], i + 1, dead_port());
	struct cairn_client c;
	struct cairn_client_result res;
	cr_assert_eq(cairn_client_init(&c, ms, 3), 0);
	uint64_t t0 = cairn_clock_now_ms();
	cr_assert_eq(cairn_client_put(&c, "k", 1, "v", 1, 300, &res), 0);
	uint64_t took = cairn_clock_now_ms() - t0;
	cr_assert_eq(res.outcome, CAIRN_CLIENT_UNAVAILABLE, "%s", res.message);
	cr_assert_geq(took, 250, "it retried until the deadline");
	cr_assert_lt(took, 1500, "and stopped there");
	cairn_client_close(&c);
}

Test(driver, unanswered_member_is_left_for_the_next_one)
{
	struct fake hole, lead;
	fake_start(&hole, 1, BLACK_HOLE);
	fake_start(&lead, 2, LEADER);
	struct cairn_client_member ms[2];
	member(&ms[0], 1, hole.port);
	member(&ms[1], 2, lead.port);
	struct cairn_client c;
	struct cairn_client_result res;
	cr_assert_eq(cairn_client_init(&c, ms, 2), 0);
	cairn_client_set_attempt_ms(&c, 100);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(cairn_client_put(&c, "k", 1, "v", 1, 3000, &res), 0);
		cr_assert_eq(res.outcome, CAIRN_CLIENT_DONE, "%s", res.message);
	}
	cairn_client_close(&c);
	fake_stop(&hole);
	fake_stop(&lead);
	cr_assert_eq(atomic_load(&lead.writes_applied), 4);
}

Test(driver, bad_input_sends_nothing)
{
	struct fake lead;
	fake_start(&lead, 1, LEADER);
	struct cairn_client_member ms[1];
	member(&ms[0], 1, lead.port);
	struct cairn_client c;
	struct cairn_client_result res;
	cr_assert_eq(cairn_client_init(&c, ms, 1), 0);
	cr_assert_eq(cairn_client_put(&c, "", 0, "v", 1, 1000, &res), 0);
	cr_assert_eq(res.outcome, CAIRN_CLIENT_BAD_INPUT);
	cairn_client_close(&c);
	fake_stop(&lead);
	cr_assert_eq(atomic_load(&lead.writes_seen), 0);
}

Test(driver, status_asks_every_member_and_marks_the_silent_unreachable)
{
	struct fake lead, fol;
	fake_start(&lead, 1, LEADER);
	fake_start_hint(&fol, 2, FOLLOWER, 1, 0);
	struct cairn_client_member ms[3];
	member(&ms[0], 1, lead.port);
	member(&ms[1], 2, fol.port);
	member(&ms[2], 3, dead_port());
	struct cairn_client c;
	struct cairn_client_node_status st[3];
	cr_assert_eq(cairn_client_init(&c, ms, 3), 0);
	cr_assert_eq(cairn_client_status(&c, 1000, st), 0);
	cr_assert(st[0].reachable);
	cr_assert_str_eq(st[0].role, "leader");
	cr_assert_eq(st[0].commit_index, 5);
	cr_assert(st[1].reachable);
	cr_assert_eq(st[1].leader, 1);
	cr_assert_not(st[2].reachable);
	cr_assert_str_eq(st[2].client, ms[2].client);
	cr_assert_eq(cairn_client_status_leader(st, 3), 1);
	cairn_client_close(&c);
	fake_stop(&lead);
	fake_stop(&fol);
}

Test(driver, client_ids_are_random_and_nonzero)
{
	struct cairn_client_member ms[1];
	member(&ms[0], 1, 1);
	struct cairn_client a, b;
	cr_assert_eq(cairn_client_init(&a, ms, 1), 0);
	cr_assert_eq(cairn_client_init(&b, ms, 1), 0);
	cr_assert_neq(a.client_id, 0);
	cr_assert_neq(a.client_id, b.client_id);
	cairn_client_close(&a);
	cairn_client_close(&b);
}

Test(driver, init_rejects_bad_member_lists)
{
	struct cairn_client_member ms[1];
	struct cairn_client c;
	member(&ms[0], 0, 8000);
	cr_assert_eq(cairn_client_init(&c, ms, 1), CAIRN_EINVAL);
	cr_assert_eq(cairn_client_init(&c, ms, 0), CAIRN_EINVAL);
}

Test(driver, addresses_split_into_host_and_port)
{
	char host[64];
	uint16_t port = 0;
	cr_assert_eq(cairn_client_split_addr("127.0.0.1:8001", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "127.0.0.1");
	cr_assert_eq(port, 8001);
	cr_assert_eq(cairn_client_split_addr("[::1]:7", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "::1");
	cr_assert_eq(port, 7);
	cr_assert_eq(cairn_client_split_addr("db-1.local:65535", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "db-1.local");
	cr_assert_eq(port, 65535);
	const char *bad[] = {"",        "host", "host:",  ":80",  "h:0",
			     "h:65536", "h:8x", "[::1]8", "[::1", "::1:80x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cairn_client_split_addr(bad[i], host, sizeof(host), &port),
			     CAIRN_EINVAL, "%s", bad[i]);
}

Test(driver, ipv6_loopback_members_are_reached)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0)
		cr_skip_test("no IPv6 here");
	struct sockaddr_in6 sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_addr = in6addr_loopback;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		cr_skip_test("no IPv6 loopback here");
	}
	socklen_t len = sizeof(sa);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	uint16_t port = ntohs(sa.sin6_port);
	close(fd); /* nobody listens: refused, but resolved and connected over IPv6 */
	struct cairn_client_member ms[1];
	memset(ms, 0, sizeof(ms));
	ms[0].id = 1;
	snprintf(ms[0].client, sizeof(ms[0].client), "[::1]:%u", (unsigned)port);
	struct cairn_client c;
	struct cairn_client_result res;
	cr_assert_eq(cairn_client_init(&c, ms, 1), 0);
	cr_assert_eq(cairn_client_get(&c, "k", 1, 100, &res), 0);
	cr_assert_eq(res.outcome, CAIRN_CLIENT_UNAVAILABLE);
	cr_assert_not_null(strstr(res.message, "refused"), "%s", res.message);
	cairn_client_close(&c);
}
