/* Frames move over loopback both ways; bad, stalled, slow and surplus
 * connections are closed without disturbing the others; links reconnect. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cairn/errors.h"
#include "net/net.h"
#include "util/log.h"

#define GUARD_MS 5000 /* only guards against hangs */
#define RAW_MAX 300

/* What the callbacks saw. */
struct seen {
	int frames;         /* frames received by the listener */
	size_t frame_bytes; /* their total size */
	uint8_t last[256];  /* the start of the last one */
	size_t last_len;
	int accepted;
	int closed;
	int close_reasons[16]; /* counts per reason, indexed by reason_slot() */
	int link_frames;
	uint8_t link_last[256];
	int link_up, link_down;
	int listener_closed, link_closed;
	struct cairn_net_conn *conn; /* the last accepted */
	bool echo;                   /* listener sends each frame back */
};

static uv_loop_t loop;
static struct seen seen;
static uv_timer_t guard;
static uv_timer_t tick; /* wakes the loop so conditions on raw sockets get checked */
static bool guard_fired;
static int raw_fds[RAW_MAX];
static int n_raw;

static int reason_slot(int reason)
{
	switch (reason) {
	case 0:
		return 0;
	case CAIRN_EPROTO:
		return 1;
	case CAIRN_ETIMEOUT:
		return 2;
	case CAIRN_EFULL:
		return 3;
	case CAIRN_ESTOPPED:
		return 4;
	default:
		return 5;
	}
}

static void guard_cb(uv_timer_t *t)
{
	(void)t;
	guard_fired = true;
	uv_stop(&loop);
}

/* Run the loop until cond() holds; fail the test after GUARD_MS. */
static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

static void run_until(bool (*cond)(void), const char *what)
{
	guard_fired = false;
	uv_timer_start(&guard, guard_cb, GUARD_MS, 0);
	uv_timer_start(&tick, tick_cb, 5, 5);
	while (!cond() && !guard_fired)
		uv_run(&loop, UV_RUN_ONCE);
	uv_timer_stop(&tick);
	uv_timer_stop(&guard);
	cr_assert(cond(), "timed out waiting for %s", what);
}

/* Run the loop for about ms milliseconds. */
static void run_for(uint64_t ms)
{
	guard_fired = false;
	uv_timer_start(&guard, guard_cb, ms, 0);
	while (!guard_fired)
		uv_run(&loop, UV_RUN_ONCE);
}

static void setup(void)
{
	memset(&seen, 0, sizeof seen);
	cr_assert_eq(uv_loop_init(&loop), 0);
	cr_assert_eq(uv_timer_init(&loop, &guard), 0);
	cr_assert_eq(uv_timer_init(&loop, &tick), 0);
	n_raw = 0;
	cairn_log_set_level(CAIRN_LOG_ERROR); /* the expected warnings stay quiet */
}

