/* The commit manager applies in order and in batches, and completes waiters
 * by index and term; a fake apply hook records what it was handed. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "commit/commit.h"

#define CALLS_MAX 16

struct fake_apply {
	size_t calls;
	uint64_t first[CALLS_MAX];
	size_t n[CALLS_MAX];
	uint8_t first_byte[CALLS_MAX];
	int fail_with;
};

static int fake_apply_fn(void *ctx, const struct cairn_raft_entry *entries, size_t n)
{
	struct fake_apply *f = ctx;
	if (f->fail_with != 0)
		return f->fail_with;
	cr_assert_lt(f->calls, CALLS_MAX);
	f->first[f->calls] = entries[0].index;
	f->n[f->calls] = n;
	f->first_byte[f->calls] = entries[0].len > 0 ? entries[0].data[0] : 0;
	f->calls++;
	return 0;
}

struct outcome {
	int calls;
	int err;
	int result;
};

static void record_cb(struct cairn_commit_waiter *w, int err, int result)
{
	struct outcome *o = w->data;
	o->calls++;
	o->err = err;
	o->result = result;
}

static struct fake_apply fake;
static struct cairn_commit cm;

static void setup_at(uint64_t applied)
{
	memset(&fake, 0, sizeof fake);
	struct cairn_commit_ops ops = {.apply = fake_apply_fn, .ctx = &fake};
	cairn_commit_init(&cm, &ops, applied);
}

static void setup(void)
{
	setup_at(0);
}

static void teardown(void)
{
	cairn_commit_close(&cm);
}

/* Push entries first..last of term with one payload byte each (the index). */
static int push_range(uint64_t first, uint64_t last, uint64_t term)
{
	struct cairn_raft_entry e[64];
	uint8_t payload[64];
	size_t n = 0;
	for (uint64_t i = first; i <= last; i++, n++) {
		payload[n] = (uint8_t)i;
		e[n] = (struct cairn_raft_entry){.term = term,
						 .index = i,
						 .type = CAIRN_RAFT_ENTRY_NORMAL,
						 .len = 1,
						 .data = &payload[n]};
	}
	return cairn_commit_push(&cm, e, n);
}

static int ack(size_t n, int result)
{
	int results[64];
	for (size_t i = 0; i < n; i++)
		results[i] = result;
	return cairn_commit_applied(&cm, 0, results, n);
}

static void waiter_init(struct cairn_commit_waiter *w, struct outcome *o, uint64_t index,
			uint64_t term)
{
	memset(w, 0, sizeof *w);
	memset(o, 0, sizeof *o);
	w->index = index;
	w->term = term;
	w->done_cb = record_cb;
	w->data = o;
}

TestSuite(commit, .init = setup, .fini = teardown);

Test(commit, first_push_starts_a_batch_at_once)
{
	cr_assert_eq(push_range(1, 3, 1), 0);
	cr_assert_eq(fake.calls, 1);
	cr_assert_eq(fake.first[0], 1);
	cr_assert_eq(fake.n[0], 3);
	cr_assert_eq(fake.first_byte[0], 1, "the hook sees a copy of the payload");
}

Test(commit, entries_arriving_during_a_batch_form_the_next_batch)
{
	cr_assert_eq(push_range(1, 2, 1), 0);
	cr_assert_eq(push_range(3, 4, 1), 0);
	cr_assert_eq(push_range(5, 7, 1), 0);
	cr_assert_eq(fake.calls, 1, "one batch in flight at a time");
	cr_assert_eq(ack(2, 0), 0);
	cr_assert_eq(cm.applied, 2);
	cr_assert_eq(fake.calls, 2);
	cr_assert_eq(fake.first[1], 3);
	cr_assert_eq(fake.n[1], 5, "everything queued goes in one batch");
	cr_assert_eq(fake.first_byte[1], 3);
	cr_assert_eq(ack(5, 0), 0);
	cr_assert_eq(cm.applied, 7);
	cr_assert_not(cairn_commit_busy(&cm));
}

