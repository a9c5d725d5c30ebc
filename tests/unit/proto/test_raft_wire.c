/* Every message the real Raft core emits survives the wire: a three-member
 * cluster whose only channel is encode -> frame -> decode elects a leader,
 * commits proposals of every size and hands leadership over, and a follower
 * cut off while the leader compacts its log catches up through a SNAPSHOT. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "cairn/raft.h"
#include "gen.h"
#include "proto/proto.h"

#define N 3
#define PROPOSALS 40

static const uint64_t members[N] = {1, 2, 3};
static struct cairn_raft *node[N];
static struct cairn_buf inbox[N]; /* frames on their way to each member */
static struct cairn_proto_peer *peer;
static int seen_types[CAIRN_RAFT_MSG_TYPE_MAX + 1];
static uint64_t committed[N]; /* NORMAL entries applied, per member */
static uint8_t *payload;
static struct cairn_buf spare; /* swapped with an inbox while it is delivered */
static bool cut[N];            /* cut off: nothing reaches or leaves it */
/* The state machine of each member, as far as this test plays it: the last
 * applied index and its term, and snapshots installed. */
static uint64_t applied_index[N];
static uint64_t applied_term[N];
static int installed[N];

static void setup(void)
{
	payload = malloc(CAIRN_ENTRY_BYTES_MAX);
	peer = malloc(sizeof *peer);
	cr_assert(payload != NULL && peer != NULL);
	cairn_buf_init(&spare, 0);
	for (size_t i = 0; i < CAIRN_ENTRY_BYTES_MAX; i++)
		payload[i] = (uint8_t)(i * 7);
	for (int i = 0; i < N; i++) {
		struct cairn_raft_config cfg = {.id = members[i],
						.members = members,
						.n_members = N,
						.heartbeat_ticks = 1,
						.election_ticks = 10,
						.seed = 100 + (uint64_t)i,
						.pre_vote = true,
						.check_quorum = true};
		cr_assert_eq(cairn_raft_create(&node[i], &cfg, NULL), 0);
		cairn_buf_init(&inbox[i], 0);
	}
}

static void teardown(void)
{
	cairn_buf_free(&spare);
	for (int i = 0; i < N; i++) {
		cairn_raft_destroy(node[i]);
		cairn_buf_free(&inbox[i]);
	}
	free(peer);
	free(payload);
}

TestSuite(raft_wire, .init = setup, .fini = teardown);

static void send_all(const struct cairn_raft_msg *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct cairn_raft_msg m = msgs[i];
		cr_assert(m.to >= 1 && m.to <= N);
		if (cut[m.from - 1] || cut[m.to - 1])
			continue;
		if (m.type == CAIRN_RAFT_MSG_SNAPSHOT) {
			/* The caller's part (raft.h): the state it streams is
			 * its state machine's, at its applied index. */
			cr_assert_eq(m.prev_index, 0);
			m.prev_index = applied_index[m.from - 1];
			m.prev_term = applied_term[m.from - 1];
		}
		struct cairn_buf *b = &inbox[m.to - 1];
		size_t start = b->len;
		int rv = cairn_proto_encode_raft(b, &m);
		cr_assert_eq(rv, 0, "the core emitted a %s the codec refuses: %s",
			     cairn_proto_type_name(m.type), cairn_strerror(rv));
		seen_types[m.type]++;
		/* Nothing the core set is lost on the way. */
		const uint8_t *f = b->data + start + CAIRN_PROTO_PREFIX_BYTES;
		cr_assert_eq(cairn_proto_decode_peer(f, cairn_get_be32(b->data + start), peer), 0);
		cr_assert(raft_eq(&peer->msg, &m), "a %s changed on the wire",
			  cairn_proto_type_name(m.type));
	}
}

/* One member's Ready, with its disk write durable at once. */
static void handle_ready(int i)
{
	while (cairn_raft_has_ready(node[i])) {
		struct cairn_raft_ready rd;
		cairn_raft_ready(node[i], &rd);
		send_all(rd.msgs, rd.n_msgs);
		send_all(rd.msgs_after_persist, rd.n_msgs_after_persist);
		if (rd.has_snapshot) {
			installed[i]++;
			applied_index[i] = rd.snapshot_index;
			applied_term[i] = rd.snapshot_term;
		}
		for (size_t k = 0; k < rd.n_committed; k++) {
			const struct cairn_raft_entry *e = &rd.committed[k];
			cr_assert_eq(e->index, applied_index[i] + 1, "applied in order");
			applied_index[i] = e->index;
			applied_term[i] = e->term;
			if (e->type != CAIRN_RAFT_ENTRY_NORMAL)
				continue;
			cr_assert(e->len == 0 || memcmp(e->data, payload, e->len) == 0,
				  "payload intact");
			committed[i]++;
		}
		bool wrote = rd.n_entries > 0;
		uint64_t index = wrote ? rd.entries[rd.n_entries - 1].index : rd.snapshot_index;
		uint64_t term = wrote ? rd.entries[rd.n_entries - 1].term : rd.snapshot_term;
		cairn_raft_advance(node[i], &rd);
		if (wrote || rd.has_snapshot)
			cairn_raft_persisted(node[i], index, term);
	}
}

