/*
 * bench.c - cairn-bench, the load generator for a cairn cluster.
 *
 * One libuv loop drives C logical clients over N shared TCP connections to
 * the leader. Each logical client has at most one request in flight; the
 * requests of all clients on a connection are pipelined with ids, encoded
 * with proto's encoders into one buffer per connection and flushed with one
 * write per loop iteration (a uv_prepare handle), so the tool itself batches
 * the way it expects the server to. Writes carry one client id per logical
 * client and numbered sequences, and a retry after a redirect or a lost
 * connection reuses the sequence number.
 *
 * The leader is found from the members' own answers: requests go to one
 * endpoint; NOT_LEADER with a hint switches every connection to the hinted
 * member, NOT_LEADER without one, a refused or lost connection move on to
 * the next endpoint after a short pause. Every switch opens an "epoch" so
 * that the many replies of one event cause one switch.
 *
 * Latency is taken per request from its first send (closed loop) or from
 * its scheduled start (open loop, --rate, so that a stalled server cannot
 * hide its queueing) to its final reply, kept exactly (one sample per
 * request) and summarised with nearest-rank percentiles. The last line of
 * output is one JSON object for scripts.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "cairn/errors.h"
#include "cairn/limits.h"
#include "config/config.h"
#include "proto/proto.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/rand.h"

#define BENCH_ENDPOINTS_MAX 16u
#define BENCH_CLIENTS_MAX 65536u
#define BENCH_CONNS_MAX CAIRN_CLIENT_CONNS_MAX
#define BENCH_TOTAL_MAX 20000000u /* one 8-byte sample each: 160 MB at most */
#define BENCH_TIMEOUT_MS_DEFAULT 5000u
#define BENCH_TIMEOUT_MS_MAX 3600000u
#define BENCH_RATE_MAX 10000000.0
/* The id of a request: the client's index in the low bits, its attempt
 * counter above, so that a reply finds its client in O(1) and a stale reply
 * (to a request given up or re-sent) is recognised and dropped. */
#define BENCH_ID_CLIENT_BITS 20u
#define BENCH_ID_CLIENT_MASK ((UINT64_C(1) << BENCH_ID_CLIENT_BITS) - 1u)
/* Pause before trying the next endpoint after a refusal or an unhinted
 * NOT_LEADER: long enough not to spin through an election, short against
 * an election timeout. */
#define BENCH_ROTATE_PAUSE_MS 50u
#define BENCH_TICK_MS 100u
#define BENCH_READ_CHUNK_BYTES (64u * 1024u)
#define BENCH_RBUF_BYTES_MAX (2u * (CAIRN_FRAME_BYTES_MAX + CAIRN_PROTO_PREFIX_BYTES))
#define BENCH_WBUF_BYTES_MAX (256u * 1024u * 1024u)

_Static_assert(BENCH_CLIENTS_MAX <= BENCH_ID_CLIENT_MASK + 1u, "client index must fit an id");

enum bench_op {
	BENCH_OP_PUT = 0,
	BENCH_OP_GET = 1,
	BENCH_OP_MIXED = 2,
};

struct bench_opts {
	const char *config_path; /* NULL: use endpoints */
	size_t endpoint_count;   /* from --endpoints; 0 with --config */
	char endpoints[BENCH_ENDPOINTS_MAX][CAIRN_ADDR_TEXT_BYTES];
	uint32_t clients;
	uint32_t conns; /* Invariant: 1 <= conns <= clients */
	uint64_t total;
	uint32_t key_bytes;
	uint32_t value_bytes;
	uint64_t keyspace;
	enum bench_op op;
	uint32_t read_percent; /* --op mixed: share of gets */
	double rate;           /* requests per second; 0 = closed loop */
	uint32_t timeout_ms;   /* per request, retries included */
	uint64_t seed;
	bool sequential; /* keys 0, 1, 2, ... instead of random */
	bool progress;   /* progress line on stderr (default: when a terminal) */
	bool help;
};

/* ---- pure parts: argument parsing, keys, percentiles ------------------- */

static int parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	if (text == NULL || text[0] < '0' || text[0] > '9')
		return CAIRN_EINVAL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return CAIRN_EINVAL;
	*out = v;
	return 0;
}

static int parse_endpoints(const char *text, struct bench_opts *o, char *err, size_t err_size)
{
	const char *p = text;
	o->endpoint_count = 0;
	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n >= CAIRN_ADDR_TEXT_BYTES) {
			snprintf(err, err_size, "--endpoints: bad entry in '%s'", text);
			return CAIRN_EINVAL;
		}
		if (o->endpoint_count == BENCH_ENDPOINTS_MAX) {
			snprintf(err, err_size, "--endpoints: more than %u endpoints",
				 BENCH_ENDPOINTS_MAX);
			return CAIRN_EINVAL;
		}
		char *dst = o->endpoints[o->endpoint_count];
		memcpy(dst, p, n);
		dst[n] = '\0';
		struct cairn_addr a;
		char why[128];
		if (cairn_addr_parse(dst, &a, why, sizeof(why)) != 0) {
			snprintf(err, err_size, "--endpoints: '%s': %s", dst, why);
			return CAIRN_EINVAL;
		}
		o->endpoint_count++;
		p += n;
		if (*p == ',')
			p++;
	}
	if (o->endpoint_count == 0) {
		snprintf(err, err_size, "--endpoints: empty list");
		return CAIRN_EINVAL;
	}
	return 0;
}

/* Decimal digits needed to write every key index below keyspace. */
static uint32_t key_digits(uint64_t keyspace)
{
	uint32_t d = 1;
	for (uint64_t v = keyspace - 1; v >= 10; v /= 10)
		d++;
	return d;
}

