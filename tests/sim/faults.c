/*
 * faults.c - what happens to the cluster: clients, faults, healing, liveness.
 *
 * Clients propose and ask for reads at random members (mostly the leader).
 * Faults change the network (partitions of every shape, one-way cuts, loss,
 * duplication, delay), crash and restart members, pause them, stall their
 * disks and move leadership. At the heal every fault stops and the cluster
 * must show it is live: a stable leader, a new entry applied on every member
 * and a read answered, each within SIM_LIVENESS_ELECTIONS election timeouts
 * of the last progress.
 */
#include "sim.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"

/* ---- who leads, as far as the simulator can see ---------------------------- */

int sim_leader_now(const struct sim *s)
{
	int best = -1;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct sim_member *mb = &s->m[i];
		if (mb->core == NULL || mb->role != CAIRN_RAFT_LEADER)
			continue;
		if (best < 0 || mb->term > s->m[best].term)
			best = (int)i;
	}
	return best;
}

static int random_up(struct sim *s)
{
	uint32_t up[SIM_MEMBERS_MAX], n_up = 0;
	for (uint32_t i = 0; i < s->n; i++)
		if (s->m[i].core != NULL)
			up[n_up++] = i;
	return n_up ? (int)up[sim_draw(s, n_up)] : -1;
}

static uint32_t members_down(const struct sim *s)
{
	uint32_t down = 0;
	for (uint32_t i = 0; i < s->n; i++)
		down += s->m[i].core == NULL;
	return down;
}

/* The leader 60% of the time (clients follow hints), else anyone up. */
static int client_target(struct sim *s)
{
	int l = sim_leader_now(s);
	if (l >= 0 && sim_chance(s, 600000))
		return l;
	return random_up(s);
}

/* ---- clients ---------------------------------------------------------------- */

void sim_client_propose(struct sim *s)
{
	int t = client_target(s);
	if (t >= 0) {
		uint32_t burst = 1 + (uint32_t)(sim_chance(s, 200000) ? sim_draw(s, 8) : 0);
		for (uint32_t i = 0; i < burst && !s->failed && s->m[t].core; i++)
			sim_propose(s, &s->m[t], false);
	}
	sim_schedule(s, s->now_ms + 1 + sim_draw(s, s->client_gap_ms), SIM_EV_PROPOSE, UINT32_MAX,
		     NULL);
}

static void fault_transfer(struct sim *s);

/* Reads, and now and then an operator moving leadership (a rolling restart
 * does that) while reads and writes are in flight. */
void sim_client_read(struct sim *s)
{
	int t = client_target(s);
	if (t >= 0)
		sim_read_ask(s, &s->m[t]);
	if (!s->failed && sim_chance(s, 15000))
		fault_transfer(s);
	sim_schedule(s, s->now_ms + 1 + sim_draw(s, s->read_gap_ms), SIM_EV_READ, UINT32_MAX, NULL);
}

/* ---- faults ----------------------------------------------------------------- */

void sim_links_all(struct sim *s, bool up)
{
	for (uint32_t a = 0; a < s->n; a++)
		for (uint32_t b = 0; b < s->n; b++)
			s->link[a][b] = up;
}

/* Members in different groups cannot talk (either way). */
static void partition_groups(struct sim *s, const uint32_t *group)
{
	char desc[64];
	size_t off = 0;
	for (uint32_t a = 0; a < s->n; a++) {
		for (uint32_t b = 0; b < s->n; b++)
			s->link[a][b] = group[a] == group[b];
		off += (size_t)snprintf(desc + off, sizeof(desc) - off, " m%u:%u", a + 1, group[a]);
	}
	sim_hash(s, 10, group[0], group[1], group[s->n - 1]);
	SIM_TRACE(s, -1, "partition into groups:%s", desc);
}

static void fault_partition(struct sim *s, uint32_t how)
{
	uint32_t group[SIM_MEMBERS_MAX];
	int l = sim_leader_now(s);
	for (uint32_t i = 0; i < s->n; i++)
		group[i] = (how == 0) ? (uint32_t)sim_draw(s, s->n == 5 ? 3 : 2) : 1;
	if (how == 1) { /* the leader alone */
		if (l < 0)
			l = (int)sim_draw(s, s->n);
		group[l] = 0;
	}
	if (how == 2) { /* a minority with the leader, the majority without */
		if (l < 0)
			l = (int)sim_draw(s, s->n);
		group[l] = 0;
		uint32_t more = (uint32_t)sim_draw(s, s->n / 2);
		for (uint32_t k = 0; k < more; k++)
			group[sim_draw(s, s->n)] = 0;
	}
	partition_groups(s, group);
}