static void walk_close_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void teardown(void)
{
	for (int i = 0; i < n_raw; i++)
		close(raw_fds[i]);
	/* After a passing test only the timers are left; after a failing one,
	 * whatever the test left open (its objects are static, so they outlive
	 * the test's stack) is closed here. */
	uv_walk(&loop, walk_close_cb, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_assert_eq(uv_loop_close(&loop), 0, "every handle was closed");
}

TestSuite(net, .init = setup, .fini = teardown, .timeout = 30);

/* ---- callbacks ----------------------------------------------------------- */

static void frame_cb(struct cairn_net_conn *c, const uint8_t *frame, size_t len)
{
	seen.frames++;
	seen.frame_bytes += len;
	seen.last_len = len;
	memcpy(seen.last, frame, len < sizeof seen.last ? len : sizeof seen.last);
	if (seen.echo) {
		uint8_t hdr[4];
		static uint8_t out[4 + 65536];
		cairn_put_be32(hdr, (uint32_t)len);
		memcpy(out, hdr, 4);
		memcpy(out + 4, frame, len);
		cr_assert_eq(cairn_net_conn_send(c, out, 4 + len), 0);
	}
}

static void accept_cb(struct cairn_net_listener *l, struct cairn_net_conn *c)
{
	(void)l;
	seen.accepted++;
	seen.conn = c;
}

static void conn_close_cb(struct cairn_net_conn *c, int reason)
{
	seen.closed++;
	seen.close_reasons[reason_slot(reason)]++;
	if (seen.conn == c)
		seen.conn = NULL;
}

static void listener_closed_cb(struct cairn_net_listener *l)
{
	(void)l;
	seen.listener_closed++;
}

static void link_frame_cb(struct cairn_net_conn *c, const uint8_t *frame, size_t len)
{
	(void)c;
	seen.link_frames++;
	memcpy(seen.link_last, frame, len < sizeof seen.link_last ? len : sizeof seen.link_last);
}

static void link_state_cb(struct cairn_net_link *k, bool connected, int status)
{
	(void)k;
	(void)status;
	if (connected)
		seen.link_up++;
	else
		seen.link_down++;
}

static void link_closed_cb(struct cairn_net_link *k)
{
	(void)k;
	seen.link_closed++;
}

/* ---- helpers ------------------------------------------------------------- */

static struct cairn_net_listener_config listener_cfg(const char *addr)
{
	struct cairn_net_listener_config cfg = {
		.addr = addr,
		.accept_cb = accept_cb,
		.frame_cb = frame_cb,
		.conn_close_cb = conn_close_cb,
	};
	return cfg;
}

static int start_listener(struct cairn_net_listener *l, struct cairn_net_listener_config *cfg)
{
	char err[200];
	int rv = cairn_net_listener_start(&loop, l, cfg, err, sizeof err);
	cr_assert_eq(rv, 0, "listen: %s", err);
	int port = cairn_net_listener_port(l);
	cr_assert_gt(port, 0);
	return port;
}

static void close_listener(struct cairn_net_listener *l)
{
	int before = seen.listener_closed;
	cairn_net_listener_close(l, listener_closed_cb);
	guard_fired = false;
	uv_timer_start(&guard, guard_cb, GUARD_MS, 0);
	while (seen.listener_closed == before && !guard_fired)
		uv_run(&loop, UV_RUN_ONCE);
	uv_timer_stop(&guard);
	cr_assert_eq(seen.listener_closed, before + 1, "listener closed");
}

static void close_link(struct cairn_net_link *k)
{
	int before = seen.link_closed;
	cairn_net_link_close(k, link_closed_cb);
	guard_fired = false;
	uv_timer_start(&guard, guard_cb, GUARD_MS, 0);
	while (seen.link_closed == before && !guard_fired)
		uv_run(&loop, UV_RUN_ONCE);
	uv_timer_stop(&guard);
	cr_assert_eq(seen.link_closed, before + 1, "link closed");
}

/* A frame "prefix + body" of body's bytes into out; returns its size. */
static size_t frame(uint8_t *out, const char *body)
{
	size_t n = strlen(body);
	cairn_put_be32(out, (uint32_t)n);
	memcpy(out + 4, body, n);
	return 4 + n;
}

/* A plain blocking client socket connected to 127.0.0.1:port. */
static int raw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect: %s",
		     strerror(errno));
	cr_assert_lt(n_raw, RAW_MAX);
	raw_fds[n_raw++] = fd;
	return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
	cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Has the server closed fd? (EOF or reset, without blocking) */
static bool raw_closed(int fd)
{
	char b[4096];
	for (;;) {
		ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;
	}
}

static int n_frames_wanted;
static bool enough_frames(void)
{
	return seen.frames >= n_frames_wanted;
}

static bool link_is_up(void)
{
	return seen.link_up > 0 && seen.frames >= 1;
}

/* ---- tests --------------------------------------------------------------- */

