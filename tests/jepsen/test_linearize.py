#!/usr/bin/env python3
"""Tests of linearize.py, the linearizability checker.

Each test feeds a small hand-written history (or a generated one) and checks
the verdict, the key named, and the window of operations reported. Histories
are written as tuples (process, op, key, args, invoke, complete, outcome) so a
scenario reads like a timeline. Run directly or through `meson test`.
"""

import itertools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linearize as lz  # noqa: E402

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "linearize.py")


def op_dict(process, kind, key, args, invoke, complete, outcome):
    d = {"process": process, "op": kind, "key": key, "invoke": invoke,
         "complete": complete, "outcome": outcome}
    if kind == "cas":
        d["expected"], d["new"] = args
    elif args is not None:
        d["value"] = args
    return d


def history(*rows):
    return [lz.parse_op(op_dict(*row), n) for n, row in enumerate(rows, start=1)]


def check(*rows):
    return lz.check_history(history(*rows), max_steps=1_000_000, timeout_s=20)


class Valid(unittest.TestCase):
    def assertValid(self, *rows):
        result = check(*rows)
        self.assertEqual(result["verdict"], lz.VALID, lz.report_lines(result))

    def test_empty_history_is_linearizable(self):
        self.assertValid()

    def test_sequential_put_get_del_cas(self):
        self.assertValid(
            (1, "get", "k", None, 0, 1, "not_found"),
            (1, "put", "k", "a", 2, 3, "ok"),
            (1, "get", "k", "a", 4, 5, "ok"),
            (1, "cas", "k", ("a", "b"), 6, 7, "ok"),
            (1, "get", "k", "b", 8, 9, "ok"),
            (1, "del", "k", None, 10, 11, "ok"),
            (1, "get", "k", None, 12, 13, "not_found"),
            (1, "cas", "k", ("b", "c"), 14, 15, "not_found"),
            (1, "del", "k", None, 16, 17, "ok"))

    def test_concurrent_writes_may_order_either_way(self):
        for seen in ("a", "b"):
            self.assertValid(
                (1, "put", "k", "a", 0, 10, "ok"),
                (2, "put", "k", "b", 1, 9, "ok"),
                (3, "get", "k", seen, 11, 12, "ok"))

    def test_read_concurrent_with_write_sees_old_or_new(self):
        for seen in ("a", "b"):
            self.assertValid(
                (1, "put", "k", "a", 0, 1, "ok"),
                (1, "put", "k", "b", 2, 6, "ok"),
                (2, "get", "k", seen, 3, 4, "ok"))

    def test_reads_order_concurrent_writes_consistently(self):
        self.assertValid(
            (1, "put", "k", "a", 0, 10, "ok"),
            (2, "put", "k", "b", 0, 10, "ok"),
            (3, "get", "k", "b", 1, 2, "ok"),
            (3, "get", "k", "a", 3, 4, "ok"),
            (4, "get", "k", "a", 11, 12, "ok"))

    def test_touching_operations_count_as_concurrent(self):
        self.assertValid(
            (1, "put", "k", "a", 0, 5, "ok"),
            (2, "get", "k", None, 5, 6, "not_found"))

    def test_unknown_write_that_took_effect(self):
        self.assertValid(
            (1, "put", "k", "a", 0, 1, "ok"),
            (1, "put", "k", "b", 2, None, "unknown"),
            (2, "get", "k", "a", 30, 31, "ok"),
            (2, "get", "k", "b", 40, 41, "ok"),
            (2, "get", "k", "b", 50, 51, "ok"))

    def test_unknown_write_that_never_took_effect(self):
        self.assertValid(
            (1, "put", "k", "a", 0, 1, "ok"),
            (1, "put", "k", "b", 2, 3, "unknown"),
            (2, "get", "k", "a", 30, 31, "ok"),
            (2, "get", "k", "a", 40, 41, "ok"))

    def test_unknown_delete_and_unknown_cas(self):
        self.assertValid(
            (1, "put", "k", "a", 0, 1, "ok"),
            (1, "cas", "k", ("a", "b"), 2, None, "unknown"),
            (2, "get", "k", "b", 5, 6, "ok"),
            (1, "del", "k", None, 7, None, "unknown"),
            (2, "get", "k", "b", 8, 9, "ok"),
            (2, "get", "k", None, 10, 11, "not_found"))

    def test_failed_operations_are_ignored(self):
        self.assertValid(
            (1, "put", "k", "a", 0, 1, "ok"),
            (1, "put", "k", "zz", 2, 3, "fail"),
            (1, "cas", "k", ("x", "y"), 4, 5, "fail"),
            (1, "get", "k", None, 6, 7, "fail"),
            (1, "get", "k", None, 7, 8, "unknown"),
            (2, "get", "k", "a", 9, 10, "ok"))

    def test_delete_of_absent_key_is_ok(self):
        self.assertValid(
            (1, "del", "k", None, 0, 1, "ok"),
            (1, "get", "k", None, 2, 3, "not_found"))

    def test_keys_are_independent_registers(self):
        self.assertValid(
            (1, "put", "x", "a", 0, 1, "ok"),
            (2, "put", "y", "b", 0, 1, "ok"),
            (1, "get", "y", "b", 2, 3, "ok"),
            (2, "get", "x", "a", 2, 3, "ok"),
            (3, "get", "z", None, 2, 3, "not_found"))


