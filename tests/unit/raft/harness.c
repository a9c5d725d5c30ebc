/*
 * harness.c - the in-test cluster of harness.h. Messages and entries are
 * deep-copied out of each Ready before advance(), as a real caller must.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size);
	cr_assert(q != NULL);
	return q;
}

static struct cairn_raft_entry entry_copy(const struct cairn_raft_entry *e)
{
	struct cairn_raft_entry c = *e;
	if (e->len > 0) {
		uint8_t *d = malloc(e->len);
		cr_assert(d != NULL);
		memcpy(d, e->data, e->len);
		c.data = d;
	} else {
		c.data = NULL;
	}
	return c;
}

static void entries_push(struct tentries *t, const struct cairn_raft_entry *e)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n++] = entry_copy(e);
}

static void entries_truncate(struct tentries *t, size_t n)
{
	while (t->n > n)
		free((void *)(uintptr_t)t->v[--t->n].data);
}

static void entries_free(struct tentries *t)
{
	entries_truncate(t, 0);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static void msg_free(struct tmsg *t)
{
	for (uint32_t i = 0; i < t->m.n_entries; i++)
		free((void *)(uintptr_t)t->ents[i].data);
	free(t->ents);
}

static void msgs_push(struct tmsgs *q, const struct cairn_raft_msg *m)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 16;
		q->v = xrealloc(q->v, q->cap * sizeof(*q->v));
	}
	struct tmsg *t = &q->v[q->n++];
	t->m = *m;
	t->ents = NULL;
	if (m->n_entries > 0) {
		t->ents = calloc(m->n_entries, sizeof(*t->ents));
		cr_assert(t->ents != NULL);
		for (uint32_t i = 0; i < m->n_entries; i++)
			t->ents[i] = entry_copy(&m->entries[i]);
	}
	t->m.entries = t->ents;
}

static void msgs_free(struct tmsgs *q)
{
	for (size_t i = 0; i < q->n; i++)
		msg_free(&q->v[i]);
	free(q->v);
	memset(q, 0, sizeof(*q));
}

struct net *net_new(size_t n)
{
	cr_assert(n >= 1 && n <= NET_MAX);
	struct net *net = calloc(1, sizeof(*net));
	cr_assert(net != NULL);
	net->n = n;
	for (size_t i = 0; i < n; i++) {
		net->members[i] = i + 1;
		net->nodes[i].id = i + 1;
	}
	net->cfg = (struct cairn_raft_config){
		.members = net->members,
		.n_members = n,
		.heartbeat_ticks = 1,
		.election_ticks = 10,
		.pre_vote = true,
		.check_quorum = true,
	};
	net->auto_persist = true;
	return net;
}

static void node_start(struct net *net, struct tnode *nd)
{
	struct cairn_raft_config cfg = net->cfg;
	cfg.id = nd->id;
	cfg.seed = 1000 + nd->id;
	struct cairn_raft_restore rs = {
		.hard_state = nd->hs,
		.log = nd->disk.v,
		.n_log = nd->disk.n,
		.first_prev_index = nd->disk_prev_index,
		.first_prev_term = nd->disk_prev_term,
		.applied = nd->applied,
	};
	int rv = cairn_raft_create(&nd->r, &cfg, &rs);
	cr_assert_eq(rv, 0, "create: %d", rv);
	nd->down = false;
}

void net_start(struct net *net)
{
	for (size_t i = 0; i < net->n; i++)
		node_start(net, &net->nodes[i]);
}

static void pending_free(struct tnode *nd)
{
	for (size_t i = 0; i < nd->n_pending; i++) {
		entries_free(&nd->pending[i].ents);
		msgs_free(&nd->pending[i].after);
	}
	nd->n_pending = 0;
}

void net_free(struct net *net)
{
	for (size_t i = 0; i < net->n; i++) {
		struct tnode *nd = &net->nodes[i];
		cairn_raft_destroy(nd->r);
		entries_free(&nd->disk);
		entries_free(&nd->committed);
		pending_free(nd);
		free(nd->pending);
	}
	msgs_free(&net->q);
	free(net->trace);
	free(net);
}

struct tnode *net_node(struct net *net, uint64_t id)
{
	cr_assert(id >= 1 && id <= net->n);
	return &net->nodes[id - 1];
}

struct cairn_raft *net_core(struct net *net, uint64_t id)
{
	return net_node(net, id)->r;
}

static void send(struct net *net, const struct cairn_raft_msg *m)
{
	net->sent_by_type[m->type]++;
	msgs_push(&net->q, m);
}

/* Apply a write to the disk and release what waited for it. */
/* The disk's log starts after (index, term); it keeps what follows only if
 * it holds term at index (Figure 13). */