/* Writes key number index as key_bytes bytes: zero-padded decimal, so keys
 * sort like their numbers and every key has the same size. */
static void format_key(uint8_t *out, uint32_t key_bytes, uint64_t index)
{
	memset(out, '0', key_bytes);
	for (uint32_t i = key_bytes; i > 0 && index > 0; i--) {
		out[i - 1] = (uint8_t)('0' + index % 10);
		index /= 10;
	}
}

static void opts_defaults(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->clients = 1;
	o->total = 10000;
	o->key_bytes = 8;
	o->value_bytes = 256;
	o->keyspace = 100000;
	o->op = BENCH_OP_PUT;
	o->read_percent = 50;
	o->timeout_ms = BENCH_TIMEOUT_MS_DEFAULT;
	o->seed = 1;
}

/* One "--name value" or "--name=value" option. Returns 0, CAIRN_EINVAL
 * with a message, or 1 when it consumed the next argument too. */
static int parse_one(const char *name, const char *value, bool *conns_set, struct bench_opts *o,
		     char *err, size_t err_size)
{
	uint64_t v = 0;
	int rc = 0;
	if (strcmp(name, "config") == 0 || strcmp(name, "c") == 0) {
		o->config_path = value;
	} else if (strcmp(name, "endpoints") == 0) {
		return parse_endpoints(value, o, err, err_size);
	} else if (strcmp(name, "clients") == 0) {
		rc = parse_u64(value, 1, BENCH_CLIENTS_MAX, &v);
		o->clients = (uint32_t)v;
	} else if (strcmp(name, "conns") == 0) {
		rc = parse_u64(value, 1, BENCH_CONNS_MAX, &v);
		o->conns = (uint32_t)v;
		*conns_set = true;
	} else if (strcmp(name, "total") == 0) {
		rc = parse_u64(value, 1, BENCH_TOTAL_MAX, &o->total);
	} else if (strcmp(name, "key-bytes") == 0) {
		rc = parse_u64(value, 1, CAIRN_KEY_BYTES_MAX, &v);
		o->key_bytes = (uint32_t)v;
	} else if (strcmp(name, "value-bytes") == 0) {
		rc = parse_u64(value, 0, CAIRN_VALUE_BYTES_MAX, &v);
		o->value_bytes = (uint32_t)v;
	} else if (strcmp(name, "keyspace") == 0) {
		rc = parse_u64(value, 1, UINT64_C(1) << 40, &o->keyspace);
	} else if (strcmp(name, "op") == 0) {
		if (strcmp(value, "put") == 0)
			o->op = BENCH_OP_PUT;
		else if (strcmp(value, "get") == 0)
			o->op = BENCH_OP_GET;
		else if (strcmp(value, "mixed") == 0)
			o->op = BENCH_OP_MIXED;
		else
			rc = CAIRN_EINVAL;
	} else if (strcmp(name, "read-percent") == 0) {
		rc = parse_u64(value, 0, 100, &v);
		o->read_percent = (uint32_t)v;
	} else if (strcmp(name, "rate") == 0) {
		char *end = NULL;
		errno = 0;
		o->rate = strtod(value, &end);
		if (errno != 0 || *end != '\0' || !(o->rate > 0.0) || o->rate > BENCH_RATE_MAX)
			rc = CAIRN_EINVAL;
	} else if (strcmp(name, "timeout") == 0) {
		rc = parse_u64(value, 1, BENCH_TIMEOUT_MS_MAX, &v);
		o->timeout_ms = (uint32_t)v;
	} else if (strcmp(name, "seed") == 0) {
		rc = parse_u64(value, 0, UINT64_MAX, &o->seed);
	} else {
		snprintf(err, err_size, "unknown option --%s", name);
		return CAIRN_EINVAL;
	}
	if (rc != 0)
		snprintf(err, err_size, "--%s: bad value '%s'", name, value);
	return rc;
}

/*
 * Parses the command line into *o (defaults first). Returns 0, or
 * CAIRN_EINVAL with a one-line message in err. Checks the relations
 * between options too: exactly one of --config and --endpoints, conns <=
 * clients, keys wide enough for the keyspace.
 */
static int parse_args(int argc, const char *const argv[], struct bench_opts *o, char *err,
		      size_t err_size)
{
	static const char *const flags[] = {"sequential", "progress", "no-progress", "help"};
	bool conns_set = false;
	int explicit_progress = -1;
	opts_defaults(o);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			o->help = true;
			return 0;
		}
		if (strcmp(arg, "-c") == 0)
			arg = "--config";
		if (strncmp(arg, "--", 2) != 0) {
			snprintf(err, err_size, "unexpected argument '%s'", arg);
			return CAIRN_EINVAL;
		}
		char name[32];
		const char *eq = strchr(arg + 2, '=');
		size_t n = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		if (n == 0 || n >= sizeof(name)) {
			snprintf(err, err_size, "unknown option %s", arg);
			return CAIRN_EINVAL;
		}
		memcpy(name, arg + 2, n);
		name[n] = '\0';
		bool is_flag = false;
		for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
			is_flag = is_flag || strcmp(name, flags[f]) == 0;
		if (is_flag) {
			if (eq != NULL) {
				snprintf(err, err_size, "--%s takes no value", name);
				return CAIRN_EINVAL;
			}
			if (strcmp(name, "sequential") == 0)
				o->sequential = true;
			else if (strcmp(name, "progress") == 0)
				explicit_progress = 1;
			else
				explicit_progress = 0;
			continue;
		}
		const char *value = eq != NULL ? eq + 1 : NULL;
		if (value == NULL) {
			if (i + 1 >= argc) {
				snprintf(err, err_size, "--%s needs a value", name);
				return CAIRN_EINVAL;
			}
			value = argv[++i];
		}
		int rc = parse_one(name, value, &conns_set, o, err, err_size);
		if (rc != 0)
			return rc;
	}
	if ((o->config_path != NULL) == (o->endpoint_count > 0)) {
		snprintf(err, err_size, "give exactly one of --config FILE and --endpoints LIST");
		return CAIRN_EINVAL;
	}
	if (!conns_set)
		o->conns = o->clients < 64 ? o->clients : 64;
	if (o->conns > o->clients) {
		snprintf(err, err_size, "--conns %u is more than --clients %u", o->conns,
			 o->clients);
		return CAIRN_EINVAL;
	}
	if (key_digits(o->keyspace) > o->key_bytes) {
		snprintf(err, err_size,
			 "--keyspace %" PRIu64 " needs keys of %u bytes (--key-bytes)", o->keyspace,
			 key_digits(o->keyspace));
		return CAIRN_EINVAL;
	}
	o->progress = explicit_progress >= 0 ? explicit_progress == 1 : isatty(STDERR_FILENO) == 1;
	return 0;
}