Test(net, listener_and_link_exchange_frames_both_ways)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	seen.echo = true;
	int port = start_listener(&l, &cfg);

	char addr[64];
	uint8_t hello[64], buf[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	static struct cairn_net_link k;
	struct cairn_net_link_config kc = {.addr = addr,
					   .greeting = hello,
					   .greeting_len = frame(hello, "HELLO 1"),
					   .seed = 7,
					   .frame_cb = link_frame_cb,
					   .state_cb = link_state_cb};
	cr_assert_eq(cairn_net_link_start(&loop, &k, &kc), 0);
	cr_assert_eq(cairn_net_link_send(&k, buf, frame(buf, "too early")), CAIRN_EUNAVAIL,
		     "not connected yet: dropped");
	run_until(link_is_up, "the link to connect and greet");
	cr_assert_eq(seen.last_len, 7);
	cr_assert_eq(memcmp(seen.last, "HELLO 1", 7), 0, "the greeting comes first");

	cr_assert_eq(cairn_net_link_send(&k, buf, frame(buf, "ping")), 0);
	n_frames_wanted = 2;
	run_until(enough_frames, "ping at the listener");
	cr_assert_eq(memcmp(seen.last, "ping", 4), 0);
	while (seen.link_frames < 2)
		uv_run(&loop, UV_RUN_ONCE);
	cr_assert_eq(memcmp(seen.link_last, "ping", 4), 0, "the echo came back on the link");
	cr_assert(cairn_net_link_connected(&k));
	cr_assert_eq(seen.link_down, 0);

	close_link(&k);
	close_listener(&l);
	cr_assert_eq(seen.closed, 1, "the accepted side closed too");
}

static bool link_is_down(void)
{
	return seen.link_down > 0;
}

static bool greeted_twice(void)
{
	return seen.link_up >= 2 && seen.frames >= 2;
}

Test(net, link_reconnects_after_the_listener_restarts)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	int port = start_listener(&l, &cfg);
	char addr[64];
	uint8_t hello[32], buf[32];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	static struct cairn_net_link k;
	struct cairn_net_link_config kc = {.addr = addr,
					   .greeting = hello,
					   .greeting_len = frame(hello, "hi"),
					   .backoff_min_ms = 10,
					   .backoff_max_ms = 40,
					   .seed = 1,
					   .state_cb = link_state_cb};
	cr_assert_eq(cairn_net_link_start(&loop, &k, &kc), 0);
	run_until(link_is_up, "first connection");

	close_listener(&l);
	run_until(link_is_down, "the link to notice");
	cr_assert_eq(cairn_net_link_send(&k, buf, frame(buf, "lost")), CAIRN_EUNAVAIL);
	run_for(100); /* a few failed attempts against the closed port */
	cr_assert_eq(seen.link_down, 1, "one report for a series of failures");

	cfg.addr = addr;
	static struct cairn_net_listener l2;
	cr_assert_eq(start_listener(&l2, &cfg), port);
	run_until(greeted_twice, "reconnection and a second greeting");
	cr_assert_eq(cairn_net_link_send(&k, buf, frame(buf, "back")), 0);
	n_frames_wanted = 3;
	run_until(enough_frames, "a frame after reconnecting");
	cr_assert_eq(memcmp(seen.last, "back", 4), 0);
	close_link(&k);
	close_listener(&l2);
}

static void close_at_once_cb(struct cairn_net_listener *l, struct cairn_net_conn *c)
{
	(void)l;
	seen.accepted++;
	cairn_net_conn_close(c);
}

/* A peer that accepts and closes at once must not be hammered: without the
 * growing backoff the link would reconnect every 10-20 ms here (about 70
 * times in the second below). 10, 20, 40, 80, 160, 320 ms (upper halves
 * drawn at random) make at most 7 attempts in it. */
