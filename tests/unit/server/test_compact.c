/* The compaction policy of cairnd: keep log_keep_entries applied entries
 * behind the applied index, compact in steps of that many, and compact
 * everything applied when the log's bytes pass their bound; never beyond
 * what the core allows. */
#include <criterion/criterion.h>

#include "server/node.h"

static struct cairn_raft_status status(uint64_t first_index, uint64_t applied, uint64_t persisted,
				       uint64_t log_bytes)
{
	struct cairn_raft_status st = {0};
	st.first_index = first_index;
	st.applied = applied;
	st.persisted_index = persisted;
	st.last_index = persisted;
	st.log_bytes = log_bytes;
	return st;
}

Test(compact, nothing_before_twice_the_kept_entries_are_applied)
{
	struct cairn_raft_status st = status(1, 19, 19, 100);
	cr_assert_eq(cairn_snap_compact_target(10, &st, 19), 0);
	st = status(101, 119, 119, 100);
	cr_assert_eq(cairn_snap_compact_target(10, &st, 119), 0);
}

Test(compact, keeps_the_last_entries_behind_the_applied_index)
{
	struct cairn_raft_status st = status(1, 20, 20, 100);
	cr_assert_eq(cairn_snap_compact_target(10, &st, 20), 10);
	st = status(11, 35, 40, 100);
	cr_assert_eq(cairn_snap_compact_target(10, &st, 30), 20);
}

Test(compact, past_the_byte_bound_everything_applied_goes)
{
	struct cairn_raft_status st = status(1, 15, 15, CAIRN_LOG_KEEP_BYTES_MAX + 1);
	cr_assert_eq(cairn_snap_compact_target(10000, &st, 15), 15);
	st = status(1, 15, 15, CAIRN_LOG_KEEP_BYTES_MAX);
	cr_assert_eq(cairn_snap_compact_target(10000, &st, 15), 0, "at the bound is within it");
}

Test(compact, never_past_the_cores_applied_or_persisted_index)
{
	struct cairn_raft_status st = status(1, 12, 50, CAIRN_LOG_KEEP_BYTES_MAX + 1);
	cr_assert_eq(cairn_snap_compact_target(10, &st, 40), 12);
	st = status(1, 50, 7, CAIRN_LOG_KEEP_BYTES_MAX + 1);
	cr_assert_eq(cairn_snap_compact_target(10, &st, 40), 7);
	st = status(9, 50, 7, CAIRN_LOG_KEEP_BYTES_MAX + 1);
	cr_assert_eq(cairn_snap_compact_target(10, &st, 40), 0, "already compacted past it");
}

/* A leader streaming a snapshot of its state at index 50 to a follower:
 * were the log compacted past 50 before that follower answers, the answer
 * (50) would lie below the log again and the core would ask for another
 * snapshot; under a steady write load every transfer would end that way
 * and the follower would never get back to the log. */
Test(compact, a_snapshot_being_taken_holds_the_log_after_its_index)
{
	cr_assert_eq(cairn_snap_compact_hold(90, 50, 100), 50);
	cr_assert_eq(cairn_snap_compact_hold(100, 50, CAIRN_LOG_KEEP_BYTES_MAX + 1), 50,
		     "the byte bound waits for the follower too");
	cr_assert_eq(cairn_snap_compact_hold(40, 50, 100), 40, "below the hold: as it was");
	cr_assert_eq(cairn_snap_compact_hold(90, 0, 100), 90, "no transfer: as it was");
}

Test(compact, past_the_hold_byte_bound_the_log_is_compacted_anyway)
{
	cr_assert_eq(cairn_snap_compact_hold(100, 50, CAIRN_LOG_HOLD_BYTES_MAX), 50);
	cr_assert_eq(cairn_snap_compact_hold(100, 50, CAIRN_LOG_HOLD_BYTES_MAX + 1), 100);
}