/* Nearest-rank percentile of sorted[0..n): the smallest sample that at
 * least per_mille / 1000 of all samples do not exceed. 0 when n == 0. */
static uint64_t percentile_ns(const uint64_t *sorted, size_t n, uint32_t per_mille)
{
	assert(per_mille <= 1000);
	if (n == 0)
		return 0;
	uint64_t rank = ((uint64_t)per_mille * n + 999u) / 1000u;
	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a;
	uint64_t y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static double ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static const char *op_name(enum bench_op op)
{
	return op == BENCH_OP_PUT ? "put" : op == BENCH_OP_GET ? "get" : "mixed";
}

#ifndef CAIRN_BENCH_NO_MAIN

/* ---- the load generator ------------------------------------------------- */

/* Error classes: final outcomes that are not success. */
enum bench_err {
	BENCH_ERR_TIMEOUT = 0,
	BENCH_ERR_UNAVAILABLE,
	BENCH_ERR_BUSY,
	BENCH_ERR_BAD_REQUEST,
	BENCH_ERR_CAS_MISMATCH,
	BENCH_ERR_OTHER,
	BENCH_ERR_COUNT,
};

static const char *const bench_err_names[BENCH_ERR_COUNT] = {
	"timeout", "unavailable", "busy", "bad_request", "cas_mismatch", "other",
};

struct bench;

enum conn_state {
	CONN_DOWN = 0,
	CONN_CONNECTING,
	CONN_UP,
	CONN_CLOSING,
};

/* One TCP connection to the current target, shared by the logical clients
 * whose index is congruent to its own modulo the connection count. */
struct conn {
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_write_t write_req;
	struct bench *b;
	uint32_t index;
	enum conn_state state;
	uint64_t epoch;          /* b->epoch when it connected */
	struct cairn_buf rbuf;   /* bytes read, not yet a whole frame */
	struct cairn_buf out;    /* frames encoded since the last flush */
	struct cairn_buf flight; /* the frames of the write in progress */
	bool writing;            /* Invariant: writing iff flight.len > 0 */
};

enum lclient_state {
	LC_IDLE = 0, /* no request (closed loop: only once all are issued) */
	LC_WAITING,  /* has a request, waits for its connection */
	LC_INFLIGHT, /* request sent, no reply yet */
};

struct lclient {
	uint32_t index;
	enum lclient_state state;
	uint64_t client_id;
	uint64_t seq;      /* of the current write */
	uint64_t attempts; /* sends so far, for request ids */
	uint64_t req_id;   /* id of the request in flight; 0 = none */
	uint8_t type;      /* CAIRN_PROTO_PUT or CAIRN_PROTO_GET */
	uint64_t key_index;
	uint64_t start_ns;    /* latency starts here */
	uint64_t deadline_ns; /* give up then */
};

struct endpoint {
	char text[CAIRN_ADDR_TEXT_BYTES];
	struct sockaddr_storage sa;
};

struct bench {
	struct bench_opts o;
	uv_loop_t *loop;
	uv_prepare_t flush;
	uv_timer_t tick;
	uv_timer_t rotate;
	uv_timer_t pacer;
	struct cairn_rand rng;

	size_t endpoint_count;
	struct endpoint endpoints[BENCH_ENDPOINTS_MAX];
	size_t target;  /* endpoint the connections go to */
	uint64_t epoch; /* bumped by every switch of target */

	struct conn *conns;
	struct lclient *clients;
	uint32_t *idle; /* stack of idle client indexes (open loop) */
	uint32_t idle_count;

	uint64_t issued;    /* requests started */
	uint64_t completed; /* requests finished, ok or not */
	uint64_t ok;
	uint64_t not_found;
	uint64_t errors[BENCH_ERR_COUNT];
	uint64_t redirects;  /* NOT_LEADER answers followed */
	uint64_t reconnects; /* connections lost or refused */
	uint64_t *samples;   /* latency of each successful request, ns */
	uint64_t t0_ns;
	uint64_t t_end_ns;
	uint64_t last_ok_ns;
	uint64_t last_progress_ns;
	bool stopping;
	bool leader_seen;
	int exit_code;

	uint8_t *key;
	uint8_t *value;
	struct cairn_proto_reply reply;
};

static void conn_connect(struct conn *c);
static void conn_close(struct conn *c);
static void client_send(struct bench *b, struct lclient *lc);
static void bench_stop(struct bench *b);

static uint64_t now_ns(void)
{
	return cairn_clock_now_ns();
}

static int resolve(const char *text, struct sockaddr_storage *sa, char *err, size_t err_size)
{
	struct cairn_addr a;
	char why[128];
	if (cairn_addr_parse(text, &a, why, sizeof(why)) != 0) {
		snprintf(err, err_size, "'%s': %s", text, why);
		return CAIRN_EINVAL;
	}
	char port[8];
	snprintf(port, sizeof(port), "%u", a.port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(a.host, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		snprintf(err, err_size, "'%s': %s", text, gai_strerror(rc));
		return CAIRN_EINVAL;
	}
	memset(sa, 0, sizeof(*sa));
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static bool sockaddr_same(const struct sockaddr_storage *x, const struct sockaddr_storage *y)
{
	if (x->ss_family != y->ss_family)
		return false;
	if (x->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)x;
		const struct sockaddr_in *c = (const struct sockaddr_in *)y;
		return a->sin_port == c->sin_port && a->sin_addr.s_addr == c->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)x;
	const struct sockaddr_in6 *c = (const struct sockaddr_in6 *)y;
	return a->sin6_port == c->sin6_port &&
	       memcmp(&a->sin6_addr, &c->sin6_addr, sizeof(a->sin6_addr)) == 0;
}

/* The endpoint for address text, added to the table when new. Returns its
 * index, or -1 when the text does not resolve or the table is full. */
static int endpoint_find_or_add(struct bench *b, const char *text)
{
	struct sockaddr_storage sa;
	char err[256];
	if (resolve(text, &sa, err, sizeof(err)) != 0)
		return -1;
	for (size_t i = 0; i < b->endpoint_count; i++)
		if (sockaddr_same(&sa, &b->endpoints[i].sa))
			return (int)i;
	if (b->endpoint_count == BENCH_ENDPOINTS_MAX)
		return -1;
	struct endpoint *e = &b->endpoints[b->endpoint_count];
	snprintf(e->text, sizeof(e->text), "%s", text);
	e->sa = sa;
	return (int)b->endpoint_count++;
}

/* ---- leader tracking ---------------------------------------------------- */

/* Points every connection at endpoint ep: a new epoch, connections of the
 * old one closed (and reopened by their close callback), their in-flight
 * requests re-sent once reconnected. */
static void switch_target(struct bench *b, size_t ep)
{
	assert(ep < b->endpoint_count);
	b->target = ep;
	b->epoch++;
	for (uint32_t i = 0; i < b->o.conns; i++) {
		struct conn *c = &b->conns[i];
		if (c->state == CONN_DOWN)
			conn_connect(c);
		else if (c->state == CONN_UP || c->state == CONN_CONNECTING)
			conn_close(c);
	}
}

static void rotate_cb(uv_timer_t *t)
{
	struct bench *b = t->data;
	if (!b->stopping)
		switch_target(b, (b->target + 1) % b->endpoint_count);
}

/* The current target does not lead or does not answer: try the next one
 * after a pause. Many callers in one burst arm the timer once. */
static void schedule_rotate(struct bench *b)
{
	if (b->stopping || uv_is_active((uv_handle_t *)&b->rotate))
		return;
	uv_timer_start(&b->rotate, rotate_cb, BENCH_ROTATE_PAUSE_MS, 0);
}

/* ---- connections -------------------------------------------------------- */

static void conn_flush(struct conn *c);
static void read_start(struct conn *c);

static void write_cb(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	c->writing = false;
	cairn_buf_reset(&c->flight);
	if (status < 0) {
		if (c->state == CONN_UP) {
			c->b->reconnects++;
			conn_close(c);
			if (c->epoch == c->b->epoch)
				schedule_rotate(c->b);
		}
		return;
	}
	if (c->out.len > 0)
		conn_flush(c);
}

/* Starts one write of everything encoded since the last one. */
static void conn_flush(struct conn *c)
{
	if (c->state != CONN_UP || c->writing || c->out.len == 0)
		return;
	struct cairn_buf tmp = c->flight;
	c->flight = c->out;
	c->out = tmp;
	c->writing = true;
	uv_buf_t buf = uv_buf_init((char *)c->flight.data, (unsigned)c->flight.len);
	int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, write_cb);
	if (rc != 0) {
		c->writing = false;
		cairn_buf_reset(&c->flight);
		c->b->reconnects++;
		conn_close(c);
		if (c->epoch == c->b->epoch)
			schedule_rotate(c->b);
	}
}

static void flush_cb(uv_prepare_t *p)
{
	struct bench *b = p->data;
	for (uint32_t i = 0; i < b->o.conns; i++)
		conn_flush(&b->conns[i]);
}

static void close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct bench *b = c->b;
	c->state = CONN_DOWN;
	c->writing = false;
	cairn_buf_reset(&c->rbuf);
	cairn_buf_reset(&c->out);
	cairn_buf_reset(&c->flight);
	/* A connection of an older epoch reopens at once towards the new
	 * target; one that failed in the current epoch waits for the switch
	 * that schedule_rotate() arranged. */
	if (!b->stopping && c->epoch != b->epoch)
		conn_connect(c);
}