Test(net, link_backs_off_from_a_peer_that_accepts_and_closes)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	cfg.accept_cb = close_at_once_cb;
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", start_listener(&l, &cfg));
	static struct cairn_net_link k;
	struct cairn_net_link_config kc = {.addr = addr,
					   .backoff_min_ms = 20,
					   .backoff_max_ms = 5000,
					   .seed = 3,
					   .state_cb = link_state_cb};
	cr_assert_eq(cairn_net_link_start(&loop, &k, &kc), 0);
	run_for(1000);
	cr_assert_geq(seen.accepted, 3, "the link keeps trying (%d)", seen.accepted);
	cr_assert_leq(seen.accepted, 7, "%d connections in one second", seen.accepted);
	cr_assert_eq(seen.link_up, seen.accepted, "each connection was reported up");
	close_link(&k);
	close_listener(&l);
}

static int bad_fd, good_fd;
static bool bad_closed_good_served(void)
{
	return seen.close_reasons[1] == 1 && seen.frames >= 1;
}

Test(net, huge_length_prefix_closes_only_that_connection)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	seen.echo = true;
	int port = start_listener(&l, &cfg);
	good_fd = raw_connect(port);
	bad_fd = raw_connect(port);
	raw_send(bad_fd, "\xff\xff\xff\xff", 4);
	uint8_t buf[32];
	raw_send(good_fd, buf, frame(buf, "fine"));
	run_until(bad_closed_good_served, "the bad connection closed, the good served");
	cr_assert(raw_closed(bad_fd));
	cr_assert_eq(seen.closed, 1, "only the bad connection");

	char echo[8];
	cr_assert_eq(recv(good_fd, echo, 8, MSG_WAITALL), 8, "the good one got its echo");
	cr_assert_eq(memcmp(echo + 4, "fine", 4), 0);
	close_listener(&l);
}

static bool zero_closed(void)
{
	return seen.close_reasons[1] == 1;
}

static bool big_frame_and_close(void)
{
	return seen.frames == 1 && seen.close_reasons[1] == 1;
}

Test(net, a_frame_at_the_limit_passes_one_byte_over_closes)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	int port = start_listener(&l, &cfg);
	int fd = raw_connect(port);
	int over = raw_connect(port);
	size_t max = CAIRN_FRAME_BYTES_MAX;
	uint8_t *big = malloc(4 + max);
	cr_assert_not_null(big);
	memset(big, 'x', 4 + max);
	cairn_put_be32(big, (uint32_t)max);
	uint8_t hdr[4];
	cairn_put_be32(hdr, (uint32_t)max + 1);
	raw_send(over, hdr, 4);
	/* The largest frame goes in pieces while the loop runs. */
	for (size_t off = 0; off < 4 + max;) {
		ssize_t n = send(fd, big + off, 4 + max - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	free(big);
	run_until(big_frame_and_close, "the largest frame in, the larger one refused");
	cr_assert_eq(seen.frame_bytes, max);
	cr_assert_eq(seen.closed, 1);
	close_listener(&l);
}

Test(net, zero_length_prefix_closes_the_connection)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	int port = start_listener(&l, &cfg);
	int fd = raw_connect(port);
	raw_send(fd, "\0\0\0\0", 4);
	run_until(zero_closed, "close on a zero length");
	cr_assert_eq(seen.frames, 0);
	close_listener(&l);
}

static bool one_timed_out(void)
{
	return seen.close_reasons[2] == 1;
}

Test(net, stalled_partial_frame_is_timed_out)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	cfg.limits.stall_timeout_ms = 100;
	int port = start_listener(&l, &cfg);
	int quiet = raw_connect(port); /* nothing sent: not stalled, no idle timeout */
	int stalled = raw_connect(port);
	raw_send(stalled,
		 "\0\0\0\x0a"
		 "abc",
		 7); /* 3 of 10 bytes */
	run_until(one_timed_out, "the stalled connection to time out");
	cr_assert(raw_closed(stalled));
	run_for(250);
	cr_assert_not(raw_closed(quiet), "a quiet connection without a partial frame stays");
	cr_assert_eq(seen.closed, 1);
	close_listener(&l);
}

Test(net, idle_timeout_closes_a_silent_connection)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	cfg.limits.idle_timeout_ms = 100;
	int port = start_listener(&l, &cfg);
	int fd = raw_connect(port);
	run_until(one_timed_out, "the idle connection to close");
	cr_assert(raw_closed(fd));
	close_listener(&l);
}

