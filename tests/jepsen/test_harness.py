#!/usr/bin/env python3
"""Tests of the fault-injection harness's own parts: the seeded schedule,
the CLI exit-status mapping, the analysis of a history (failover times,
availability, lost writes), and whole runs of tools/jepsen against fake
members (fakes/), one faithful and one that loses acknowledged writes, so
the harness is known to say "valid" and "not valid" when it should."""

import glob
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import nemesis  # noqa: E402
import run  # noqa: E402
import workload  # noqa: E402

FAKES = os.path.join(HERE, "fakes")
JEPSEN = os.path.join(HERE, "..", "..", "tools", "jepsen")


class Schedule(unittest.TestCase):
    def test_same_seed_gives_the_same_schedule(self):
        a = [f.to_dict() for f in nemesis.schedule(7, 60, 5)]
        b = [f.to_dict() for f in nemesis.schedule(7, 60, 5)]
        self.assertEqual(a, b)
        self.assertGreater(len(a), 5)

    def test_different_seeds_give_different_schedules(self):
        self.assertNotEqual([f.to_dict() for f in nemesis.schedule(1, 60, 3)],
                            [f.to_dict() for f in nemesis.schedule(2, 60, 3)])

    def test_faults_fit_in_the_run_and_do_not_overlap(self):
        for seed in range(20):
            faults = nemesis.schedule(seed, 30, 3)
            end = 0
            for f in faults:
                self.assertGreaterEqual(f.at_s, end)
                end = f.at_s + f.duration_s
                self.assertLessEqual(end, 30)

    def test_random_partitions_cut_off_a_minority(self):
        for members in (3, 5):
            for f in nemesis.schedule(3, 200, members, ["partition-random"]):
                self.assertEqual(len(f.targets), (members - 1) // 2)
                self.assertTrue(set(f.targets) <= set(range(1, members + 1)))

    def test_only_the_kinds_asked_for(self):
        kinds = {f.kind for f in nemesis.schedule(5, 120, 3, ["kill-leader"])}
        self.assertEqual(kinds, {"kill-leader"})


class ExitStatus(unittest.TestCase):
    def test_statuses_map_to_outcome_classes(self):
        cases = [("get", 0, "ok"), ("get", 1, "not_found"), ("get", 3, "fail"),
                 ("get", 4, "fail"), ("put", 0, "ok"), ("put", 3, "fail"),
                 ("put", 4, "unknown"), ("del", 0, "ok"), ("del", 4, "unknown"),
                 ("cas", 0, "ok"), ("cas", 1, "not_found"), ("cas", 5, "fail"),
                 ("cas", 3, "fail"), ("cas", 4, "unknown")]
        for kind, status, outcome in cases:
            self.assertEqual(workload.classify(kind, status), (outcome, None), (kind, status))

    def test_crashed_cli_is_an_anomaly_and_never_a_certain_outcome(self):
        for kind, outcome in (("get", "fail"), ("put", "unknown"), ("cas", "unknown")):
            got, anomaly = workload.classify(kind, -11)
            self.assertEqual(got, outcome)
            self.assertIsNotNone(anomaly)
        self.assertIsNotNone(workload.classify("put", 1)[1])


def e(process, op, key, invoke, complete, outcome, value=None, exit_status=0):
    d = {"process": process, "op": op, "key": key, "invoke": invoke, "complete": complete,
         "outcome": outcome, "exit": exit_status}
    if value is not None:
        d["value"] = value
    return d


class Analysis(unittest.TestCase):
    def test_failover_is_kill_to_first_ok_write_invoked_after_it(self):
        ev = nemesis.Event("kill-leader", 10.0, 12.0, [1], 1)
        h = [e(1, "put", "k", 9.9, 10.5, "ok", "a"),     # invoked before the kill
             e(2, "put", "k", 10.1, 10.4, "fail", "b", 3),
             e(2, "get", "k", 10.2, 10.3, "ok", "a"),     # a read, not a write
             e(3, "put", "k", 10.3, 10.75, "ok", "c")]
        self.assertEqual(run.failover_ms(h, [ev], ("kill-leader",)), [750.0])

    def test_failover_without_any_later_write_is_none(self):
        ev = nemesis.Event("kill-leader", 10.0, 12.0, [1], 1)
        self.assertEqual(run.failover_ms([], [ev], ("kill-leader",)), [None])

    def test_availability_splits_operations_by_fault_windows(self):
        h = [e(1, "get", "k", 1, 2, "ok", "a"), e(1, "get", "k", 5, 6, "fail", None, 3),
             e(1, "get", "k", 5.5, 6, "ok", "a"), e(1, "get", "k", 9, 10, "ok", "a")]
        self.assertEqual(run.availability(h, [(4, 7)]), (0.5, 1.0))

    def test_lost_acknowledged_write_is_reported(self):
        h = [e(1, "put", "k", 0, 1, "ok", "a"), e(1, "put", "k", 2, 3, "ok", "b"),
             e("final", "get", "k", 5, 6, "ok", "a")]
        self.assertEqual(len(run.lost_writes(h, ["k"])), 1)

    def test_last_value_from_a_concurrent_write_is_not_lost(self):
        h = [e(1, "put", "k", 0, 4, "ok", "a"), e(2, "put", "k", 1, 3, "ok", "b"),
             e("final", "get", "k", 5, 6, "ok", "a")]
        self.assertEqual(run.lost_writes(h, ["k"]), [])

    def test_acknowledged_write_then_absent_is_reported(self):
        h = [e(1, "put", "k", 0, 1, "ok", "a"), e("final", "get", "k", 5, 6, "not_found")]
        self.assertEqual(len(run.lost_writes(h, ["k"])), 1)

    def test_unknown_delete_may_explain_an_absent_key(self):
        h = [e(1, "put", "k", 0, 1, "ok", "a"), e(2, "del", "k", 2, 3, "unknown", None, 4),
             e("final", "get", "k", 5, 6, "not_found")]
        self.assertEqual(run.lost_writes(h, ["k"]), [])

    def test_longest_gap_counts_from_start_to_end_between_successes(self):
        h = [e(1, "get", "k", 0, 1, "ok", "a"), e(1, "get", "k", 1, 2, "fail", None, 3),
             e(1, "get", "k", 4, 4.5, "not_found"), e(1, "get", "k", 5, 6, "ok", "a")]
        self.assertEqual(run.longest_gap_ms(h, 0, 10), 4000.0)
        self.assertEqual(run.longest_gap_ms(h, 0, 6), 3500.0)

    def test_percentile_is_nearest_rank(self):
        values = list(range(1, 21))
        self.assertEqual(run.percentile(values, 50), 10)
        self.assertEqual(run.percentile(values, 95), 19)
        self.assertEqual(run.percentile(values, 100), 20)


class WholeRunWithFakes(unittest.TestCase):
    def jepsen(self, seconds, seed, env=None, client="batch"):
        with tempfile.TemporaryDirectory() as tmp:
            hist = os.path.join(tmp, "history.jsonl")
            before = set(glob.glob(os.path.join(tempfile.gettempdir(), "cairn-jepsen-*")))
            r = subprocess.run(
                [sys.executable, JEPSEN, "--seconds", str(seconds), "--seed", str(seed),
                 "--cairnd", os.path.join(FAKES, "fake_cairnd.py"),
                 "--cairn", os.path.join(FAKES, "fake_cairn.py"), "--quiet-s", "1",
                 "--clients", "3", "--history", hist, "--log-lines", "3",
                 # The fakes recover at once; on a loaded machine a CLI call
                 # alone can take seconds, and this test is not about timing.
                 "--recovery-limit-s", "60", "--op-timeout-ms", "5000", "--client", client],
                capture_output=True, text=True, timeout=120, env=dict(os.environ, **(env or {})))
            after = set(glob.glob(os.path.join(tempfile.gettempdir(), "cairn-jepsen-*")))
            self.assertEqual(after - before, set(), "the run must remove its temp dir")
            lines = []
            if os.path.exists(hist):
                with open(hist, encoding="utf-8") as f:
                    lines = f.read().splitlines()
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        return r, summary, lines

    def test_faithful_members_give_a_valid_run(self):
        r, summary, history = self.jepsen(9, 11)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(summary["valid"])
        self.assertEqual(summary["linearizable"], "valid")
        self.assertGreater(summary["faults"], 0)
        self.assertGreater(summary["ops"]["ok"], 10)
        self.assertTrue(history)
        for key in ("ops", "availability_during_faults", "leader_kill_to_write_ms",
                    "longest_gap_without_success_ms",
                    "longest_unavailability_after_leader_kill_ms", "valid"):
            self.assertIn(key, summary)

    def test_members_that_lose_acknowledged_writes_give_an_invalid_run(self):
        r, summary, _ = self.jepsen(4, 11, {"FAKE_CAIRN_LOSE_WRITES": "1"})
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertFalse(summary["valid"])
        self.assertEqual(summary["linearizable"], "invalid")
        self.assertIn("is not linearizable", r.stdout)

    def test_one_cli_process_per_operation_also_records_and_judges(self):
        r, summary, history = self.jepsen(4, 11, {"FAKE_CAIRN_LOSE_WRITES": "1"}, client="cli")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertFalse(summary["valid"])
        self.assertTrue(history)


if __name__ == "__main__":
    unittest.main(verbosity=2)