/* Closes c; its clients' requests in flight will be sent again, with new
 * ids (and the same sequence numbers), once it is back up. */
static void conn_close(struct conn *c)
{
	struct bench *b = c->b;
	if (c->state == CONN_CLOSING || c->state == CONN_DOWN)
		return;
	c->state = CONN_CLOSING;
	cairn_buf_reset(&c->out);
	for (uint32_t i = c->index; i < b->o.clients; i += b->o.conns) {
		struct lclient *lc = &b->clients[i];
		if (lc->state == LC_INFLIGHT) {
			lc->state = LC_WAITING;
			lc->req_id = 0;
		}
	}
	uv_close((uv_handle_t *)&c->tcp, close_cb);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct bench *b = c->b;
	if (status == UV_ECANCELED || c->state != CONN_CONNECTING)
		return;
	if (status < 0) {
		b->reconnects++;
		conn_close(c);
		if (c->epoch == b->epoch)
			schedule_rotate(b);
		return;
	}
	c->state = CONN_UP;
	read_start(c);
	for (uint32_t i = c->index; i < b->o.clients; i += b->o.conns) {
		struct lclient *lc = &b->clients[i];
		if (lc->state == LC_WAITING)
			client_send(b, lc);
	}
}

static void conn_connect(struct conn *c)
{
	struct bench *b = c->b;
	assert(c->state == CONN_DOWN);
	c->epoch = b->epoch;
	c->tcp.data = c;
	c->connect_req.data = c;
	c->write_req.data = c;
	int rc = uv_tcp_init(b->loop, &c->tcp);
	assert(rc == 0);
	(void)uv_tcp_nodelay(&c->tcp, 1);
	c->state = CONN_CONNECTING;
	rc = uv_tcp_connect(&c->connect_req, &c->tcp,
			    (const struct sockaddr *)&b->endpoints[b->target].sa, connect_cb);
	if (rc != 0) {
		b->reconnects++;
		conn_close(c);
		schedule_rotate(b);
	}
}