class Invalid(unittest.TestCase):
    def assertInvalid(self, key, *rows, must_show=()):
        result = check(*rows)
        self.assertEqual(result["verdict"], lz.INVALID, lz.report_lines(result))
        self.assertEqual([v["key"] for v in result["violations"]], [key])
        window = result["violations"][0]["window"]
        lines = {op.line for op in window}
        for line in must_show:
            self.assertIn(line, lines, lz.report_lines(result))
        found = result["violations"][0]["found"]
        self.assertTrue(lz.window_fails(found, 100_000, time.monotonic() + 10),
                        "the reported window must itself fail")
        return window

    def test_stale_read(self):
        window = self.assertInvalid(
            "k",
            (1, "put", "k", "a", 0, 1, "ok"),
            (1, "put", "k", "b", 2, 3, "ok"),
            (2, "get", "k", "a", 4, 5, "ok"),
            must_show=(1, 2, 3))
        self.assertEqual(len(window), 3)

    def test_lost_write(self):
        # The acknowledged put of b is never seen; later reads see the older a.
        self.assertInvalid(
            "k",
            (1, "put", "k", "a", 0, 1, "ok"),
            (2, "put", "k", "b", 2, 3, "ok"),
            (3, "get", "k", "a", 10, 11, "ok"),
            (1, "get", "k", "a", 12, 13, "ok"),
            (2, "get", "k", "a", 14, 15, "ok"),
            must_show=(2,))

    def test_acknowledged_put_then_not_found(self):
        self.assertInvalid(
            "k",
            (1, "put", "k", "a", 0, 1, "ok"),
            (2, "get", "k", None, 2, 3, "not_found"),
            must_show=(1, 2))

    def test_value_nobody_wrote(self):
        window = self.assertInvalid(
            "k",
            (1, "put", "k", "a", 0, 1, "ok"),
            (2, "get", "k", "a", 2, 3, "ok"),
            (2, "get", "k", "ghost", 4, 5, "ok"),
            must_show=(3,))
        self.assertEqual(len(window), 1)

    def test_read_of_failed_write_value(self):
        self.assertInvalid(
            "k",
            (1, "put", "k", "a", 0, 1, "fail"),
            (2, "get", "k", "a", 2, 3, "ok"),
            must_show=(2,))

    def test_cas_succeeded_though_value_differed(self):
        self.assertInvalid(
            "k",
            (1, "put", "k", "a", 0, 1, "ok"),
            (2, "cas", "k", ("x", "y"), 2, 3, "ok"),
            must_show=(2,))

    def test_two_cas_on_same_expected_both_succeeded(self):
        self.assertInvalid(
            "k",
            (1, "put", "k", "a", 0, 1, "ok"),
            (2, "cas", "k", ("a", "b"), 2, 6, "ok"),
            (3, "cas", "k", ("a", "c"), 3, 7, "ok"),
            must_show=(2, 3))

    def test_cas_on_absent_key_succeeded(self):
        self.assertInvalid(
            "k",
            (2, "cas", "k", ("a", "b"), 2, 3, "ok"),
            must_show=(1,))

    def test_cas_reported_not_found_on_present_key(self):
        self.assertInvalid(
            "k",
            (1, "put", "k", "a", 0, 1, "ok"),
            (2, "cas", "k", ("a", "b"), 2, 3, "not_found"),
            must_show=(1, 2))

    def test_read_of_deleted_key(self):
        self.assertInvalid(
            "k",
            (1, "put", "k", "a", 0, 1, "ok"),
            (1, "del", "k", None, 2, 3, "ok"),
            (2, "get", "k", "a", 4, 5, "ok"),
            must_show=(2, 3))

    def test_unknown_write_seen_then_unseen(self):
        self.assertInvalid(
            "k",
            (1, "put", "k", "a", 0, 1, "ok"),
            (1, "put", "k", "b", 2, None, "unknown"),
            (2, "get", "k", "b", 5, 6, "ok"),
            (2, "get", "k", "a", 7, 8, "ok"),
            must_show=(4,))

    def test_unknown_write_seen_before_it_was_invoked(self):
        self.assertInvalid(
            "k",
            (2, "get", "k", "b", 0, 1, "ok"),
            (1, "put", "k", "b", 2, None, "unknown"),
            must_show=(1,))

    def test_only_the_bad_key_is_named(self):
        self.assertInvalid(
            "bad",
            (1, "put", "good", "a", 0, 1, "ok"),
            (2, "put", "bad", "x", 0, 1, "ok"),
            (1, "put", "bad", "y", 2, 3, "ok"),
            (2, "get", "good", "a", 2, 3, "ok"),
            (3, "get", "bad", "x", 4, 5, "ok"),
            must_show=(5,))