static bool one_accepted(void)
{
	return seen.accepted == 1;
}

static bool one_full(void)
{
	return seen.close_reasons[3] == 1;
}

static int slow_fd;
static bool slow_reader_sees_the_end(void)
{
	return raw_closed(slow_fd);
}

Test(net, write_queue_bound_drops_a_slow_reader)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	cfg.limits.sendq_bytes_max = 256 * 1024;
	int port = start_listener(&l, &cfg);
	int fd = raw_connect(port); /* never reads */
	run_until(one_accepted, "accept");

	static uint8_t big[4 + 60000];
	cairn_put_be32(big, 60000);
	struct cairn_net_conn *c = seen.conn;
	size_t sent = 0;
	int rv = 0;
	while (rv == 0 && sent < 256u * 1024 * 1024) {
		rv = cairn_net_conn_send(c, big, sizeof big);
		if (rv == 0) {
			sent += sizeof big;
			cr_assert_leq(cairn_net_conn_queued_bytes(c), cfg.limits.sendq_bytes_max);
			uv_run(&loop, UV_RUN_NOWAIT);
		}
	}
	cr_assert_eq(rv, CAIRN_EFULL, "the queue bound was reached");
	cr_assert_eq(cairn_net_conn_send(c, big, sizeof big), CAIRN_ESTOPPED);
	run_until(one_full, "the slow reader to be dropped");
	slow_fd = fd;
	run_until(slow_reader_sees_the_end, "the slow reader to see the end");
	close_listener(&l);
}

Test(net, write_timeout_drops_a_reader_that_stopped_reading)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	cfg.limits.write_timeout_ms = 50;
	int port = start_listener(&l, &cfg);
	raw_connect(port); /* never reads */
	run_until(one_accepted, "accept");
	static uint8_t big[4 + 60000];
	cairn_put_be32(big, 60000);
	struct cairn_net_conn *c = seen.conn;
	/* Fill the kernel's buffers until a write stays unfinished. */
	while (cairn_net_conn_queued_bytes(c) < 1024 * 1024) {
		cr_assert_eq(cairn_net_conn_send(c, big, sizeof big), 0);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	cr_assert_eq(cairn_net_conn_send(c, big, sizeof big), 0, "not stuck for long yet");
	run_for(100);
	cr_assert_eq(cairn_net_conn_send(c, big, sizeof big), CAIRN_ETIMEOUT);
	run_until(one_timed_out, "the connection to close");
	close_listener(&l);
}

Test(net, send_refuses_bytes_that_are_not_whole_frames)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	int port = start_listener(&l, &cfg);
	raw_connect(port);
	run_until(one_accepted, "accept");
	uint8_t buf[32];
	size_t n = frame(buf, "abc");
	cr_assert_eq(cairn_net_conn_send(seen.conn, buf, n - 1), CAIRN_EINVAL, "cut short");
	cr_assert_eq(cairn_net_conn_send(seen.conn, buf, 0), CAIRN_EINVAL, "nothing");
	cr_assert_eq(cairn_net_conn_send(seen.conn, "\0\0\0\0", 4), CAIRN_EINVAL, "empty frame");
	cr_assert_eq(cairn_net_conn_send(seen.conn, buf, n), 0);
	close_listener(&l);
}

static int burst_fd;
static bool burst_done(void)
{
	return seen.frames >= 1;
}

static void burst_frame_cb(struct cairn_net_conn *c, const uint8_t *frame_, size_t len)
{
	(void)frame_;
	(void)len;
	seen.frames++;
	uint8_t buf[32];
	for (int i = 0; i < 100; i++) {
		char body[16];
		snprintf(body, sizeof body, "r%03d", i);
		cr_assert_eq(cairn_net_conn_send(c, buf, frame(buf, body)), 0);
	}
	seen.last_len = c->writes;
}