/* ---- requests ----------------------------------------------------------- */

static void client_finish(struct bench *b, struct lclient *lc, int err_class);

/* A connection that broke the protocol: drop it, its requests go again. */
static void conn_fail(struct conn *c)
{
	c->b->reconnects++;
	conn_close(c);
	if (c->epoch == c->b->epoch)
		schedule_rotate(c->b);
}

/* Encodes lc's request onto its connection (sent at the next flush), or
 * leaves it waiting when that connection is not up. */
static void client_send(struct bench *b, struct lclient *lc)
{
	struct conn *c = &b->conns[lc->index % b->o.conns];
	if (c->state != CONN_UP) {
		lc->state = LC_WAITING;
		return;
	}
	lc->attempts++;
	uint64_t id = (lc->attempts << BENCH_ID_CLIENT_BITS) | lc->index;
	format_key(b->key, b->o.key_bytes, lc->key_index);
	struct cairn_proto_request req = {
		.type = lc->type,
		.id = id,
		.client_id = lc->client_id,
		.seq = lc->seq,
		.key = {.data = b->key, .len = b->o.key_bytes},
		.value = {.data = b->value, .len = b->o.value_bytes},
	};
	int rc = cairn_proto_encode_request(&c->out, &req);
	if (rc != 0) {
		fprintf(stderr, "cairn-bench: cannot encode a request: %s\n", cairn_strerror(rc));
		lc->state = LC_WAITING;
		conn_fail(c);
		return;
	}
	lc->req_id = id;
	lc->state = LC_INFLIGHT;
}

/* Starts request number b->issued on lc, its latency counted from
 * start_ns. */
static void client_issue(struct bench *b, struct lclient *lc, uint64_t start_ns)
{
	assert(lc->state == LC_IDLE);
	assert(b->issued < b->o.total);
	uint64_t n = b->issued++;
	bool get = b->o.op == BENCH_OP_GET || (b->o.op == BENCH_OP_MIXED &&
					       cairn_rand_below(&b->rng, 100) < b->o.read_percent);
	lc->type = get ? CAIRN_PROTO_GET : CAIRN_PROTO_PUT;
	lc->key_index =
		b->o.sequential ? n % b->o.keyspace : cairn_rand_below(&b->rng, b->o.keyspace);
	if (!get)
		lc->seq++;
	lc->start_ns = start_ns;
	lc->deadline_ns = now_ns() + (uint64_t)b->o.timeout_ms * 1000000u;
	client_send(b, lc);
}

/* Scheduled start of request n in open loop. */
static uint64_t sched_ns(const struct bench *b, uint64_t n)
{
	return b->t0_ns + (uint64_t)((double)n * 1e9 / b->o.rate);
}

/* Requests whose scheduled start has come (open loop). */
static uint64_t due_count(const struct bench *b, uint64_t now)
{
	double due = floor((double)(now - b->t0_ns) * b->o.rate / 1e9) + 1.0;
	return due >= (double)b->o.total ? b->o.total : (uint64_t)due;
}

/* lc is free again: give it the next request (closed loop), or the next
 * one that is due (open loop), or park it. */
static void client_next(struct bench *b, struct lclient *lc)
{
	lc->state = LC_IDLE;
	lc->req_id = 0;
	if (b->issued >= b->o.total)
		return;
	uint64_t now = now_ns();
	if (b->o.rate == 0.0) {
		client_issue(b, lc, now);
	} else if (b->issued < due_count(b, now)) {
		client_issue(b, lc, sched_ns(b, b->issued));
	} else {
		b->idle[b->idle_count++] = lc->index;
	}
}

/* Final outcome of lc's request: err_class < 0 is success. */
static void client_finish(struct bench *b, struct lclient *lc, int err_class)
{
	uint64_t now = now_ns();
	if (err_class < 0) {
		b->samples[b->ok++] = now - lc->start_ns;
		b->last_ok_ns = now;
	} else {
		b->errors[err_class]++;
	}
	b->completed++;
	if (b->completed == b->o.total) {
		b->t_end_ns = now;
		lc->state = LC_IDLE;
		bench_stop(b);
		return;
	}
	client_next(b, lc);
}