class Window(unittest.TestCase):
    def test_window_of_a_stale_read_late_in_a_long_history_is_small(self):
        rows = []
        t = 0
        for i in range(200):
            rows.append((1 + i % 3, "put", "k", "v%d" % i, t, t + 1, "ok"))
            rows.append((1 + (i + 1) % 3, "get", "k", "v%d" % i, t + 2, t + 3, "ok"))
            t += 4
        rows.append((1, "get", "k", "v150", t, t + 1, "ok"))
        rows.append((1, "put", "k", "after", t + 2, t + 3, "ok"))
        result = check(*rows)
        self.assertEqual(result["verdict"], lz.INVALID)
        window = result["violations"][0]["window"]
        # At most: the put of v150 and the read that pins it, the put of v199, the stale read.
        self.assertLessEqual(len(window), 4, lz.report_lines(result))
        self.assertIn(len(rows) - 1, {op.line for op in window})
        self.assertIn(399, {op.line for op in window})

    def test_window_marks_weakened_operations(self):
        result = check(
            (1, "put", "k", "a", 0, 1, "ok"),
            (1, "put", "k", "b", 2, 3, "ok"),
            (2, "get", "k", "a", 4, 5, "ok"))
        text = "\n".join(lz.report_lines(result))
        self.assertIn('key "k" is not linearizable', text)
        window = result["violations"][0]["window"]
        for op in window:
            marked = "taken as maybe applied" in op.describe()
            self.assertEqual(marked, op.is_optional(), op.describe())