Test(net, a_burst_of_frames_goes_out_in_few_writes)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	cfg.frame_cb = burst_frame_cb;
	int port = start_listener(&l, &cfg);
	burst_fd = raw_connect(port);
	uint8_t buf[32];
	raw_send(burst_fd, buf, frame(buf, "go"));
	run_until(burst_done, "the request");
	run_for(50);
	cr_assert_leq(seen.conn->writes, 2, "100 frames, %llu uv_writes",
		      (unsigned long long)seen.conn->writes);
	static char got[100 * 8];
	cr_assert_eq(recv(burst_fd, got, sizeof got, MSG_WAITALL), (ssize_t)sizeof got);
	for (int i = 0; i < 100; i++) {
		char want[8];
		snprintf(want, sizeof want, "r%03d", i);
		cr_assert_eq(cairn_get_be32((uint8_t *)got + 8 * i), 4);
		cr_assert_eq(memcmp(got + 8 * i + 4, want, 4), 0, "frame %d in order", i);
	}
	close_listener(&l);
}

Test(net, frames_split_and_joined_across_reads_arrive_whole)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	int port = start_listener(&l, &cfg);
	int fd = raw_connect(port);
	uint8_t buf[256];
	size_t n = 0;
	n += frame(buf + n, "one");
	n += frame(buf + n, "two");
	n += frame(buf + n, "three");
	raw_send(fd, buf, n); /* three frames in one write */
	n_frames_wanted = 3;
	run_until(enough_frames, "three joined frames");
	cr_assert_eq(memcmp(seen.last, "three", 5), 0);
	n = frame(buf, "byte by byte");
	for (size_t i = 0; i < n; i++) {
		raw_send(fd, buf + i, 1);
		run_for(2);
	}
	n_frames_wanted = 4;
	run_until(enough_frames, "a frame sent byte by byte");
	cr_assert_eq(seen.last_len, 12);
	cr_assert_eq(memcmp(seen.last, "byte by byte", 12), 0);
	cr_assert_eq(seen.closed, 0);
	close_listener(&l);
}

Test(net, bind_to_a_port_in_use_fails_cleanly)
{
	static struct cairn_net_listener a, b;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	int port = start_listener(&a, &cfg);
	char addr[64], err[200];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	cfg.addr = addr;
	int rv = cairn_net_listener_start(&loop, &b, &cfg, err, sizeof err);
	cr_assert_eq(rv, UV_EADDRINUSE, "got %s", cairn_strerror(rv));
	cr_assert(strstr(err, addr) != NULL, "the message names the address: %s", err);
	cr_assert(strstr(err, "address already in use") != NULL, "%s", err);
	close_listener(&b);
	close_listener(&a);
}

Test(net, malformed_or_foreign_addresses_are_refused)
{
	const char *bad[] = {"127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", ":80",
			     "::1:80",    "[::1]80",    "[::1:80",         "host:8x0"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		static struct cairn_net_listener l;
		struct cairn_net_listener_config cfg = listener_cfg(bad[i]);
		char err[200];
		cr_assert_eq(cairn_net_listener_start(&loop, &l, &cfg, err, sizeof err),
			     CAIRN_EINVAL, "%s", bad[i]);
		cr_assert_neq(err[0], '\0');
		close_listener(&l);
	}
	/* A well-formed address that is not on this host. */
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("192.0.2.1:0");
	cr_assert_eq(cairn_net_listener_start(&loop, &l, &cfg, NULL, 0), UV_EADDRNOTAVAIL);
	close_listener(&l);
}

Test(net, split_addr_understands_the_three_forms)
{
	char host[64];
	uint16_t port;
	cr_assert_eq(cairn_net_split_addr("127.0.0.1:7001", host, sizeof host, &port), 0);
	cr_assert_str_eq(host, "127.0.0.1");
	cr_assert_eq(port, 7001);
	cr_assert_eq(cairn_net_split_addr("[::1]:8002", host, sizeof host, &port), 0);
	cr_assert_str_eq(host, "::1");
	cr_assert_eq(port, 8002);
	cr_assert_eq(cairn_net_split_addr("node3.example:65535", host, sizeof host, &port), 0);
	cr_assert_str_eq(host, "node3.example");
	cr_assert_eq(port, 65535);
	cr_assert_eq(cairn_net_split_addr("node3.example:1", host, 5, &port), CAIRN_EINVAL,
		     "host longer than the room given");
}