Test(commit, batches_are_capped_in_entries)
{
	/* Fill a queue larger than one batch while the first batch runs. */
	cr_assert_eq(push_range(1, 1, 1), 0);
	uint64_t next = 2;
	while (next <= 1 + CAIRN_COMMIT_BATCH_ENTRIES_MAX + 10) {
		uint64_t last = next + 49;
		cr_assert_eq(push_range(next, last, 1), 0);
		next = last + 1;
	}
	cr_assert_eq(ack(1, 0), 0);
	cr_assert_eq(fake.n[1], CAIRN_COMMIT_BATCH_ENTRIES_MAX);
}

Test(commit, entries_at_or_below_applied_are_skipped)
{
	teardown();
	setup_at(5);
	cr_assert_eq(push_range(4, 7, 2), 0);
	cr_assert_eq(fake.calls, 1);
	cr_assert_eq(fake.first[0], 6);
	cr_assert_eq(fake.n[0], 2);
}

Test(commit, a_gap_in_indexes_is_refused)
{
	cr_assert_eq(push_range(1, 2, 1), 0);
	cr_assert_eq(push_range(4, 5, 1), CAIRN_EINVAL);
}

Test(commit, write_waiter_gets_the_result_of_its_entry)
{
	struct cairn_commit_waiter w;
	struct outcome o;
	waiter_init(&w, &o, 2, 1);
	cr_assert_eq(cairn_commit_wait_write(&cm, &w), 0);
	cr_assert_eq(push_range(1, 3, 1), 0);
	cr_assert_eq(o.calls, 0, "not before the entry is applied");
	cr_assert_eq(ack(3, 42), 0);
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.err, 0);
	cr_assert_eq(o.result, 42);
}

Test(commit, write_waiter_whose_index_holds_another_term_is_lost)
{
	struct cairn_commit_waiter w;
	struct outcome o;
	waiter_init(&w, &o, 2, 1);
	cr_assert_eq(cairn_commit_wait_write(&cm, &w), 0);
	cr_assert_eq(push_range(1, 2, 3), 0);
	cr_assert_eq(ack(2, 0), 0);
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.err, CAIRN_EUNAVAIL);
}

Test(commit, a_new_proposal_at_a_lower_index_loses_older_waiters)
{
	struct cairn_commit_waiter w1, w2, w3;
	struct outcome o1, o2, o3;
	waiter_init(&w1, &o1, 4, 1);
	waiter_init(&w2, &o2, 5, 1);
	waiter_init(&w3, &o3, 4, 2);
	cr_assert_eq(cairn_commit_wait_write(&cm, &w1), 0);
	cr_assert_eq(cairn_commit_wait_write(&cm, &w2), 0);
	cr_assert_eq(cairn_commit_wait_write(&cm, &w3), 0);
	cr_assert_eq(o1.err, CAIRN_EUNAVAIL);
	cr_assert_eq(o2.err, CAIRN_EUNAVAIL);
	cr_assert_eq(o1.calls + o2.calls, 2);
	cr_assert_eq(o3.calls, 0);
}

Test(commit, waiters_complete_in_index_order)
{
	struct cairn_commit_waiter w[3];
	struct outcome o[3];
	for (int i = 0; i < 3; i++) {
		waiter_init(&w[i], &o[i], (uint64_t)i + 1, 1);
		cr_assert_eq(cairn_commit_wait_write(&cm, &w[i]), 0);
	}
	cr_assert_eq(push_range(1, 2, 1), 0);
	cr_assert_eq(ack(2, 7), 0);
	cr_assert_eq(o[0].calls, 1);
	cr_assert_eq(o[1].calls, 1);
	cr_assert_eq(o[2].calls, 0, "index 3 is not applied yet");
}

Test(commit, a_write_waiter_at_or_below_applied_is_refused)
{
	teardown();
	setup_at(10);
	struct cairn_commit_waiter w;
	struct outcome o;
	waiter_init(&w, &o, 10, 1);
	cr_assert_eq(cairn_commit_wait_write(&cm, &w), CAIRN_EINVAL);
	cr_assert_eq(o.calls, 0);
}

Test(commit, apply_waiter_completes_once_applied_reaches_its_index)
{
	struct cairn_commit_waiter w;
	struct outcome o;
	waiter_init(&w, &o, 3, 0);
	cairn_commit_wait_applied(&cm, &w);
	cr_assert_eq(push_range(1, 2, 1), 0);
	cr_assert_eq(ack(2, 0), 0);
	cr_assert_eq(o.calls, 0);
	cr_assert_eq(push_range(3, 3, 1), 0);
	cr_assert_eq(ack(1, 0), 0);
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.err, 0);
}