def generated_history(seed, processes=5, count=1500, keys=3, unknown_rate=0.05):
    """A random history produced by a real register: each operation takes
    effect at a random instant inside its interval, some writes lose their
    answer (outcome unknown, applied or not)."""
    rng = random.Random(seed)
    free_at = [0.0] * processes
    plans = []
    for n in range(count):
        p = min(range(processes), key=lambda i: free_at[i])
        invoke = free_at[p] + rng.random()
        complete = invoke + rng.random() * 3
        point = rng.uniform(invoke, complete)
        free_at[p] = complete
        kind = rng.choice(("get", "get", "put", "cas", "del"))
        plans.append((point, n, p, kind, "k%d" % rng.randrange(keys), invoke, complete))
    plans.sort()
    state = {}
    rows = []
    for point, n, p, kind, key, invoke, complete in plans:
        cur = state.get(key)
        lost = kind != "get" and rng.random() < unknown_rate
        applied = not lost or rng.random() < 0.5
        if kind == "get":
            rows.append((p, "get", key, cur, invoke, complete, "ok" if cur else "not_found"))
            continue
        if kind == "put":
            val = "v%d" % n
            if applied:
                state[key] = val
            args, outcome = val, "ok"
        elif kind == "del":
            if applied:
                state.pop(key, None)
            args, outcome = None, "ok"
        else:
            expect = cur if (cur and rng.random() < 0.7) else "v%d" % rng.randrange(n + 1)
            args = (expect, "v%d" % n)
            if cur is None:
                outcome = "not_found"
            elif cur == expect:
                outcome = "ok"
                if applied:
                    state[key] = args[1]
            else:
                outcome = "fail"
        if lost:
            rows.append((p, kind, key, args, invoke, None, "unknown"))
        else:
            rows.append((p, kind, key, args, invoke, complete, outcome))
    return rows