static void disk_install(struct tnode *nd, uint64_t index, uint64_t term)
{
	uint64_t prev = nd->disk_prev_index;
	bool keep = index > prev && index <= prev + nd->disk.n &&
		    nd->disk.v[index - prev - 1].term == term;
	size_t drop = keep ? (size_t)(index - prev) : nd->disk.n;
	for (size_t i = 0; i < drop; i++)
		free((void *)(uintptr_t)nd->disk.v[i].data);
	if (drop < nd->disk.n)
		memmove(nd->disk.v, nd->disk.v + drop, (nd->disk.n - drop) * sizeof(*nd->disk.v));
	nd->disk.n -= drop;
	nd->disk_prev_index = index;
	nd->disk_prev_term = term;
}

static void write_durable(struct net *net, struct tnode *nd, struct twrite *w)
{
	if (w->has_snap)
		disk_install(nd, w->snap_index, w->snap_term);
	if (w->has_hs)
		nd->hs = w->hs;
	if (w->ents.n > 0) {
		uint64_t first = w->ents.v[0].index;
		cr_assert(first > nd->disk_prev_index &&
				  first <= nd->disk_prev_index + nd->disk.n + 1,
			  "write leaves a gap");
		entries_truncate(&nd->disk, (size_t)(first - 1 - nd->disk_prev_index));
		for (size_t i = 0; i < w->ents.n; i++)
			entries_push(&nd->disk, &w->ents.v[i]);
	}
	for (size_t i = 0; i < w->after.n; i++)
		send(net, &w->after.v[i].m);
	if (nd->disk.n > 0) {
		const struct cairn_raft_entry *last = &nd->disk.v[nd->disk.n - 1];
		cairn_raft_persisted(nd->r, last->index, last->term);
	} else if (nd->disk_prev_index > 0) {
		cairn_raft_persisted(nd->r, nd->disk_prev_index, nd->disk_prev_term);
	}
	entries_free(&w->ents);
	msgs_free(&w->after);
}

void net_persist_one(struct net *net, uint64_t id)
{
	struct tnode *nd = net_node(net, id);
	if (nd->n_pending == 0)
		return;
	struct twrite w = nd->pending[0];
	memmove(&nd->pending[0], &nd->pending[1], (nd->n_pending - 1) * sizeof(w));
	nd->n_pending--;
	write_durable(net, nd, &w);
	net_drain(net, id);
}

void net_persist(struct net *net, uint64_t id)
{
	while (net_node(net, id)->n_pending > 0)
		net_persist_one(net, id);
}

static void record_ready(struct tnode *nd, const struct cairn_raft_ready *rd)
{
	if (rd->has_snapshot) {
		cr_assert(rd->snapshot_index > nd->applied, "install below applied");
		nd->applied = rd->snapshot_index; /* the state machine is that state */
		nd->snap_index = rd->snapshot_index;
		nd->snap_term = rd->snapshot_term;
		nd->n_installs++;
	}
	for (size_t i = 0; i < rd->n_committed; i++) {
		const struct cairn_raft_entry *e = &rd->committed[i];
		cr_assert_eq(e->index, nd->applied + 1, "committed out of order");
		entries_push(&nd->committed, e);
		nd->applied = e->index;
	}
	for (size_t i = 0; i < rd->n_reads; i++) {
		cr_assert(nd->n_reads < 256);
		nd->reads_ctx[nd->n_reads] = rd->reads[i].ctx;
		nd->reads_index[nd->n_reads++] = rd->reads[i].index;
	}
	for (size_t i = 0; i < rd->n_reads_dropped; i++) {
		cr_assert(nd->n_dropped < 256);
		nd->dropped[nd->n_dropped++] = rd->reads_dropped[i];
	}
}