/* Decode each frame waiting for member i and step it in. */
static void deliver(int i)
{
	/* Steps may queue new frames for i: take the inbox as it is now. */
	struct cairn_buf b = inbox[i];
	inbox[i] = spare;
	cairn_buf_reset(&inbox[i]);
	if (cut[i])
		b.len = 0;
	size_t off = 0;
	while (off < b.len) {
		uint32_t len = cairn_get_be32(b.data + off);
		const uint8_t *f = b.data + off + CAIRN_PROTO_PREFIX_BYTES;
		cr_assert_eq(cairn_proto_decode_peer(f, len, peer), 0, "%s", peer->why);
		cr_assert_eq(peer->msg.to, members[i]);
		cr_assert_eq(cairn_raft_step(node[i], &peer->msg), 0);
		off += CAIRN_PROTO_PREFIX_BYTES + len;
	}
	cairn_buf_reset(&b);
	spare = b;
}

static void round_(void)
{
	for (int i = 0; i < N; i++) {
		cairn_raft_tick(node[i]);
		handle_ready(i);
	}
	for (int i = 0; i < N; i++) {
		deliver(i);
		handle_ready(i);
	}
}

static int leader(void)
{
	for (int i = 0; i < N; i++) {
		struct cairn_raft_status st;
		cairn_raft_status(node[i], &st);
		if (st.role == CAIRN_RAFT_LEADER)
			return i;
	}
	return -1;
}

Test(raft_wire, a_cluster_talking_only_through_the_codec_elects_commits_and_transfers)
{
	for (int r = 0; r < 200 && leader() < 0; r++)
		round_();
	int l = leader();
	cr_assert_geq(l, 0, "a leader was elected over the wire");

	/* Sizes from empty to the largest entry the codec carries. */
	for (int p = 0; p < PROPOSALS; p++) {
		uint32_t len = p == 0 ? 0 : p == 1 ? CAIRN_ENTRY_BYTES_MAX : (uint32_t)p * 1000;
		uint64_t index;
		cr_assert_eq(cairn_raft_propose(node[l], payload, len, &index), 0);
		if (p % 8 == 0)
			round_();
	}
	cr_assert_eq(cairn_raft_read_index(node[l], 99), 0);
	for (int r = 0; r < 50; r++)
		round_();
	for (int i = 0; i < N; i++)
		cr_assert_eq(committed[i], PROPOSALS, "member %d applied everything", i + 1);

	uint64_t target = members[(l + 1) % N];
	cr_assert_eq(cairn_raft_transfer_leadership(node[l], target), 0);
	for (int r = 0; r < 50 && leader() != (l + 1) % N; r++)
		round_();
	cr_assert_eq(leader(), (l + 1) % N, "leadership moved to %llu", (unsigned long long)target);

	/* Every type but SNAPSHOT, which needs a compacted log (its own test). */
	for (int t = CAIRN_RAFT_MSG_TYPE_MIN; t <= CAIRN_RAFT_MSG_TYPE_MAX; t++) {
		if (t != CAIRN_RAFT_MSG_SNAPSHOT)
			cr_assert_gt(seen_types[t], 0, "no %s crossed the wire",
				     cairn_proto_type_name(t));
	}
}

static struct cairn_raft_status status_of(int i)
{
	struct cairn_raft_status st;
	cairn_raft_status(node[i], &st);
	return st;
}

Test(raft_wire, a_follower_behind_the_compacted_log_catches_up_through_a_snapshot)
{
	for (int r = 0; r < 200 && leader() < 0; r++)
		round_();
	int l = leader();
	cr_assert_geq(l, 0);
	int lag = (l + 1) % N, other = (l + 2) % N;
	cut[lag] = true;
	for (int p = 0; p < 30; p++) {
		cr_assert_eq(cairn_raft_propose(node[l], payload, 100, NULL), 0);
		round_();
	}
	for (int r = 0; r < 50 && committed[other] < 30; r++)
		round_();
	cr_assert_eq(committed[other], 30);

	struct cairn_raft_status st = status_of(l);
	cr_assert_eq(cairn_raft_compact(node[l], st.applied), 0);
	cr_assert_eq(status_of(l).first_index, st.applied + 1);
	cr_assert_eq(committed[lag], 0, "the cut-off follower has nothing yet");

	cut[lag] = false;
	for (int r = 0; r < 100 && status_of(lag).commit < status_of(l).commit; r++)
		round_();
	cr_assert_gt(seen_types[CAIRN_RAFT_MSG_SNAPSHOT], 0, "no snapshot crossed the wire");
	cr_assert_eq(installed[lag], 1, "the follower installed the leader's state");
	cr_assert_eq(status_of(lag).commit, status_of(l).commit);

	/* Replication resumes after the snapshot. */
	for (int p = 0; p < 5; p++)
		cr_assert_eq(cairn_raft_propose(node[l], payload, 10, NULL), 0);
	for (int r = 0; r < 50 && committed[lag] < 5; r++)
		round_();
	cr_assert_eq(committed[lag], 5, "entries after the snapshot reach the follower");
	cr_assert_eq(applied_index[lag], applied_index[l]);
}