class Generated(unittest.TestCase):
    def test_histories_of_a_real_register_are_linearizable(self):
        for seed in range(5):
            started = time.monotonic()
            result = check(*generated_history(seed))
            self.assertEqual(result["verdict"], lz.VALID, (seed, lz.report_lines(result)))
            self.assertLess(time.monotonic() - started, 20)

    def test_a_corrupted_read_in_a_generated_history_is_caught(self):
        rows = generated_history(7)
        victims = [i for i, r in enumerate(rows) if r[1] == "get" and r[6] == "ok"]
        i = victims[len(victims) // 2]
        p, kind, key, _, invoke, complete, outcome = rows[i]
        rows[i] = (p, kind, key, "corrupt", invoke, complete, outcome)
        result = check(*rows)
        self.assertEqual(result["verdict"], lz.INVALID)
        self.assertEqual([v["key"] for v in result["violations"]], [key])
        self.assertIn(i + 1, {op.line for op in result["violations"][0]["window"]})


def brute_force(ops, initial=None):
    """Linearizable by exhaustion (failed operations and reads of unknown
    outcome left out: they did nothing): some subset of the optional operations
    with every other one, in some order that respects real time (a before b
    when a returned before b was invoked), is legal from initial."""
    ops = [o for o in ops if o.outcome != "fail" and not (o.op == "get" and o.is_optional())]
    strict = [o for o in ops if not o.is_optional()]
    optional = [o for o in ops if o.is_optional()]

    def end(o):
        # Unknown as recorded: any time after invoke. Weakened by the
        # shrinker: maybe applied, but only within its interval.
        if o.outcome == "unknown" and o.weakened_from is None:
            return math.inf
        return o.complete

    def legal(order):
        state = initial
        for i, o in enumerate(order):
            if any(end(later) < o.invoke for later in order[i + 1:]):
                return False
            possible, state = lz.step(state, o)
            if not possible:
                return False
        return True

    for mask in range(1 << len(optional)):
        chosen = strict + [o for i, o in enumerate(optional) if mask >> i & 1]
        if any(legal(order) for order in itertools.permutations(chosen)):
            return True
    return False


def random_small_history(rng, n, unique=False):
    """n operations on one key with random overlapping intervals and every
    outcome class. Values written repeat (a, b, c), or with unique=True are
    all different, as the recorder makes them (then reads pick among them)."""
    rows = []
    written = ["a"]
    for p in range(n):
        invoke = rng.randrange(0, 12)
        complete = invoke + rng.randrange(0, 6)
        kind = rng.choice(("get", "put", "del", "cas"))
        values = written if unique else ("a", "b", "c")
        fresh = "v%d" % p if unique else rng.choice(values)
        if unique and kind in ("put", "cas"):
            written.append(fresh)
        if kind == "get":
            outcome = rng.choice(("ok", "ok", "not_found", "fail"))
            args = rng.choice(values) if outcome == "ok" else None
        elif kind == "cas":
            outcome = rng.choice(("ok", "not_found", "fail", "unknown"))
            args = (rng.choice(values), fresh)
        else:
            outcome = rng.choice(("ok", "ok", "fail", "unknown"))
            args = fresh if kind == "put" else None
        rows.append((p, kind, "k", args, invoke,
                     None if outcome == "unknown" and rng.random() < 0.5 else complete, outcome))
    return history(*rows)


class AgainstBruteForce(unittest.TestCase):
    def test_verdicts_match_exhaustive_search_on_small_histories(self):
        rng = random.Random(2026)
        seen = {lz.VALID: 0, lz.INVALID: 0}
        for i in range(1200):
            ops = random_small_history(rng, rng.randrange(1, 8), unique=i % 2 == 1)
            want = lz.VALID if brute_force(ops) else lz.INVALID
            got = lz.check_ops(ops, lz.Budget())
            self.assertEqual(got, want, "\n".join(o.describe() for o in ops))
            seen[want] += 1
        self.assertGreater(min(seen.values()), 100, seen)

    def test_windows_fail_under_exhaustive_search_from_every_start(self):
        rng = random.Random(7)
        checked = 0
        while checked < 300:
            ops = random_small_history(rng, rng.randrange(2, 8), unique=checked % 2 == 1)
            if lz.check_ops(ops, lz.Budget()) != lz.INVALID:
                continue
            win = lz.shrink(ops)
            self.assertIsNotNone(win)
            window = win.strict + win.maybe
            self.assertLessEqual(len(window), len(ops))
            for start in win.starts:
                self.assertFalse(brute_force(window, start),
                                 "window from %r:\n%s" % (start, "\n".join(
                                     o.describe() for o in window)))
            checked += 1


class Bounds(unittest.TestCase):
    def test_search_past_its_step_bound_is_unknown(self):
        rows = [(p, "put", "k", "v%d" % p, 0, 100, "ok") for p in range(12)]
        rows.append((99, "get", "k", "v0", 101, 102, "ok"))
        result = lz.check_history(history(*rows), max_steps=50, timeout_s=10)
        self.assertEqual(result["verdict"], lz.UNKNOWN)
        self.assertEqual(result["unknown_keys"], ["k"])


class CommandLine(unittest.TestCase):
    def run_checker(self, rows, *args, raw=None):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            if raw is not None:
                f.write(raw)
            for row in rows:
                f.write(json.dumps(op_dict(*row)) + "\n")
            path = f.name
        try:
            return subprocess.run([sys.executable, CHECKER, *args, path],
                                  capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(path)

    def test_linearizable_history_exits_0(self):
        r = self.run_checker([(1, "put", "k", "a", 0, 1, "ok"), (1, "get", "k", "a", 2, 3, "ok")])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("linearizable", r.stdout)

    def test_violation_exits_1_and_names_the_key(self):
        r = self.run_checker([(1, "put", "key7", "a", 0, 1, "ok"),
                              (1, "get", "key7", "b", 2, 3, "ok")])
        self.assertEqual(r.returncode, 1)
        self.assertIn('key "key7" is not linearizable', r.stdout)

    def test_json_output_is_one_line(self):
        r = self.run_checker([(1, "get", "k", "b", 2, 3, "ok")], "--json")
        self.assertEqual(r.returncode, 1)
        out = json.loads(r.stdout)
        self.assertFalse(out["valid"])
        self.assertEqual(out["violations"][0]["key"], "k")

    def test_bad_input_exits_2_naming_the_line(self):
        r = self.run_checker([], raw='{"op": "put", "key": "k"}\n')
        self.assertEqual(r.returncode, 2)
        self.assertIn("line 1", r.stderr)

    def test_step_bound_exits_3(self):
        rows = [(p, "put", "k", "v%d" % p, 0, 100, "ok") for p in range(12)]
        rows.append((99, "get", "k", "v0", 101, 102, "ok"))
        r = self.run_checker(rows, "--max-steps", "50")
        self.assertEqual(r.returncode, 3, r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