Test(net, listens_on_ipv6_and_on_a_host_name)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("localhost:0");
	start_listener(&l, &cfg);
	close_listener(&l);

	cfg = listener_cfg("[::1]:0");
	char err[200];
	int rv = cairn_net_listener_start(&loop, &l, &cfg, err, sizeof err);
	if (rv == UV_EADDRNOTAVAIL || rv == UV_EAFNOSUPPORT) {
		close_listener(&l);
		cr_skip_test("no IPv6 loopback here");
	}
	cr_assert_eq(rv, 0, "%s", err);
	int port = cairn_net_listener_port(&l);
	char addr[64];
	snprintf(addr, sizeof addr, "[::1]:%d", port);
	uint8_t hello[16];
	static struct cairn_net_link k;
	struct cairn_net_link_config kc = {.addr = addr,
					   .greeting = hello,
					   .greeting_len = frame(hello, "v6"),
					   .state_cb = link_state_cb};
	cr_assert_eq(cairn_net_link_start(&loop, &k, &kc), 0);
	run_until(link_is_up, "a link over IPv6");
	cr_assert_eq(memcmp(seen.last, "v6", 2), 0);
	close_link(&k);
	close_listener(&l);
}

static bool five_accepted(void)
{
	return seen.accepted == 5;
}

static bool sixth_refused(void)
{
	return raw_closed(raw_fds[5]);
}

static bool first_closed(void)
{
	return seen.closed == 1;
}

static bool six_accepted(void)
{
	return seen.accepted == 6;
}

Test(net, connections_over_the_cap_are_refused)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	cfg.conns_max = 5;
	int port = start_listener(&l, &cfg);
	for (int i = 0; i < 5; i++)
		raw_connect(port);
	run_until(five_accepted, "five connections");
	raw_connect(port);
	run_until(sixth_refused, "the sixth to be closed");
	cr_assert_eq(seen.accepted, 5);
	cr_assert_eq(seen.closed, 0, "a refused connection makes no callback");
	for (int i = 0; i < 5; i++)
		cr_assert_not(raw_closed(raw_fds[i]), "connection %d stays", i);

	close(raw_fds[0]);
	raw_fds[0] = raw_fds[--n_raw]; /* the refused one takes its slot */
	run_until(first_closed, "a slot to free up");
	raw_connect(port);
	run_until(six_accepted, "a new connection in the freed slot");
	close_listener(&l);
}

static int echo_fd;
static bool echoed(void)
{
	char b[8];
	return recv(echo_fd, b, sizeof b, MSG_DONTWAIT | MSG_PEEK) == 8;
}

Test(net, many_idle_and_stalled_connections_do_not_stall_others)
{
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	seen.echo = true;
	int port = start_listener(&l, &cfg);
	for (int i = 0; i < 200; i++) {
		int fd = raw_connect(port);
		if (i % 4 == 0)
			raw_send(fd,
				 "\0\0\x10\0"
				 "part",
				 8); /* a partial 4 KiB frame */
	}
	echo_fd = raw_connect(port);
	uint8_t buf[32];
	for (int round = 0; round < 20; round++) {
		raw_send(echo_fd, buf, frame(buf, "ping"));
		run_until(echoed, "the echo");
		char got[8];
		cr_assert_eq(recv(echo_fd, got, 8, 0), 8);
		cr_assert_eq(memcmp(got + 4, "ping", 4), 0);
	}
	cr_assert_eq(seen.closed, 0);
	cr_assert_eq(seen.accepted, 201);
	close_listener(&l);
	cr_assert_eq(seen.close_reasons[4], 201, "closing the listener closes them all");
}