Test(commit, apply_waiter_already_satisfied_completes_at_once)
{
	teardown();
	setup_at(8);
	struct cairn_commit_waiter w;
	struct outcome o;
	waiter_init(&w, &o, 8, 0);
	cairn_commit_wait_applied(&cm, &w);
	cr_assert_eq(o.calls, 1);
}

Test(commit, failing_writes_keeps_apply_waiters)
{
	struct cairn_commit_waiter ww, wr;
	struct outcome ow, orr;
	waiter_init(&ww, &ow, 1, 1);
	waiter_init(&wr, &orr, 1, 0);
	cr_assert_eq(cairn_commit_wait_write(&cm, &ww), 0);
	cairn_commit_wait_applied(&cm, &wr);
	cairn_commit_fail_writes(&cm, CAIRN_ENOTLEADER);
	cr_assert_eq(ow.calls, 1);
	cr_assert_eq(ow.err, CAIRN_ENOTLEADER);
	cr_assert_eq(orr.calls, 0);
	cr_assert_eq(push_range(1, 1, 1), 0);
	cr_assert_eq(ack(1, 0), 0);
	cr_assert_eq(orr.calls, 1);
	cr_assert_eq(ow.calls, 1, "a waiter given up is never called again");
}

Test(commit, an_apply_error_gives_up_every_waiter_and_stops)
{
	struct cairn_commit_waiter ww, wr;
	struct outcome ow, orr;
	waiter_init(&ww, &ow, 1, 1);
	waiter_init(&wr, &orr, 1, 0);
	cr_assert_eq(cairn_commit_wait_write(&cm, &ww), 0);
	cairn_commit_wait_applied(&cm, &wr);
	cr_assert_eq(push_range(1, 1, 1), 0);
	cr_assert_eq(cairn_commit_applied(&cm, CAIRN_ENOSPACE, NULL, 0), CAIRN_ENOSPACE);
	cr_assert_eq(ow.err, CAIRN_ENOSPACE);
	cr_assert_eq(orr.err, CAIRN_ENOSPACE);
	cr_assert_eq(push_range(2, 2, 1), CAIRN_ENOSPACE);
	cr_assert_eq(cm.applied, 0);
}

Test(commit, a_hook_that_refuses_the_batch_stops_the_manager)
{
	struct cairn_commit_waiter w;
	struct outcome o;
	waiter_init(&w, &o, 1, 1);
	cr_assert_eq(cairn_commit_wait_write(&cm, &w), 0);
	fake.fail_with = CAIRN_EIO;
	cr_assert_eq(push_range(1, 1, 1), CAIRN_EIO);
	cr_assert_eq(o.err, CAIRN_EIO);
}

Test(commit, an_at_commit_waiter_completes_when_its_entry_is_committed)
{
	struct cairn_commit_waiter w;
	struct outcome o;
	waiter_init(&w, &o, 2, 1);
	w.at_commit = true;
	cr_assert_eq(cairn_commit_wait_write(&cm, &w), 0);
	cr_assert_eq(push_range(1, 1, 1), 0);
	cr_assert_eq(o.calls, 0, "not before its own entry is committed");
	cr_assert_eq(push_range(2, 2, 1), 0);
	cr_assert_eq(o.calls, 1, "before the apply batch is done");
	cr_assert_eq(o.err, 0);
	cr_assert_eq(o.result, 0);
	cr_assert_eq(cm.applied, 0);
	cr_assert_eq(ack(1, 0), 0);
	cr_assert_eq(ack(1, 0), 0);
	cr_assert_eq(o.calls, 1, "never completed twice");
}

Test(commit, an_at_commit_waiter_whose_index_holds_another_term_is_lost)
{
	struct cairn_commit_waiter w;
	struct outcome o;
	waiter_init(&w, &o, 1, 1);
	w.at_commit = true;
	cr_assert_eq(cairn_commit_wait_write(&cm, &w), 0);
	cr_assert_eq(push_range(1, 1, 2), 0);
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.err, CAIRN_EUNAVAIL);
}