void net_drain(struct net *net, uint64_t id)
{
	struct tnode *nd = net_node(net, id);
	if (nd->down)
		return;
	for (int guard = 0; cairn_raft_has_ready(nd->r); guard++) {
		cr_assert(guard < 1000, "ready never drains");
		struct cairn_raft_ready rd;
		cairn_raft_ready(nd->r, &rd);
		for (size_t i = 0; i < rd.n_msgs; i++)
			send(net, &rd.msgs[i]);
		struct twrite w = {
			.has_snap = rd.has_snapshot,
			.snap_index = rd.snapshot_index,
			.snap_term = rd.snapshot_term,
			.has_hs = rd.has_hard_state,
			.hs = rd.hard_state,
		};
		for (size_t i = 0; i < rd.n_entries; i++)
			entries_push(&w.ents, &rd.entries[i]);
		for (size_t i = 0; i < rd.n_msgs_after_persist; i++)
			msgs_push(&w.after, &rd.msgs_after_persist[i]);
		record_ready(nd, &rd);
		cairn_raft_advance(nd->r, &rd);
		if (net->auto_persist && nd->n_pending == 0) {
			write_durable(net, nd, &w);
		} else {
			if (nd->n_pending == nd->cap_pending) {
				nd->cap_pending = nd->cap_pending ? nd->cap_pending * 2 : 8;
				nd->pending = xrealloc(nd->pending, nd->cap_pending * sizeof(w));
			}
			nd->pending[nd->n_pending++] = w;
		}
	}
}

void net_drain_all(struct net *net)
{
	for (size_t i = 0; i < net->n; i++)
		net_drain(net, i + 1);
}

static bool matches(const struct tmsg *t, int type, uint64_t to)
{
	return (type == 0 || t->m.type == type) && (to == 0 || t->m.to == to);
}

static void trace_msg(struct net *net, const struct cairn_raft_msg *m)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%lu->%lu %s t%lu", (unsigned long)m->from,
			 (unsigned long)m->to, cairn_raft_msg_name(m->type),
			 (unsigned long)m->term);
	switch (m->type) {
	case CAIRN_RAFT_MSG_PREVOTE:
	case CAIRN_RAFT_MSG_VOTE:
		n += snprintf(line + n, sizeof(line) - (size_t)n, " last=%lu/%lu",
			      (unsigned long)m->last_log_index, (unsigned long)m->last_log_term);
		break;
	case CAIRN_RAFT_MSG_APPEND:
		n += snprintf(line + n, sizeof(line) - (size_t)n, " prev=%lu/%lu n=%u commit=%lu",
			      (unsigned long)m->prev_index, (unsigned long)m->prev_term,
			      m->n_entries, (unsigned long)m->commit);
		break;
	case CAIRN_RAFT_MSG_APPEND_REPLY:
		n += snprintf(line + n, sizeof(line) - (size_t)n, " index=%lu",
			      (unsigned long)m->index);
		if (m->reject)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " hint=%lu/%lu",
				      (unsigned long)m->hint_term, (unsigned long)m->hint_index);
		break;
	case CAIRN_RAFT_MSG_HEARTBEAT:
		n += snprintf(line + n, sizeof(line) - (size_t)n, " commit=%lu read=%lu",
			      (unsigned long)m->commit, (unsigned long)m->read_seq);
		break;
	case CAIRN_RAFT_MSG_HEARTBEAT_REPLY:
		n += snprintf(line + n, sizeof(line) - (size_t)n, " read=%lu",
			      (unsigned long)m->read_seq);
		break;
	case CAIRN_RAFT_MSG_SNAPSHOT:
		n += snprintf(line + n, sizeof(line) - (size_t)n, " state=%lu/%lu commit=%lu",
			      (unsigned long)m->prev_index, (unsigned long)m->prev_term,
			      (unsigned long)m->commit);
		break;
	default:
		break;
	}
	if (m->reject && m->type != CAIRN_RAFT_MSG_APPEND_REPLY)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " reject");
	n += snprintf(line + n, sizeof(line) - (size_t)n, "\n");
	net->trace = xrealloc(net->trace, net->trace_len + (size_t)n + 1);
	memcpy(net->trace + net->trace_len, line, (size_t)n + 1);
	net->trace_len += (size_t)n;
}

void net_trace_start(struct net *net)
{
	net->tracing = true;
	net->trace_len = 0;
	net->trace = xrealloc(net->trace, 1);
	net->trace[0] = '\0';
}

const char *net_trace(struct net *net)
{
	return net->trace != NULL ? net->trace : "";
}

/* The term at index of what member nd applied (0 if unknown). */
static uint64_t applied_term(const struct tnode *nd, uint64_t index)
{
	for (size_t i = 0; i < nd->committed.n; i++)
		if (nd->committed.v[i].index == index)
			return nd->committed.v[i].term;
	if (index == nd->snap_index)
		return nd->snap_term;
	return 0;
}