static void handle_reply(struct bench *b, struct conn *c, const struct cairn_proto_reply *r)
{
	if (r->type != CAIRN_PROTO_REPLY)
		return; /* a STATUS_REPLY: we send no STATUS on data connections */
	uint64_t idx = r->id & BENCH_ID_CLIENT_MASK;
	if (idx >= b->o.clients)
		return;
	struct lclient *lc = &b->clients[idx];
	if (lc->state != LC_INFLIGHT || lc->req_id != r->id)
		return; /* stale: given up on, or re-sent since */
	switch (r->code) {
	case CAIRN_PROTO_OK:
		b->leader_seen = true;
		client_finish(b, lc, -1);
		break;
	case CAIRN_PROTO_NOT_FOUND:
		b->leader_seen = true;
		b->not_found++;
		client_finish(b, lc, -1);
		break;
	case CAIRN_PROTO_CAS_MISMATCH:
		client_finish(b, lc, BENCH_ERR_CAS_MISMATCH);
		break;
	case CAIRN_PROTO_NOT_LEADER: {
		b->redirects++;
		lc->state = LC_WAITING;
		lc->req_id = 0;
		if (c->epoch != b->epoch)
			break; /* already switched since this was sent */
		int ep = r->leader_addr[0] != '\0' ? endpoint_find_or_add(b, r->leader_addr) : -1;
		if (ep >= 0 && (size_t)ep != b->target)
			switch_target(b, (size_t)ep);
		else
			schedule_rotate(b);
		break;
	}
	case CAIRN_PROTO_UNAVAILABLE:
		client_finish(b, lc, BENCH_ERR_UNAVAILABLE);
		break;
	case CAIRN_PROTO_BUSY:
		client_finish(b, lc, BENCH_ERR_BUSY);
		break;
	case CAIRN_PROTO_BAD_REQUEST:
		client_finish(b, lc, BENCH_ERR_BAD_REQUEST);
		break;
	default:
		client_finish(b, lc, BENCH_ERR_OTHER);
		break;
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	if (cairn_buf_reserve(&c->rbuf, BENCH_READ_CHUNK_BYTES) != 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)c->rbuf.data + c->rbuf.len,
			   (unsigned)(c->rbuf.cap - c->rbuf.len));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	struct bench *b = c->b;
	(void)buf;
	if (nread < 0) {
		conn_fail(c);
		return;
	}
	c->rbuf.len += (size_t)nread;
	size_t off = 0;
	while (c->state == CONN_UP) {
		size_t len;
		int whole = cairn_proto_frame_split(c->rbuf.data + off, c->rbuf.len - off, &len);
		if (whole < 0) {
			fprintf(stderr, "cairn-bench: bad frame length from %s\n",
				b->endpoints[b->target].text);
			conn_fail(c);
			return;
		}
		if (whole == 0)
			break;
		const uint8_t *body = c->rbuf.data + off + CAIRN_PROTO_PREFIX_BYTES;
		off += CAIRN_PROTO_PREFIX_BYTES + len;
		if (cairn_proto_decode_reply(body, len, &b->reply) != 0) {
			fprintf(stderr, "cairn-bench: bad reply from %s: %s\n",
				b->endpoints[b->target].text, b->reply.why);
			conn_fail(c);
			return;
		}
		handle_reply(b, c, &b->reply);
	}
	if (c->state == CONN_UP)
		cairn_buf_consume(&c->rbuf, off);
}

static void read_start(struct conn *c)
{
	int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	if (rc != 0)
		conn_fail(c);
}

/* ---- timers: pacing, timeouts, progress --------------------------------- */

static void pacer_cb(uv_timer_t *t)
{
	struct bench *b = t->data;
	uint64_t now = now_ns();
	uint64_t due = due_count(b, now);
	/* A due request meets an idle client here only because the timer
	 * fires at millisecond steps (a request that found every client busy
	 * is started by client_next() with its scheduled time), so the delay
	 * is the pacer's, not the server's: latency starts now. */
	while (b->issued < due && b->idle_count > 0) {
		struct lclient *lc = &b->clients[b->idle[--b->idle_count]];
		client_issue(b, lc, now);
	}
}

static void print_progress(struct bench *b, uint64_t now, bool last)
{
	double secs = (double)(now - b->t0_ns) / 1e9;
	uint64_t errs = b->completed - b->ok;
	fprintf(stderr, "\r  %" PRIu64 "/%" PRIu64 " done  %.0f req/s  %" PRIu64 " errors  %.1fs%s",
		b->completed, b->o.total, secs > 0 ? (double)b->ok / secs : 0.0, errs, secs,
		last ? "\n" : "   ");
}

static void tick_cb(uv_timer_t *t)
{
	struct bench *b = t->data;
	uint64_t now = now_ns();
	for (uint32_t i = 0; i < b->o.clients && !b->stopping; i++) {
		struct lclient *lc = &b->clients[i];
		if (lc->state != LC_IDLE && now >= lc->deadline_ns)
			client_finish(b, lc, BENCH_ERR_TIMEOUT);
	}
	if (b->stopping)
		return;
	uint64_t quiet_ns = now - (b->ok > 0 ? b->last_ok_ns : b->t0_ns);
	if (quiet_ns > 3u * (uint64_t)b->o.timeout_ms * 1000000u) {
		fprintf(stderr, "\ncairn-bench: no request succeeded for %.1f s; giving up\n",
			(double)quiet_ns / 1e9);
		b->exit_code = 3;
		b->t_end_ns = now;
		bench_stop(b);
		return;
	}
	if (b->o.progress && now - b->last_progress_ns >= 1000000000u) {
		b->last_progress_ns = now;
		print_progress(b, now, false);
	}
}

static void stop_conn(struct conn *c)
{
	if (c->state == CONN_UP || c->state == CONN_CONNECTING)
		conn_close(c);
}

