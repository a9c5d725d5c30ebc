#!/usr/bin/env python3
"""linearize.py - the linearizability checker of cairn's fault-injection suite.

It reads a history of key-value operations (JSON lines, one completed or
abandoned operation per line) and decides whether some total order of them,
consistent with real time, explains every observed result under a model of
one register per key that starts absent. Keys are independent registers, so
the history is split per key and each part checked alone (P-compositionality).
Each part is searched with the Wing & Gong algorithm as improved by Lowe and
used by Knossos and Porcupine: walk the call/return events in time order, try
to linearize a pending call, backtrack when a return is reached whose call has
not been linearized, and remember each (set of linearized operations, register
state) already explored so no configuration is searched twice.

An operation whose outcome is unknown (a write sent but not answered) may take
effect at any point after its invocation, or never: its return is placed at
+infinity, and when the search reaches the return of such an optional
operation without having placed it, it takes "never" as one more choice.
Before the search, operations that cannot matter are dropped and optional
writes whose unique value someone read get a deadline (they must precede that
read), so unknown outcomes do not stay open for the rest of the history. The
search is bounded by steps and by wall time; past the bound the verdict is
"unknown", never a hang.

On a violation the checker prints the key and a small window of operations
that cannot be ordered. The search's furthest point bounds its end; its
start is pushed as late as it still fails when the register may begin the
window in any state the earlier operations could have left; then each
operation in it is weakened (a read dropped, a write made "maybe applied
within its interval") while it still fails. Every step only adds freedom,
so the window proves the violation on its own. The earlier writes of values
it read are shown with it, for the reader.

History line format (one JSON object per line; blank lines ignored):
  {"process": 3, "op": "put", "key": "k1", "value": "v17",
   "invoke": 12.031, "complete": 12.044, "outcome": "ok"}
  op        get | put | del | cas
  value     put: the value written; get with outcome ok: the value read
  expected  cas: the value compared against
  new       cas: the value written when it matches
  invoke    number, the time the operation was invoked (any unit, one clock)
  complete  number, the time its result came back; may be null if unknown
  outcome   ok        done: get found the value, put/del applied, cas matched
            not_found get or cas found the key absent (del ok on absent is ok)
            fail      certainly not applied and nothing observed (includes
                      a cas whose value differed and any unavailable error)
            unknown   a write that may or may not have been applied

Usage: linearize.py [--max-steps N] [--timeout-s S] [--json] HISTORY|-
Exit status: 0 linearizable, 1 not linearizable, 2 bad usage or input,
3 unknown (the search bound was reached before a verdict).
"""

import argparse
import json
import math
import sys
import time

OPS = ("get", "put", "del", "cas")
OUTCOMES = ("ok", "not_found", "fail", "unknown")

VALID = "valid"
INVALID = "invalid"
UNKNOWN = "unknown"

DEFAULT_MAX_STEPS = 2_000_000
DEFAULT_TIMEOUT_S = 60.0
SHRINK_TIMEOUT_S = 30.0  # at most this long spent shrinking one key's violation


class HistoryError(Exception):
    """A history line that cannot be understood; the message names the line."""