/* One-way faults: a single link, or everything into or out of a member. */
static void fault_one_way(struct sim *s)
{
	int l = sim_leader_now(s);
	uint32_t x = l >= 0 && sim_chance(s, 500000) ? (uint32_t)l : (uint32_t)sim_draw(s, s->n);
	uint32_t kind = (uint32_t)sim_draw(s, 3);
	for (uint32_t o = 0; o < s->n; o++) {
		if (o == x)
			continue;
		if (kind == 0 && sim_chance(s, 400000)) {
			s->link[x][o] = false;
			break;
		}
		if (kind == 1)
			s->link[o][x] = false; /* x is deaf */
		if (kind == 2)
			s->link[x][o] = false; /* x is mute */
	}
	sim_hash(s, 11, x, kind, 0);
	SIM_TRACE(s, -1, "one-way cut at m%u (%s)", x + 1,
		  kind == 0   ? "one outgoing link"
		  : kind == 1 ? "cannot hear"
			      : "cannot speak");
}

static void fault_crash(struct sim *s)
{
	int l = sim_leader_now(s);
	int v = l >= 0 && sim_chance(s, 350000) ? l : random_up(s);
	if (v < 0)
		return;
	/* Mostly keep a majority up; sometimes take it down too. */
	if (members_down(s) + 1 > s->n - sim_quorum(s) && !sim_chance(s, 100000))
		return;
	sim_member_crash(s, &s->m[v]);
	if (sim_chance(s, 850000))
		sim_schedule(s, s->now_ms + 20 + sim_draw(s, 3000), SIM_EV_RESTART, (uint32_t)v,
			     NULL);
}

static void fault_restart(struct sim *s)
{
	for (uint32_t i = 0; i < s->n && !s->failed; i++)
		if (s->m[i].core == NULL && sim_chance(s, 500000))
			sim_member_restart(s, &s->m[i]);
}

static void fault_pause(struct sim *s)
{
	int l = sim_leader_now(s);
	int v = l >= 0 && sim_chance(s, 500000) ? l : random_up(s);
	if (v < 0)
		return;
	uint64_t until = s->now_ms + 50 + sim_draw(s, 2000);
	if (until > s->fault_end_ms)
		until = s->fault_end_ms;
	s->m[v].paused_until_ms = until;
	sim_hash(s, 12, (uint64_t)v, until, 0);
	SIM_TRACE(s, v, "PAUSE until %llums", (unsigned long long)until);
}

static const uint32_t drop_choices[] = {0, 10000, 50000, 150000, 400000};
static const uint32_t dup_choices[] = {0, 10000, 50000};
static const uint32_t delay_choices[] = {2, 10, 40, SIM_DELAY_MS_MAX};
static const uint32_t long_choices[] = {0, 5000, 30000, 100000};
static const uint32_t long_max_choices[] = {500, SIM_LONG_DELAY_MS_MAX};

void sim_fault_network(struct sim *s)
{
	s->drop_ppm = SIM_PICK(s, drop_choices);
	s->dup_ppm = SIM_PICK(s, dup_choices);
	s->delay_max_ms = SIM_PICK(s, delay_choices);
	s->long_delay_ppm = SIM_PICK(s, long_choices);
	s->long_delay_max_ms = SIM_PICK(s, long_max_choices);
	sim_hash(s, 13, s->drop_ppm, s->dup_ppm, s->delay_max_ms);
	SIM_TRACE(s, -1, "network: drop %u ppm, dup %u ppm, delay <= %u ms, long (<= %u ms) %u ppm",
		  s->drop_ppm, s->dup_ppm, s->delay_max_ms, s->long_delay_max_ms,
		  s->long_delay_ppm);
}

static void fault_transfer(struct sim *s)
{
	int l = sim_leader_now(s);
	if (l < 0)
		return;
	uint64_t target = sim_chance(s, 300000) ? CAIRN_RAFT_NONE : 1 + sim_draw(s, s->n);
	int rc = cairn_raft_transfer_leadership(s->m[l].core, target);
	SIM_TRACE(s, l, "transfer leadership to m%llu: %s", (unsigned long long)target,
		  rc ? cairn_strerror(rc) : "started");
	sim_hash(s, 14, (uint64_t)l, target, (uint64_t)-rc);
	sim_drain(s, &s->m[l]);
}