static void deliver_at(struct net *net, size_t i)
{
	struct tmsg t = net->q.v[i];
	memmove(&net->q.v[i], &net->q.v[i + 1], (net->q.n - i - 1) * sizeof(t));
	net->q.n--;
	uint64_t to = t.m.to;
	if (t.m.type == CAIRN_RAFT_MSG_SNAPSHOT && t.m.prev_index == 0) {
		/* The leader's host sends its state at its applied index. */
		const struct tnode *from = net_node(net, t.m.from);
		t.m.prev_index = from->applied;
		t.m.prev_term = applied_term(from, from->applied);
	}
	if (!net->cut[t.m.from][to] && !net_node(net, to)->down) {
		if (net->tracing)
			trace_msg(net, &t.m);
		int rv = cairn_raft_step(net_core(net, to), &t.m);
		cr_assert_eq(rv, 0, "step %s %lu->%lu: %d", cairn_raft_msg_name(t.m.type),
			     (unsigned long)t.m.from, (unsigned long)to, rv);
		net->delivered++;
		net_drain(net, to);
	}
	msg_free(&t);
}

bool net_deliver_one(struct net *net, int type, uint64_t to)
{
	for (size_t i = 0; i < net->q.n; i++) {
		if (matches(&net->q.v[i], type, to)) {
			deliver_at(net, i);
			return true;
		}
	}
	return false;
}

size_t net_stabilize(struct net *net)
{
	size_t before = net->delivered;
	net_drain_all(net);
	for (int guard = 0; net->q.n > 0; guard++) {
		cr_assert(guard < 100000, "the cluster never goes quiet");
		deliver_at(net, 0);
	}
	return net->delivered - before;
}

void net_drop_all(struct net *net)
{
	msgs_free(&net->q);
}

size_t net_count(const struct net *net, int type, uint64_t from, uint64_t to)
{
	size_t n = 0;
	for (size_t i = 0; i < net->q.n; i++)
		n += matches(&net->q.v[i], type, to) && (from == 0 || net->q.v[i].m.from == from);
	return n;
}

struct tmsg *net_find(struct net *net, int type, uint64_t to, size_t i)
{
	for (size_t k = 0; k < net->q.n; k++)
		if (matches(&net->q.v[k], type, to) && i-- == 0)
			return &net->q.v[k];
	return NULL;
}

void net_tick(struct net *net, uint64_t id)
{
	struct tnode *nd = net_node(net, id);
	if (nd->down)
		return;
	cairn_raft_tick(nd->r);
	net_drain(net, id);
}

void net_tick_all(struct net *net)
{
	for (size_t i = 0; i < net->n; i++)
		net_tick(net, i + 1);
}

void net_tick_until_campaign(struct net *net, uint64_t id)
{
	for (int i = 0; i < 100 && net_role(net, id) == CAIRN_RAFT_FOLLOWER; i++)
		net_tick(net, id);
	cr_assert_neq(net_role(net, id), CAIRN_RAFT_FOLLOWER, "never campaigned");
}

void net_campaign_unheard(struct net *net, uint64_t id)
{
	net_tick_until_campaign(net, id);
	net_drop_all(net);
}

void net_campaign(struct net *net, uint64_t id)
{
	net_tick_until_campaign(net, id);
	net_stabilize(net);
}

void net_elect(struct net *net, uint64_t id)
{
	net_campaign(net, id);
	cr_assert_eq(net_role(net, id), CAIRN_RAFT_LEADER, "%lu did not win", (unsigned long)id);
}

void net_cut(struct net *net, uint64_t from, uint64_t to)
{
	net->cut[from][to] = true;
}

void net_isolate(struct net *net, uint64_t id)
{
	for (size_t i = 1; i <= net->n; i++) {
		net->cut[id][i] = true;
		net->cut[i][id] = true;
	}
}

void net_heal(struct net *net)
{
	memset(net->cut, 0, sizeof(net->cut));
}

void net_crash(struct net *net, uint64_t id)
{
	struct tnode *nd = net_node(net, id);
	cairn_raft_destroy(nd->r);
	nd->r = NULL;
	nd->down = true;
	pending_free(nd);
}

void net_restart(struct net *net, uint64_t id)
{
	struct tnode *nd = net_node(net, id);
	cr_assert(nd->down);
	node_start(net, nd);
}

int net_propose(struct net *net, uint64_t id, const char *s, uint64_t *index)
{
	uint64_t idx = 0;
	int rv = cairn_raft_propose(net_core(net, id), s, (uint32_t)strlen(s), &idx);
	if (index != NULL)
		*index = idx;
	net_drain(net, id);
	return rv;
}