/* Closes every handle; uv_run() returns once they are gone. */
static void bench_stop(struct bench *b)
{
	if (b->stopping)
		return;
	b->stopping = true;
	for (uint32_t i = 0; i < b->o.conns; i++)
		stop_conn(&b->conns[i]);
	uv_close((uv_handle_t *)&b->flush, NULL);
	uv_close((uv_handle_t *)&b->tick, NULL);
	uv_close((uv_handle_t *)&b->rotate, NULL);
	uv_close((uv_handle_t *)&b->pacer, NULL);
}

/* ---- report ------------------------------------------------------------- */

static void report(struct bench *b)
{
	uint64_t n = b->ok;
	qsort(b->samples, n, sizeof(b->samples[0]), cmp_u64);
	double secs = (double)(b->t_end_ns - b->t0_ns) / 1e9;
	double sum = 0.0;
	for (uint64_t i = 0; i < n; i++)
		sum += (double)b->samples[i];
	double avg = n > 0 ? sum / (double)n : 0.0;
	double var = 0.0;
	for (uint64_t i = 0; i < n; i++) {
		double d = (double)b->samples[i] - avg;
		var += d * d;
	}
	double sd = n > 1 ? sqrt(var / (double)(n - 1)) : 0.0;
	double tput = secs > 0.0 ? (double)n / secs : 0.0;
	uint64_t errors = b->completed - b->ok;
	uint64_t p50 = percentile_ns(b->samples, n, 500);
	uint64_t p90 = percentile_ns(b->samples, n, 900);
	uint64_t p99 = percentile_ns(b->samples, n, 990);
	uint64_t p999 = percentile_ns(b->samples, n, 999);
	uint64_t max = n > 0 ? b->samples[n - 1] : 0;

	printf("\nSummary:\n");
	printf("  Total:\t%.4f secs.\n", secs);
	printf("  Slowest:\t%.4f ms.\n", ns_to_ms(max));
	printf("  Fastest:\t%.4f ms.\n", ns_to_ms(n > 0 ? b->samples[0] : 0));
	printf("  Average:\t%.4f ms.\n", avg / 1e6);
	printf("  Stddev:\t%.4f ms.\n", sd / 1e6);
	printf("  Requests/sec:\t%.1f\n", tput);
	printf("\nLatency distribution:\n");
	static const uint32_t marks[] = {100, 250, 500, 750, 900, 950, 990, 999};
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		printf("  %g%% in %.4f ms.\n", marks[i] / 10.0,
		       ns_to_ms(percentile_ns(b->samples, n, marks[i])));
	printf("  100%% in %.4f ms.\n", ns_to_ms(max));
	printf("\nOutcomes: ok %" PRIu64 " (not found %" PRIu64 "), errors %" PRIu64, b->ok,
	       b->not_found, errors);
	for (int i = 0; i < BENCH_ERR_COUNT; i++)
		if (b->errors[i] > 0)
			printf(", %s %" PRIu64, bench_err_names[i], b->errors[i]);
	printf("; redirects %" PRIu64 ", reconnects %" PRIu64 "; leader %s\n", b->redirects,
	       b->reconnects, b->leader_seen ? b->endpoints[b->target].text : "none");
	printf("{\"op\": \"%s\", \"clients\": %u, \"conns\": %u, \"total\": %" PRIu64
	       ", \"errors\": %" PRIu64 ", \"throughput\": %.1f, \"p50_ms\": %.3f, \"p90_ms\": "
	       "%.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f, \"ok\": %" PRIu64
	       ", \"not_found\": %" PRIu64 ", \"redirects\": %" PRIu64 ", \"reconnects\": %" PRIu64
	       ", \"rate\": %.1f, \"elapsed_s\": %.3f}\n",
	       op_name(b->o.op), b->o.clients, b->o.conns, b->o.total, errors, tput, ns_to_ms(p50),
	       ns_to_ms(p90), ns_to_ms(p99), ns_to_ms(p999), ns_to_ms(max), b->ok, b->not_found,
	       b->redirects, b->reconnects, b->o.rate, secs);
	fflush(stdout);
}

/* ---- set-up ------------------------------------------------------------- */

static int load_endpoints(struct bench *b)
{
	char err[512];
	if (b->o.config_path != NULL) {
		struct cairn_config *cfg = calloc(1, sizeof(*cfg));
		if (cfg == NULL)
			return CAIRN_ENOMEM;
		int rc = cairn_config_load(b->o.config_path, cfg, err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "cairn-bench: %s\n", err);
			free(cfg);
			return rc;
		}
		for (size_t i = 0; i < cfg->node_count && i < BENCH_ENDPOINTS_MAX; i++)
			snprintf(b->o.endpoints[i], sizeof(b->o.endpoints[i]), "%s",
				 cfg->nodes[i].client.text);
		b->o.endpoint_count = cfg->node_count;
		cairn_config_free(cfg);
		free(cfg);
	}
	for (size_t i = 0; i < b->o.endpoint_count; i++) {
		struct endpoint *e = &b->endpoints[i];
		snprintf(e->text, sizeof(e->text), "%s", b->o.endpoints[i]);
		if (resolve(e->text, &e->sa, err, sizeof(err)) != 0) {
			fprintf(stderr, "cairn-bench: endpoint %s\n", err);
			return CAIRN_EINVAL;
		}
	}
	b->endpoint_count = b->o.endpoint_count;
	return 0;
}