/* A disk that stops completing for a while (a stalled fsync): writes queue
 * behind it, the member keeps ticking and talking. */
static void fault_disk_stall(struct sim *s)
{
	int l = sim_leader_now(s);
	int v = l >= 0 && sim_chance(s, 500000) ? l : random_up(s);
	if (v < 0)
		return;
	uint64_t until = s->now_ms + 100 + sim_draw(s, 2000);
	if (until > s->fault_end_ms)
		until = s->fault_end_ms;
	if (s->m[v].disk_done_ms < until)
		s->m[v].disk_done_ms = until;
	sim_hash(s, 17, (uint64_t)v, until, 0);
	SIM_TRACE(s, v, "DISK STALL until %llums", (unsigned long long)until);
}

/* The fault kinds, each with its weight out of 21. A seed runs with a
 * random subset of them (swarm testing: a run without, say, crashes goes
 * deeper into what partitions alone can do). */
enum fault_kind {
	FAULT_HEAL,
	FAULT_PARTITION,
	FAULT_ONE_WAY,
	FAULT_CRASH,
	FAULT_RESTART,
	FAULT_PAUSE,
	FAULT_NETWORK,
	FAULT_TRANSFER,
	FAULT_DISK_STALL,
	FAULT_KINDS
};

static const uint8_t fault_weight[FAULT_KINDS] = {4, 5, 2, 3, 2, 1, 2, 1, 1};

uint32_t sim_fault_mask_draw(struct sim *s)
{
	uint32_t mask = 1u << FAULT_HEAL | 1u << FAULT_RESTART;
	for (uint32_t k = 0; k < FAULT_KINDS; k++)
		if (sim_chance(s, 700000))
			mask |= 1u << k;
	if (s->inject == SIM_INJECT_DISK_LOSS)
		mask |= 1u << FAULT_CRASH; /* the lying disk shows on restarts */
	return mask;
}

static uint32_t fault_pick(struct sim *s)
{
	uint32_t roll = (uint32_t)sim_draw(s, 21);
	for (uint32_t k = 0; k < FAULT_KINDS; k++) {
		if (roll < fault_weight[k])
			return k;
		roll -= fault_weight[k];
	}
	assert(false);
	return FAULT_HEAL;
}

void sim_fault(struct sim *s)
{
	uint32_t kind = fault_pick(s);
	if (!(s->fault_mask & 1u << kind))
		kind = FAULT_KINDS; /* not in this seed's swarm */
	switch (kind) {
	case FAULT_HEAL:
		sim_links_all(s, true);
		SIM_TRACE(s, -1, "network healed");
		sim_hash(s, 15, 0, 0, 0);
		break;
	case FAULT_PARTITION:
		fault_partition(s, (uint32_t)sim_draw(s, 3));
		break;
	case FAULT_ONE_WAY:
		fault_one_way(s);
		break;
	case FAULT_CRASH:
		fault_crash(s);
		break;
	case FAULT_RESTART:
		fault_restart(s);
		break;
	case FAULT_PAUSE:
		fault_pause(s);
		break;
	case FAULT_NETWORK:
		sim_fault_network(s);
		break;
	case FAULT_TRANSFER:
		fault_transfer(s);
		break;
	case FAULT_DISK_STALL:
		fault_disk_stall(s);
		break;
	default:
		break;
	}
	sim_schedule(s, s->now_ms + 1 + sim_draw(s, 2 * s->fault_gap_ms), SIM_EV_FAULT, UINT32_MAX,
		     NULL);
}

/* ---- healing and liveness ---------------------------------------------------- */

void sim_heal(struct sim *s)
{
	sim_links_all(s, true);
	s->drop_ppm = 0;
	s->dup_ppm = 0;
	s->long_delay_ppm = 0;
	if (s->delay_max_ms > 10)
		s->delay_max_ms = 10;
	s->snap_delay_max_ms = 0;
	SIM_TRACE(s, -1,
		  "HEAL: faults stop; a leader is due within %u ms (messages already delayed "
		  "drain) + %u election timeouts",
		  SIM_NET_DRAIN_MS, SIM_LIVENESS_ELECTIONS);
	for (uint32_t i = 0; i < s->n && !s->failed; i++) {
		s->m[i].paused_until_ms = 0;
		if (s->m[i].core == NULL)
			sim_member_restart(s, &s->m[i]);
	}
	s->phase = SIM_PHASE_LEADER;
	s->heal_ms = s->now_ms;
	/* Messages the faulty network held back (up to SIM_NET_DRAIN_MS) are
	 * still part of the faults: stale appends from a crashed leader's
	 * last life can hold followers in its lease until they are gone. */
	s->phase_deadline_ms =
		s->now_ms + SIM_NET_DRAIN_MS + SIM_LIVENESS_ELECTIONS * SIM_ELECTION_MS;
}