enum cairn_raft_role net_role(struct net *net, uint64_t id)
{
	struct cairn_raft_status st;
	cairn_raft_status(net_core(net, id), &st);
	return st.role;
}

uint64_t net_term(struct net *net, uint64_t id)
{
	struct cairn_raft_status st;
	cairn_raft_status(net_core(net, id), &st);
	return st.term;
}

uint64_t net_commit(struct net *net, uint64_t id)
{
	struct cairn_raft_status st;
	cairn_raft_status(net_core(net, id), &st);
	return st.commit;
}

uint64_t net_leader(struct net *net)
{
	uint64_t leader = CAIRN_RAFT_NONE;
	for (size_t i = 1; i <= net->n; i++) {
		if (!net_node(net, i)->down && net_role(net, i) == CAIRN_RAFT_LEADER) {
			cr_assert(leader == CAIRN_RAFT_NONE ||
				  net_term(net, i) != net_term(net, leader));
			if (leader == CAIRN_RAFT_NONE || net_term(net, i) > net_term(net, leader))
				leader = i;
		}
	}
	return leader;
}

int net_step(struct net *net, const struct cairn_raft_msg *m)
{
	int rv = cairn_raft_step(net_core(net, m->to), m);
	net_drain(net, m->to);
	return rv;
}

void net_preload(struct net *net, uint64_t id, uint64_t term, uint64_t vote, const uint64_t *terms,
		 size_t n)
{
	struct tnode *nd = net_node(net, id);
	nd->hs = (struct cairn_raft_hard_state){.term = term, .vote = vote};
	for (size_t i = 0; i < n; i++) {
		struct cairn_raft_entry e = {
			.term = terms[i],
			.index = i + 1,
			.type = CAIRN_RAFT_ENTRY_NORMAL,
		};
		entries_push(&nd->disk, &e);
	}
}

void net_until_role(struct net *net, uint64_t id, enum cairn_raft_role role)
{
	net_drain_all(net);
	while (net_role(net, id) != role)
		cr_assert(net_deliver_one(net, 0, 0), "queue ran dry before the role was reached");
}

struct cairn_raft_msg net_append_msg(uint64_t from, uint64_t to, uint64_t term, uint64_t prev_index,
				     uint64_t prev_term, uint64_t commit,
				     const struct cairn_raft_entry *ents, uint32_t n)
{
	return (struct cairn_raft_msg){.type = CAIRN_RAFT_MSG_APPEND,
				       .from = from,
				       .to = to,
				       .term = term,
				       .prev_index = prev_index,
				       .prev_term = prev_term,
				       .commit = commit,
				       .entries = ents,
				       .n_entries = n};
}

struct cairn_raft_msg net_snapshot_msg(uint64_t from, uint64_t to, uint64_t term, uint64_t index,
				       uint64_t index_term, uint64_t commit)
{
	return (struct cairn_raft_msg){.type = CAIRN_RAFT_MSG_SNAPSHOT,
				       .from = from,
				       .to = to,
				       .term = term,
				       .prev_index = index,
				       .prev_term = index_term,
				       .commit = commit};
}

struct cairn_raft_entry net_entry(uint64_t index, uint64_t term, const char *s)
{
	return (struct cairn_raft_entry){.index = index,
					 .term = term,
					 .type = CAIRN_RAFT_ENTRY_NORMAL,
					 .len = (uint32_t)strlen(s),
					 .data = (const uint8_t *)s};
}

struct cairn_raft_config net_lone_config(void)
{
	static const uint64_t one[] = {1};
	return (struct cairn_raft_config){.id = 1,
					  .members = one,
					  .n_members = 1,
					  .heartbeat_ticks = 1,
					  .election_ticks = 10,
					  .seed = 7};
}

struct cairn_raft_status net_status(struct net *net, uint64_t id)
{
	struct cairn_raft_status st;
	cairn_raft_status(net_core(net, id), &st);
	return st;
}

void net_expect_sent_once_persisted(struct net *net, uint64_t id, int type, uint64_t to)
{
	cr_assert_eq(net_count(net, type, id, to), 0, "%s held until durable",
		     cairn_raft_msg_name(type));
	net_persist(net, id);
	cr_assert_eq(net_count(net, type, id, to), 1, "%s sent once durable",
		     cairn_raft_msg_name(type));
}