Test(commit, a_result_waiter_behind_an_at_commit_one_still_waits_for_apply)
{
	struct cairn_commit_waiter cas, put;
	struct outcome ocas, oput;
	waiter_init(&cas, &ocas, 1, 1);
	waiter_init(&put, &oput, 2, 1);
	put.at_commit = true;
	cr_assert_eq(cairn_commit_wait_write(&cm, &cas), 0);
	cr_assert_eq(cairn_commit_wait_write(&cm, &put), 0);
	cr_assert_eq(push_range(1, 2, 1), 0);
	cr_assert_eq(oput.calls, 1);
	cr_assert_eq(ocas.calls, 0, "its result comes from the state machine");
	cr_assert_eq(ack(2, 9), 0);
	cr_assert_eq(ocas.calls, 1);
	cr_assert_eq(ocas.result, 9);
}

static int urgent_calls;

static void count_urgent(void *ctx)
{
	(void)ctx;
	urgent_calls++;
}

/* Re-initialise the fixture's manager with an urgent hook. */
static void setup_with_urgent(void)
{
	cairn_commit_close(&cm);
	memset(&fake, 0, sizeof fake);
	urgent_calls = 0;
	struct cairn_commit_ops ops = {
		.apply = fake_apply_fn, .urgent = count_urgent, .ctx = &fake};
	cairn_commit_init(&cm, &ops, 0);
}

Test(commit, a_batch_only_put_waiters_wait_for_is_not_urgent)
{
	setup_with_urgent();
	struct cairn_commit_waiter put;
	struct outcome o;
	waiter_init(&put, &o, 1, 1);
	put.at_commit = true;
	cr_assert_eq(cairn_commit_wait_write(&cm, &put), 0);
	cr_assert_eq(push_range(1, 1, 1), 0);
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(urgent_calls, 0);
}

Test(commit, a_batch_a_result_waiter_waits_for_is_urgent)
{
	setup_with_urgent();
	struct cairn_commit_waiter cas;
	struct outcome o;
	waiter_init(&cas, &o, 1, 1);
	cr_assert_eq(cairn_commit_wait_write(&cm, &cas), 0);
	cr_assert_eq(urgent_calls, 0, "nothing in flight yet");
	cr_assert_eq(push_range(1, 1, 1), 0);
	cr_assert_eq(urgent_calls, 1);
}

Test(commit, a_read_arriving_during_a_batch_makes_it_urgent)
{
	setup_with_urgent();
	cr_assert_eq(push_range(1, 2, 1), 0);
	cr_assert_eq(urgent_calls, 0);
	struct cairn_commit_waiter r;
	struct outcome o;
	waiter_init(&r, &o, 2, 0);
	cairn_commit_wait_applied(&cm, &r);
	cr_assert_eq(urgent_calls, 1);
	cr_assert_eq(ack(2, 0), 0);
	cr_assert_eq(o.calls, 1);
}

/* ---- snapshots ---------------------------------------------------------- */

Test(commit, a_snapshot_drops_what_was_queued_and_jumps_applied_when_done)
{
	cr_assert_eq(push_range(1, 2, 1), 0);
	cr_assert_eq(push_range(3, 5, 1), 0); /* queued behind the batch in flight */
	cr_assert_eq(cairn_commit_snapshot_begin(&cm, 100), 0);
	cr_assert_eq(ack(2, 0), 0);
	cr_assert_eq(cm.applied, 2);
	cr_assert_eq(fake.calls, 1, "entries the snapshot holds are never applied");
	cr_assert_eq(cairn_commit_snapshot_done(&cm, 100), 0);
	cr_assert_eq(cm.applied, 100);
	cr_assert_not(cairn_commit_busy(&cm));
}

Test(commit, entries_after_a_pending_snapshot_wait_for_it_then_apply)
{
	cr_assert_eq(cairn_commit_snapshot_begin(&cm, 50), 0);
	cr_assert_eq(push_range(51, 53, 2), 0);
	cr_assert_eq(fake.calls, 0, "nothing starts before the install is durable");
	cr_assert_eq(push_range(55, 55, 2), CAIRN_EINVAL, "still consecutive from the snapshot");
	cr_assert_eq(cairn_commit_snapshot_done(&cm, 50), 0);
	cr_assert_eq(fake.calls, 1);
	cr_assert_eq(fake.first[0], 51);
	cr_assert_eq(fake.n[0], 3);
	cr_assert_eq(ack(3, 0), 0);
	cr_assert_eq(cm.applied, 53);
}