class Op:
    """One operation of a history. Immutable once parsed, except that the
    window shrinker makes weakened copies with `weakened()`."""

    __slots__ = ("index", "process", "op", "key", "value", "expected", "new",
                 "invoke", "complete", "outcome", "line", "weakened_from", "until",
                 "before_window")

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields.get(name))

    def copy(self, **changes):
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return Op(**fields)

    def is_write(self):
        return self.op in ("put", "del", "cas")

    def is_optional(self):
        """May have taken effect, or never."""
        return self.outcome == "unknown"

    def return_time(self):
        """When the operation must have taken effect by, if at all: `until`
        when prepare() narrowed it, +inf for an unknown outcome, else the
        completion time."""
        if self.until is not None:
            return self.until
        if self.outcome == "unknown" and self.weakened_from is None:
            return math.inf
        return self.complete

    def to_dict(self):
        d = {"process": self.process, "op": self.op, "key": self.key}
        if self.op == "cas":
            d["expected"] = self.expected
            d["new"] = self.new
        elif self.value is not None:
            d["value"] = self.value
        d["invoke"] = self.invoke
        d["complete"] = self.complete
        d["outcome"] = self.outcome
        if self.line is not None:
            d["line"] = self.line
        if self.weakened_from is not None:
            d["outcome"] = self.weakened_from
            d["weakened"] = True
        if self.before_window:
            d["before_window"] = True
        return d

    def describe(self):
        if self.op == "cas":
            what = "cas %s %s -> %s" % (json.dumps(self.key), json.dumps(self.expected),
                                        json.dumps(self.new))
        elif self.op == "put":
            what = "put %s %s" % (json.dumps(self.key), json.dumps(self.value))
        elif self.op == "get" and self.outcome == "ok":
            what = "get %s = %s" % (json.dumps(self.key), json.dumps(self.value))
        else:
            what = "%s %s" % (self.op, json.dumps(self.key))
        end = "?" if self.complete is None else "%s" % self.complete
        where = "" if self.line is None else "  (line %d)" % self.line
        outcome = self.outcome
        if self.weakened_from is not None:
            outcome = "%s, taken as maybe applied" % self.weakened_from
        if self.before_window:
            outcome += "; earlier, wrote a value read below"
        return "[%s, %s] process %s: %s -> %s%s" % (self.invoke, end, self.process, what,
                                                    outcome, where)


# ---------------------------------------------------------------------------
# Parsing


def _need_str(obj, name, line):
    v = obj.get(name)
    if not isinstance(v, str):
        raise HistoryError("line %d: field %r must be a string" % (line, name))
    return v