/* A leader every member follows in its term, or -1. */
static int stable_leader(const struct sim *s)
{
	int l = sim_leader_now(s);
	if (l < 0)
		return -1;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct sim_member *mb = &s->m[i];
		if (mb->core == NULL || mb->term != s->m[l].term || mb->leader_id != s->m[l].id)
			return -1;
	}
	return l;
}

static bool all_saw_marker(const struct sim *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (!s->m[i].saw_marker)
			return false;
	return true;
}

/* A throttled cluster (one entry per message, one in flight, a slow disk)
 * may need long to bring a member back from far behind: what must not
 * happen is a stall, SIM_LIVENESS_ELECTIONS election timeouts in which the
 * leader's match indexes and the applied indexes do not move. */
static void catch_up_progress(struct sim *s, struct sim_member *leader)
{
	struct cairn_raft_status st;
	cairn_raft_status(leader->core, &st);
	uint64_t progress = 0;
	for (size_t i = 0; i < st.n_progress; i++)
		progress += st.progress[i].match;
	for (uint32_t i = 0; i < s->n; i++)
		progress += s->m[i].applied_seq.len;
	uint64_t key = leader->id << 32 | st.term;
	if (key != s->progress_key || progress > s->progress_max) {
		s->progress_key = key;
		s->progress_max = progress;
		s->phase_deadline_ms = s->now_ms + SIM_LIVENESS_ELECTIONS * SIM_ELECTION_MS;
	}
}

void sim_liveness(struct sim *s)
{
	int l = stable_leader(s);
	if (s->phase == SIM_PHASE_LEADER && l >= 0) {
		if (sim_propose(s, &s->m[l], true) == 0) {
			s->marker_leader = s->m[l].id << 32 | s->m[l].term;
			s->phase = SIM_PHASE_COMMIT;
			s->phase_deadline_ms = s->now_ms + SIM_LIVENESS_ELECTIONS * SIM_ELECTION_MS;
		}
	} else if (s->phase == SIM_PHASE_COMMIT && all_saw_marker(s)) {
		if (l >= 0 && sim_read_ask(s, &s->m[l]) == 0) {
			s->read_ctx = s->next_ctx;
			s->phase = SIM_PHASE_READ;
			s->phase_deadline_ms = s->now_ms + SIM_LIVENESS_ELECTIONS * SIM_ELECTION_MS;
		}
	} else if (s->phase == SIM_PHASE_COMMIT && l >= 0 &&
		   s->marker_leader != (s->m[l].id << 32 | s->m[l].term)) {
		/* Leadership moved before the marker made it: propose again. */
		if (sim_propose(s, &s->m[l], true) == 0)
			s->marker_leader = s->m[l].id << 32 | s->m[l].term;
	}
	if (s->phase == SIM_PHASE_COMMIT && l >= 0)
		catch_up_progress(s, &s->m[l]);
	if (s->phase != SIM_PHASE_DONE && !s->failed &&
	    (s->now_ms > s->phase_deadline_ms || s->now_ms > s->heal_ms + SIM_CATCH_UP_MS_MAX)) {
		static const char *const what[] = {
			"", "no stable leader within %u election timeouts after healing",
			"a new entry was not applied on every member (no replication progress "
			"for %u election timeouts, or not within 120 s)",
			"a read at the leader was not answered within %u election timeouts"};
		sim_fail(s, "liveness", what[s->phase], SIM_LIVENESS_ELECTIONS);
	}
}

/* Once a read at the stable leader has been answered, every read asked
 * before must have been answered or dropped: members that lost leadership
 * drop theirs, and the leader confirms its rounds in order. */
void sim_reads_settled(struct sim *s)
{
	for (uint32_t i = 0; i < s->n && !s->failed; i++) {
		const struct sim_member *mb = &s->m[i];
		for (size_t k = 0; k < mb->n_reads; k++)
			sim_fail(s, "liveness",
				 "m%u still holds read %llu (asked, %s) after the cluster healed",
				 i + 1, (unsigned long long)mb->reads[k].ctx,
				 mb->reads[k].index ? "confirmed, never applied"
						    : "never confirmed");
	}
}