static int bench_init(struct bench *b)
{
	int rc = load_endpoints(b);
	if (rc != 0)
		return rc;
	b->conns = calloc(b->o.conns, sizeof(*b->conns));
	b->clients = calloc(b->o.clients, sizeof(*b->clients));
	b->idle = calloc(b->o.clients, sizeof(*b->idle));
	b->samples = malloc(b->o.total * sizeof(*b->samples));
	b->key = malloc(b->o.key_bytes);
	b->value = malloc(b->o.value_bytes > 0 ? b->o.value_bytes : 1);
	if (b->conns == NULL || b->clients == NULL || b->idle == NULL || b->samples == NULL ||
	    b->key == NULL || b->value == NULL)
		return CAIRN_ENOMEM;
	memset(b->value, 'v', b->o.value_bytes);
	cairn_rand_seed(&b->rng, b->o.seed);
	/* Client ids must differ from run to run: the server remembers each
	 * client's last sequence number, and a reused id with sequence 1
	 * would be answered from that memory instead of being applied. */
	struct cairn_rand idr;
	cairn_rand_seed(&idr, now_ns() ^ ((uint64_t)getpid() << 32));
	uint64_t base = (cairn_rand_next(&idr) >> 2) + 1u;
	for (uint32_t i = 0; i < b->o.clients; i++) {
		b->clients[i].index = i;
		b->clients[i].client_id = base + i;
	}
	for (uint32_t i = 0; i < b->o.conns; i++) {
		struct conn *c = &b->conns[i];
		c->b = b;
		c->index = i;
		cairn_buf_init(&c->rbuf, BENCH_RBUF_BYTES_MAX);
		cairn_buf_init(&c->out, BENCH_WBUF_BYTES_MAX);
		cairn_buf_init(&c->flight, BENCH_WBUF_BYTES_MAX);
	}
	b->loop = uv_default_loop();
	uv_prepare_init(b->loop, &b->flush);
	uv_timer_init(b->loop, &b->tick);
	uv_timer_init(b->loop, &b->rotate);
	uv_timer_init(b->loop, &b->pacer);
	b->flush.data = b->tick.data = b->rotate.data = b->pacer.data = b;
	return 0;
}

static void bench_free(struct bench *b)
{
	for (uint32_t i = 0; b->conns != NULL && i < b->o.conns; i++) {
		cairn_buf_free(&b->conns[i].rbuf);
		cairn_buf_free(&b->conns[i].out);
		cairn_buf_free(&b->conns[i].flight);
	}
	free(b->conns);
	free(b->clients);
	free(b->idle);
	free(b->samples);
	free(b->key);
	free(b->value);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: cairn-bench (--config FILE | --endpoints HOST:PORT,...) [options]\n"
		   "  --clients C        logical clients, one request in flight each (1)\n"
		   "  --conns N          connections they share, pipelined (min(C, 64))\n"
		   "  --total N          requests in all (10000)\n"
		   "  --op put|get|mixed (put); --read-percent P  gets in mixed (50)\n"
		   "  --key-bytes B (8)  --value-bytes B (256)  --keyspace K (100000)\n"
		   "  --sequential       keys 0,1,2,... in order (to preload a keyspace)\n"
		   "  --rate R           open loop: R requests/s, latency from schedule\n"
		   "  --timeout MS       per request, retries included (5000)\n"
		   "  --seed S           key choice (1)\n"
		   "  --progress, --no-progress   progress line on stderr (default: on a tty)\n"
		   "Prints etcd-benchmark-like figures and, last, one JSON line.\n"
		   "Exit: 0 all ok, 1 some requests failed, 2 usage, 3 no progress.\n");
}

int main(int argc, char **argv)
{
	static struct bench bench;
	struct bench *b = &bench;
	char err[512];
	if (parse_args(argc, (const char *const *)argv, &b->o, err, sizeof(err)) != 0) {
		fprintf(stderr, "cairn-bench: %s\n", err);
		usage(stderr);
		return 2;
	}
	if (b->o.help) {
		usage(stdout);
		return 0;
	}
	int rc = bench_init(b);
	if (rc != 0) {
		if (rc == CAIRN_ENOMEM)
			fprintf(stderr, "cairn-bench: %s\n", cairn_strerror(rc));
		bench_free(b);
		return 2;
	}
	printf("cairn-bench: op=%s clients=%u conns=%u total=%" PRIu64
	       " key=%uB value=%uB keyspace=%" PRIu64 "%s",
	       op_name(b->o.op), b->o.clients, b->o.conns, b->o.total, b->o.key_bytes,
	       b->o.value_bytes, b->o.keyspace, b->o.sequential ? " sequential" : "");
	if (b->o.rate > 0.0)
		printf(" rate=%.1f/s", b->o.rate);
	printf("\n");
	fflush(stdout);

	b->t0_ns = now_ns();
	b->last_progress_ns = b->t0_ns;
	uv_prepare_start(&b->flush, flush_cb);
	uv_timer_start(&b->tick, tick_cb, BENCH_TICK_MS, BENCH_TICK_MS);
	for (uint32_t i = 0; i < b->o.conns; i++)
		conn_connect(&b->conns[i]);
	if (b->o.rate == 0.0) {
		for (uint32_t i = 0; i < b->o.clients && b->issued < b->o.total; i++)
			client_issue(b, &b->clients[i], now_ns());
	} else {
		for (uint32_t i = b->o.clients; i > 0; i--)
			b->idle[b->idle_count++] = i - 1;
		uv_timer_start(&b->pacer, pacer_cb, 0, 1);
	}
	uv_run(b->loop, UV_RUN_DEFAULT);
	if (b->o.progress)
		print_progress(b, b->t_end_ns, true);
	report(b);
	rc = uv_loop_close(b->loop);
	assert(rc == 0);
	int code = b->exit_code != 0 ? b->exit_code : b->completed > b->ok ? 1 : 0;
	bench_free(b);
	return code;
}

#endif /* CAIRN_BENCH_NO_MAIN */