def _need_time(obj, name, line):
    v = obj.get(name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise HistoryError("line %d: field %r must be a finite number" % (line, name))
    return v


def parse_op(obj, line):
    """Turns one decoded JSON object into an Op, checking every field."""
    if not isinstance(obj, dict):
        raise HistoryError("line %d: not a JSON object" % line)
    kind = obj.get("op")
    if kind not in OPS:
        raise HistoryError("line %d: field 'op' must be one of %s" % (line, "/".join(OPS)))
    outcome = obj.get("outcome")
    if outcome not in OUTCOMES:
        raise HistoryError("line %d: field 'outcome' must be one of %s" %
                           (line, "/".join(OUTCOMES)))
    key = _need_str(obj, "key", line)
    invoke = _need_time(obj, "invoke", line)
    if outcome == "unknown" and obj.get("complete") is None:
        complete = None
    else:
        complete = _need_time(obj, "complete", line)
        if complete < invoke:
            raise HistoryError("line %d: completes before it is invoked" % line)
    value = expected = new = None
    if kind == "put":
        value = _need_str(obj, "value", line)
    elif kind == "get" and outcome == "ok":
        value = _need_str(obj, "value", line)
    elif kind == "cas":
        expected = _need_str(obj, "expected", line)
        new = _need_str(obj, "new", line)
    if kind == "put" and outcome == "not_found":
        raise HistoryError("line %d: a put cannot end not_found" % line)
    return Op(index=line, process=obj.get("process"), op=kind, key=key, value=value,
              expected=expected, new=new, invoke=invoke, complete=complete,
              outcome=outcome, line=line)


def parse_history(lines):
    """Parses an iterable of JSON lines into a list of Op, in file order."""
    ops = []
    for n, text in enumerate(lines, start=1):
        text = text.strip()
        if not text:
            continue
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise HistoryError("line %d: not JSON: %s" % (n, e)) from None
        ops.append(parse_op(obj, n))
    return ops


# ---------------------------------------------------------------------------
# The model: one register per key, None meaning absent.


def step(state, op):
    """Applies op to the register. Returns (possible, next_state)."""
    kind, outcome = op.op, op.outcome
    if kind == "get":
        if outcome == "ok":
            return state is not None and state == op.value, state
        return state is None, state  # not_found
    if kind == "put":
        return True, op.value  # ok or unknown: both write
    if kind == "del":
        if outcome == "not_found":
            return state is None, state
        return True, None  # ok (absent or not) or unknown
    # cas
    if outcome == "ok":
        return state is not None and state == op.expected, op.new
    if outcome == "not_found":
        return state is None, state
    # unknown: applies if it matches at its point, else changes nothing
    if state is not None and state == op.expected:
        return True, op.new
    return True, state


# ---------------------------------------------------------------------------
# Preparing one key's operations for the search


def observed_values(ops):
    """Values some operation's result depends on, and whether any result
    depends on the key being absent."""
    values = set()
    absent = False
    for op in ops:
        if op.outcome == "not_found":
            absent = True
        if op.op == "get" and op.outcome == "ok":
            values.add(op.value)
        if op.op == "cas" and op.outcome in ("ok", "unknown"):
            values.add(op.expected)
    return values, absent


def written_value(op):
    """The value a put or cas writes, else None."""
    if op.op == "put":
        return op.value
    if op.op == "cas":
        return op.new
    return None


def _unobserved_optional(op, values, absent):
    if not op.is_optional():
        return False
    if op.op == "del":
        return not absent
    return written_value(op) not in values


def prepare(ops, initial_values=()):
    """Drops operations that cannot change the verdict and narrows when
    optional writes can happen. Returns new Op objects; ops are not changed.

    A failed operation had no effect and observed nothing; a read of unknown
    outcome observed nothing. An optional write whose resulting state no
    operation can observe (a value nobody read or compared with, a delete when
    nothing found the key absent) can be taken as never applied without loss:
    in any linearization that applies it, the stretch until the next write
    holds no read, so removing it leaves a valid order.

    An optional write whose value is observed, and is the only write of that
    value (the register does not start with it: initial_values), must have
    happened before the first observer completed, so its window ends there
    rather than at +infinity. This keeps operations of
    unknown outcome from staying open for the rest of the history."""
    kept = [op for op in ops
            if op.outcome != "fail" and not (op.op == "get" and op.outcome == "unknown")]
    # Dropping an optional cas may leave the value it compared with unobserved.
    while True:
        values, absent = observed_values(kept)
        fewer = [op for op in kept if not _unobserved_optional(op, values, absent)]
        if len(fewer) == len(kept):
            break
        kept = fewer
    writers = {v: 1 for v in initial_values if v is not None}
    for op in kept:
        v = written_value(op)
        if v is not None:
            writers[v] = writers.get(v, 0) + 1
    first_seen = {}
    for op in kept:
        seen = None
        if op.op == "get" and op.outcome == "ok":
            seen = op.value
        elif op.op == "cas" and op.outcome == "ok":
            seen = op.expected
        if seen is not None and op.outcome != "unknown":
            first_seen[seen] = min(first_seen.get(seen, math.inf), op.complete)
    out = []
    for op in kept:
        if not op.is_optional():
            out.append(op)
            continue
        v = written_value(op)
        until = math.inf if op.weakened_from is None else op.complete
        if v is not None and writers[v] == 1 and v in first_seen:
            until = max(op.invoke, min(until, first_seen[v]))
        out.append(op.copy(until=until))
    return out


# ---------------------------------------------------------------------------
# The search


class _Entry:
    """A call or return event in the doubly-linked event list."""

    __slots__ = ("op", "slot", "is_call", "match", "match_call", "prev", "next")

    def __init__(self, op, slot, is_call):
        self.op = op
        self.slot = slot
        self.is_call = is_call
        self.match = None
        self.match_call = None
        self.prev = None
        self.next = None


def _build_events(ops):
    """Events sorted by time; at equal times calls come first, so operations
    that touch at an instant count as concurrent (the permissive reading)."""
    events = []
    for slot, op in enumerate(ops):
        call = _Entry(op, slot, True)
        ret = _Entry(op, slot, False)
        call.match = ret
        ret.match_call = call
        events.append((op.invoke, 0, slot, call))
        events.append((op.return_time(), 1, slot, ret))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    head = _Entry(None, -1, False)
    prev = head
    for _, _, _, entry in events:
        prev.next = entry
        entry.prev = prev
        prev = entry
    return head


def _lift(entry):
    entry.prev.next = entry.next
    if entry.next is not None:
        entry.next.prev = entry.prev
    ret = entry.match
    ret.prev.next = ret.next
    if ret.next is not None:
        ret.next.prev = ret.prev


def _unlift(entry):
    ret = entry.match
    ret.prev.next = ret
    if ret.next is not None:
        ret.next.prev = ret
    entry.prev.next = entry
    if entry.next is not None:
        entry.next.prev = entry


class Budget:
    """The bound on one check: steps of the search and a wall-clock deadline."""

    def __init__(self, max_steps=DEFAULT_MAX_STEPS, timeout_s=DEFAULT_TIMEOUT_S):
        self.max_steps = max_steps
        self.deadline = time.monotonic() + timeout_s
        self.steps = 0
        # The latest return the search ever had to back off from: no path
        # got past it, so operations invoked after it played no part.
        self.furthest = -math.inf

    def spend(self):
        self.steps += 1
        if self.steps > self.max_steps:
            return False
        if self.steps & 0x3FF == 0 and time.monotonic() > self.deadline:
            return False
        return True


def _cache_key(mask, state):
    """(mask, state) without the run of low ones the mask starts with: the
    same set, a far smaller int to hash and keep."""
    prefix = (~mask & (mask + 1)).bit_length() - 1
    return prefix, mask >> prefix, state


def search(ops, budget, initial=None):
    """Decides whether ops (all on one key) are linearizable from an absent
    register (or from `initial`). Returns VALID, INVALID, or UNKNOWN when
    budget runs out.

    Deletes of unknown outcome open until +infinity all have the same effect,
    so any order that uses some of them can use the earliest invoked instead:
    they are tried only in invocation order (rank), which keeps many of them
    from multiplying the configurations searched."""
    if not ops:
        return VALID
    # Slots in invocation order, so the linearized set is mostly a prefix of
    # slots and the cache can key on (prefix length, the bits after it).
    ops = sorted(ops, key=lambda o: (o.invoke, o.index))
    head = _build_events(ops)
    open_dels = sorted((op.invoke, slot) for slot, op in enumerate(ops)
                       if op.op == "del" and op.is_optional() and op.return_time() == math.inf)
    rank = {slot: r for r, (_, slot) in enumerate(open_dels)}
    dels_done = 0
    state = initial
    linearized = 0
    cache = set()
    stack = []
    entry = head.next
    while head.next is not None:
        if not budget.spend():
            return UNKNOWN
        if entry.is_call:
            r = rank.get(entry.slot)
            if r is not None and (r != dels_done or state is None):
                # Not its turn, or a no-op now: a later turn or never covers it.
                entry = entry.next
                continue
            possible, after = step(state, entry.op)
            if possible:
                mask = linearized | (1 << entry.slot)
                key = _cache_key(mask, after)
                if key not in cache:
                    cache.add(key)
                    stack.append((entry, state))
                    state = after
                    linearized = mask
                    if r is not None:
                        dels_done += 1
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if entry.op.return_time() == math.inf:
                # Every operation left may still happen later, or never.
                return VALID
            if entry.op.is_optional():
                # It may never have happened: take that choice, once per configuration.
                mask = linearized | (1 << entry.slot)
                key = _cache_key(mask, state)
                if key not in cache:
                    cache.add(key)
                    call = entry.match_call
                    stack.append((call, state))
                    linearized = mask
                    _lift(call)
                    entry = head.next
                    continue
            # An operation returned before we could place it: undo the last choice.
            budget.furthest = max(budget.furthest, entry.op.return_time())
            if not stack:
                return INVALID
            entry, state = stack.pop()
            linearized &= ~(1 << entry.slot)
            if entry.slot in rank:
                dels_done -= 1
            _unlift(entry)
            entry = entry.next
    return VALID


def check_ops(ops, budget):
    """search() after prepare(); ops need not be sorted."""
    return search(prepare(ops), budget)


# ---------------------------------------------------------------------------
# Shrinking a violation to a window


def _weaken(op):
    """A read, or a write that found the key absent, is dropped (None); any
    other write becomes "maybe applied within its interval"."""
    if op.op == "get" or op.outcome == "not_found":
        return None
    if op.outcome == "unknown":
        return op
    return op.copy(outcome="unknown", weakened_from=op.outcome, until=None)


# A register value no operation writes or reads: stands for "some value
# that nobody in the window observes".
OTHER = object()


class Window:
    """A violation cut down to a few operations.

    strict  operations kept as recorded, in invocation order
    maybe   other operations of the key, weakened (reads dropped, writes
            maybe applied within their intervals), that overlap the window
    earlier how many operations completed before the window: the register
            may start the window in any state they could have left
    starts  those possible start states (None = absent, OTHER = a value the
            window never sees)
    context the earlier operations that wrote a value a strict one read:
            shown to the reader, not needed for the failure
    Invariant: no order of strict + maybe, from any of starts, is legal."""

    def __init__(self, strict, maybe, earlier, starts, context):
        self.strict = strict
        self.maybe = maybe
        self.earlier = earlier
        self.starts = starts
        self.context = context

    def shown(self):
        """strict plus the maybe-applied writes whose effect a strict
        operation saw, in invocation order: what a reader needs."""
        seen = {o.value if o.op == "get" else o.expected for o in self.strict
                if o.outcome == "ok" and o.op in ("get", "cas")}
        absent = any(o.outcome == "not_found" for o in self.strict)
        extra = [o for o in self.maybe
                 if written_value(o) in seen or (o.op == "del" and absent)]
        context = [o.copy(before_window=True) for o in self.context if written_value(o) in seen]
        return sorted(self.strict + extra + context, key=lambda o: (o.invoke, o.index))


def _window(strict, others):
    """Builds the Window of strict operations given every other operation
    of the key (as recorded). Soundness: in a linearization of the whole
    history, operations that completed before the window's first invocation
    come before all of it, and whatever state they leave is among starts;
    the operations overlapping the window are taken as maybe applied, which
    only adds freedom."""
    t0 = min(o.invoke for o in strict)
    kept, dropped = [], []
    for o in others:
        end = math.inf if o.outcome == "unknown" else o.complete
        if end < t0:
            dropped.append(o)
        else:
            w = _weaken(o)
            if w is not None:
                kept.append(w)
    ops = prepare(strict + kept)
    values, _ = observed_values(ops)
    starts = [None]
    if dropped:
        written = {written_value(o) for o in dropped} - {None}
        starts.append(OTHER)
        starts += sorted(v for v in written if v in values)
    maybe = [o for o in ops if o.is_optional()]
    context = [o for o in dropped if o.outcome in ("ok", "unknown") and written_value(o) in values]
    return Window([o for o in ops if not o.is_optional()], maybe, len(dropped), starts, context)


def window_fails(win, max_steps, deadline):
    """True when the window's operations cannot be ordered from any of its
    start states (a search that runs out of budget counts as "can")."""
    ops = prepare(win.strict + win.maybe, initial_values=win.starts)
    for start in win.starts:
        budget = Budget(max_steps, max(0.0, deadline - time.monotonic()))
        if search(ops, budget, initial=start) != INVALID:
            return False
    return True


def shrink(ops, max_steps=DEFAULT_MAX_STEPS, timeout_s=DEFAULT_TIMEOUT_S):
    """Given the operations of one key that are not linearizable, returns a
    Window of few operations that cannot be ordered (see Window), or None
    when the search runs out of budget before finding one.

    The search's furthest point bounds the end: operations invoked after it
    played no part. Then the start is pushed as late as the window still
    fails (earlier operations cut off, their possible states kept), then
    each remaining operation is weakened while the window still fails:
    reads first, since dropping them shortens the window; a write left
    strict shows when it happened."""
    deadline = time.monotonic() + timeout_s
    ops = sorted(prepare(ops), key=lambda o: (o.invoke, o.index))
    budget = Budget(max_steps, timeout_s)
    if search(ops, budget) != INVALID:
        return None
    end = sum(1 for o in ops if o.invoke <= budget.furthest)
    if end < 1:
        end = len(ops)

    def fails_from(start):
        win = _window(ops[start:end], ops[:start] + ops[end:])
        return win if window_fails(win, max_steps, deadline) else None

    # Latest start that fails: try windows doubling backwards from the end,
    # then halve the gap to the last one that did not fail.
    good, span, found = end, 1, None
    while found is None and time.monotonic() < deadline:
        start = max(0, end - span)
        found = fails_from(start)
        if found is None:
            good = start
            if start == 0:
                break
            span *= 2
    if found is None:
        return None
    lo, hi = start, good  # fails at lo; nothing in (hi..end) failed
    while hi - lo > 1 and time.monotonic() < deadline:
        mid = (lo + hi) // 2
        win = fails_from(mid)
        if win is not None:
            lo, found = mid, win
        else:
            hi = mid
    strict = ops[lo:end]
    others = ops[:lo] + ops[end:]
    order = [o for o in strict if o.op == "get"] + [o for o in strict if o.op != "get"]
    for candidate in order:
        if time.monotonic() >= deadline or len(strict) == 1:
            break
        trial = [o for o in strict if o is not candidate]
        win = _window(trial, others + [candidate])
        if window_fails(win, max_steps, deadline):
            strict, found = trial, win
            others = others + [candidate]
    return found


# ---------------------------------------------------------------------------
# Whole histories


def by_key(ops):
    keys = {}
    for op in ops:
        keys.setdefault(op.key, []).append(op)
    return keys


def check_history(ops, max_steps=DEFAULT_MAX_STEPS, timeout_s=DEFAULT_TIMEOUT_S):
    """Checks a whole history. Returns a dict:
      verdict      VALID, INVALID or UNKNOWN (INVALID wins over UNKNOWN)
      keys, ops    how many were checked
      violations   [{"key": k, "window": [Op, ...], "earlier": n}] for each
                   failing key: the operations that cannot be ordered, from
                   any state the n operations completed before them left
      unknown_keys keys whose search ran out of budget
    max_steps bounds each key's search; timeout_s bounds the whole check."""
    deadline = time.monotonic() + timeout_s
    violations = []
    unknown_keys = []
    keys = by_key(ops)
    for key in sorted(keys):
        remaining = max(0.0, deadline - time.monotonic())
        verdict = check_ops(keys[key], Budget(max_steps, remaining))
        if verdict == INVALID:
            win = shrink(keys[key], max_steps, min(SHRINK_TIMEOUT_S, max(1.0, remaining / 4)))
            violations.append({"key": key, "window": [] if win is None else win.shown(),
                               "earlier": 0 if win is None else win.earlier, "found": win})
        elif verdict == UNKNOWN:
            unknown_keys.append(key)
    verdict = INVALID if violations else (UNKNOWN if unknown_keys else VALID)
    return {"verdict": verdict, "keys": len(keys), "ops": len(ops),
            "violations": violations, "unknown_keys": unknown_keys}


def report_lines(result):
    """Human-readable lines for a check_history() result."""
    lines = []
    for v in result["violations"]:
        inside = sum(1 for op in v["window"] if not op.before_window)
        lines.append("key %s is not linearizable: these %d operations cannot be ordered%s:" %
                     (json.dumps(v["key"]), inside,
                      "" if not v["earlier"] else
                      ", from any state the %d operations before them could have left" %
                      v["earlier"]))
        if not v["window"]:
            lines.append("  (no smaller window found within the time allowed)")
        for op in v["window"]:
            lines.append("  " + op.describe())
    for key in result["unknown_keys"]:
        lines.append("key %s: search bound reached, no verdict" % json.dumps(key))
    lines.append("%s: %d operations on %d keys" %
                 ({VALID: "linearizable", INVALID: "NOT linearizable",
                   UNKNOWN: "unknown"}[result["verdict"]], result["ops"], result["keys"]))
    return lines


def result_json(result):
    return {"valid": result["verdict"] == VALID, "verdict": result["verdict"],
            "keys": result["keys"], "ops": result["ops"],
            "violations": [{"key": v["key"], "earlier": v["earlier"],
                            "window": [op.to_dict() for op in v["window"]]}
                           for v in result["violations"]],
            "unknown_keys": result["unknown_keys"]}


def main(argv):
    parser = argparse.ArgumentParser(description="Check a key-value history for linearizability.")
    parser.add_argument("history", help="JSON-lines history file, or - for stdin")
    parser.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS,
                        help="search steps allowed per key (default %(default)s)")
    parser.add_argument("--timeout-s", type=float, default=DEFAULT_TIMEOUT_S,
                        help="wall time allowed for the whole check (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    try:
        if args.history == "-":
            ops = parse_history(sys.stdin)
        else:
            with open(args.history, encoding="utf-8") as f:
                ops = parse_history(f)
    except (OSError, HistoryError) as e:
        print("linearize: %s: %s" % (args.history, e), file=sys.stderr)
        return 2
    result = check_history(ops, args.max_steps, args.timeout_s)
    if args.json:
        print(json.dumps(result_json(result)))
    else:
        for line in report_lines(result):
            print(line)
    return {VALID: 0, INVALID: 1, UNKNOWN: 3}[result["verdict"]]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