Test(net, link_backs_off_while_the_peer_is_down)
{
	/* Find a free port, then leave it closed. */
	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	int port = start_listener(&l, &cfg);
	close_listener(&l);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	static struct cairn_net_link k;
	struct cairn_net_link_config kc = {.addr = addr,
					   .backoff_min_ms = 5,
					   .backoff_max_ms = 40,
					   .seed = 3,
					   .state_cb = link_state_cb};
	cr_assert_eq(cairn_net_link_start(&loop, &k, &kc), 0);
	cr_assert_eq(seen.link_down, 0, "start never calls back");
	run_for(300);
	cr_assert_eq(seen.link_down, 1, "reported once");
	/* 5, 10, 20 then 40 ms (jittered to [20, 40]): about 10 attempts in
	 * 300 ms, not hundreds. */
	cr_assert_geq(k.failures, 4);
	cr_assert_leq(k.failures, 20, "%u attempts", k.failures);
	close_link(&k);
}

Test(net, link_start_refuses_a_bad_config)
{
	static struct cairn_net_link k;
	struct cairn_net_link_config kc = {.addr = "nowhere"};
	cr_assert_eq(cairn_net_link_start(&loop, &k, &kc), CAIRN_EINVAL);
	kc.addr = "127.0.0.1:1";
	kc.greeting = "\0\0\0\x05"
		      "ab";
	kc.greeting_len = 6;
	cr_assert_eq(cairn_net_link_start(&loop, &k, &kc), CAIRN_EINVAL, "greeting not a frame");
}

Test(net, closing_a_link_while_it_connects_or_resolves)
{
	static struct cairn_net_link k;
	struct cairn_net_link_config kc = {.addr = "localhost:1", .state_cb = link_state_cb};
	cr_assert_eq(cairn_net_link_start(&loop, &k, &kc), 0);
	uv_run(&loop, UV_RUN_NOWAIT); /* the first attempt starts resolving */
	close_link(&k);
	kc.addr = "192.0.2.1:7001"; /* TEST-NET: the connect hangs or fails */
	cr_assert_eq(cairn_net_link_start(&loop, &k, &kc), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	close_link(&k);
}

static void close_on_down_cb(struct cairn_net_link *k, bool connected, int status)
{
	(void)status;
	if (!connected) {
		seen.link_down++;
		cairn_net_link_close(k, link_closed_cb);
	}
}

static bool link_closed_once(void)
{
	return seen.link_closed == 1;
}

static struct cairn_net_listener *closing_listener;
static void close_listener_frame_cb(struct cairn_net_conn *c, const uint8_t *f, size_t len)
{
	(void)f;
	(void)len;
	seen.frames++;
	cr_assert_eq(c->listener, closing_listener);
	cairn_net_listener_close(c->listener, listener_closed_cb);
}

static bool listener_closed_once(void)
{
	return seen.listener_closed == 1;
}

Test(net, callbacks_may_close_their_owner)
{
	static struct cairn_net_link k;
	struct cairn_net_link_config kc = {.addr = "127.0.0.1:1", /* refused */
					   .state_cb = close_on_down_cb};
	cr_assert_eq(cairn_net_link_start(&loop, &k, &kc), 0);
	run_until(link_closed_once, "the link closed from its state callback");
	cr_assert_eq(seen.link_down, 1);

	static struct cairn_net_listener l;
	struct cairn_net_listener_config cfg = listener_cfg("127.0.0.1:0");
	cfg.frame_cb = close_listener_frame_cb;
	closing_listener = &l;
	int port = start_listener(&l, &cfg);
	int fd = raw_connect(port);
	uint8_t buf[64];
	size_t n = frame(buf, "a");
	n += frame(buf + n, "b"); /* not delivered: the first closes everything */
	raw_send(fd, buf, n);
	run_until(listener_closed_once, "the listener closed from a frame callback");
	cr_assert_eq(seen.frames, 1);
	cr_assert_eq(seen.close_reasons[4], 1);
}