Test(commit, entries_pushed_while_a_batch_and_a_snapshot_are_pending_follow_the_snapshot)
{
	cr_assert_eq(push_range(1, 3, 1), 0);
	cr_assert_eq(cairn_commit_snapshot_begin(&cm, 10), 0);
	cr_assert_eq(push_range(11, 12, 2), 0);
	cr_assert_eq(ack(3, 0), 0);
	cr_assert_eq(cm.applied, 3);
	cr_assert_eq(fake.calls, 1);
	cr_assert_eq(cairn_commit_snapshot_done(&cm, 10), 0);
	cr_assert_eq(fake.calls, 2);
	cr_assert_eq(fake.first[1], 11);
	cr_assert_eq(fake.first_byte[1], 11);
	cr_assert_eq(ack(2, 0), 0);
	cr_assert_eq(cm.applied, 12);
}

Test(commit, a_read_waiting_for_an_index_the_snapshot_covers_completes_when_it_is_done)
{
	struct cairn_commit_waiter w;
	struct outcome o;
	waiter_init(&w, &o, 40, 0);
	cairn_commit_wait_applied(&cm, &w);
	cr_assert_eq(cairn_commit_snapshot_begin(&cm, 50), 0);
	cr_assert_eq(o.calls, 0, "not before the install is durable");
	cr_assert_eq(cairn_commit_snapshot_done(&cm, 50), 0);
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.err, 0);
}

Test(commit, write_waiters_the_snapshot_covers_are_given_up_as_unknown)
{
	struct cairn_commit_waiter w1, w2;
	struct outcome o1, o2;
	waiter_init(&w1, &o1, 5, 1);
	waiter_init(&w2, &o2, 60, 3);
	cr_assert_eq(cairn_commit_wait_write(&cm, &w1), 0);
	cr_assert_eq(cairn_commit_wait_write(&cm, &w2), 0);
	cr_assert_eq(cairn_commit_snapshot_begin(&cm, 50), 0);
	cr_assert_eq(o1.calls, 1);
	cr_assert_eq(o1.err, CAIRN_ENOTLEADER);
	cr_assert_eq(o2.calls, 0, "a write after the snapshot still waits for its entry");
	cr_assert_eq(cairn_commit_snapshot_done(&cm, 50), 0);
	cr_assert_eq(push_range(51, 60, 3), 0);
	cr_assert_eq(ack(10, 7), 0);
	cr_assert_eq(o2.calls, 1);
	cr_assert_eq(o2.result, 7);
}

Test(commit, a_snapshot_not_above_what_was_pushed_is_refused)
{
	cr_assert_eq(push_range(1, 5, 1), 0);
	cr_assert_eq(cairn_commit_snapshot_begin(&cm, 5), CAIRN_EINVAL);
	cr_assert_eq(cairn_commit_snapshot_begin(&cm, 3), CAIRN_EINVAL);
	cr_assert_eq(cm.snapshot, 0);
}

Test(commit, a_newer_snapshot_supersedes_a_pending_one)
{
	cr_assert_eq(cairn_commit_snapshot_begin(&cm, 20), 0);
	cr_assert_eq(push_range(21, 22, 2), 0);
	cr_assert_eq(cairn_commit_snapshot_begin(&cm, 30), 0);
	cr_assert_eq(cairn_commit_snapshot_done(&cm, 20), 0);
	cr_assert_eq(cm.applied, 20);
	cr_assert_eq(fake.calls, 0, "the newer install is still pending");
	cr_assert_eq(cairn_commit_snapshot_done(&cm, 30), 0);
	cr_assert_eq(cm.applied, 30);
	cr_assert_eq(fake.calls, 0, "21..22 were dropped: the newer snapshot holds them");
	cr_assert_eq(push_range(31, 31, 2), 0);
	cr_assert_eq(fake.calls, 1);
}
