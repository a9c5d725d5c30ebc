"""run.py - one fault-injection run against real cairnd members (tools/jepsen).

A run starts a cluster (cluster.py), waits for a leader, starts the clients
(workload.py) and carries out the seeded fault schedule (nemesis.py) on the
main thread. When the schedule is done every fault is healed, the clients
keep going through a quiet period, then stop, and every key is read once
more. The history is then judged:

  - linearizable (linearize.py), per key;
  - no acknowledged write missing: the last value read of each key must come
    from a write that no acknowledged write followed in real time;
  - no member exited on its own, and every member exits 0 on SIGTERM;
  - after the final heal the cluster served a write within a few election
    timeouts (recovery_limit_s).

It prints one line per notable event, the checker's report on failure, and
last a one-line JSON summary; exit status 0 only when everything held.
"""

import argparse
import json
import math
import os
import random
import signal
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as cluster_mod  # noqa: E402
import linearize  # noqa: E402
import nemesis as nemesis_mod  # noqa: E402
import workload  # noqa: E402

WRITES = ("put", "cas", "del")
PROBE_KEY = "probe"


def percentile(values, p):
    """The p-th percentile (nearest rank) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def first_ok_write_after(history, t):
    """Completion time of the first acknowledged write invoked at or after t."""
    best = None
    for e in history:
        if e["op"] in WRITES and e["outcome"] == "ok" and e["invoke"] >= t:
            if best is None or e["complete"] < best:
                best = e["complete"]
    return best


def failover_ms(history, events, kinds):
    """For each fault of the given kinds: ms from its start to the first
    acknowledged write invoked after it (None if none came)."""
    out = []
    for ev in events:
        if ev.kind in kinds:
            done = first_ok_write_after(history, ev.start)
            out.append(None if done is None else round((done - ev.start) * 1000, 1))
    return out


def longest_gap_ms(history, start, end):
    """The longest stretch within [start, end] in which no operation
    completed successfully (a member answered ok or not found)."""
    times = sorted(e["complete"] for e in history
                   if e["outcome"] in ("ok", "not_found") and start <= e["complete"] <= end)
    edges = [start] + times + [end]
    return round(max(b - a for a, b in zip(edges, edges[1:])) * 1000, 1)


def availability(history, windows):
    """Fraction of operations invoked inside / outside the windows that a
    member answered (ok, not found, cas mismatch)."""
    inside = [0, 0]
    outside = [0, 0]
    for e in history:
        if e["process"] == "final":
            continue
        into = any(a <= e["invoke"] < b for a, b in windows)
        bucket = inside if into else outside
        bucket[1] += 1
        if e["exit"] in workload.SERVED:
            bucket[0] += 1

    def ratio(b):
        return None if b[1] == 0 else round(b[0] / b[1], 3)
    return ratio(inside), ratio(outside)


def lost_writes(history, keys):
    """Keys whose last read shows a value that an acknowledged write had
    already replaced: each value is written once, so the write that wrote
    the value read must not be followed (in real time) by an acknowledged
    write. A read of an absent key needs some delete, or no acknowledged
    write at all, that nothing acknowledged followed."""
    problems = []
    for key in keys:
        ops = [e for e in history if e["key"] == key]
        reads = [e for e in ops if e["op"] == "get" and e["outcome"] in ("ok", "not_found")]
        if not reads:
            continue
        last = max(reads, key=lambda e: e["invoke"])
        acked = [e for e in ops if e["op"] in WRITES and e["outcome"] == "ok"]

        def followed(w):
            # Acknowledged writes certainly ordered after w and before the read.
            end = w["complete"] if w["outcome"] != "unknown" else float("inf")
            return [a for a in acked if a["invoke"] > end and a["complete"] < last["invoke"]]

        if last["outcome"] == "ok":
            v = last["value"]
            writers = [e for e in ops if e["op"] in ("put", "cas")
                       and e["outcome"] in ("ok", "unknown")
                       and (e.get("value") == v if e["op"] == "put" else e.get("new") == v)]
            if writers and all(followed(w) for w in writers):
                a = followed(writers[0])[0]
                problems.append("key %s: last read %r, but the acknowledged %s at %.3f "
                                "came after that value was written" %
                                (key, v, a["op"], a["invoke"]))
        else:
            dels = [e for e in ops if e["op"] == "del" and e["outcome"] in ("ok", "unknown")]
            puts = [a for a in acked if a["op"] in ("put", "cas")
                    and a["complete"] < last["invoke"]]
            if puts and (not dels or all(followed(d) for d in dels)):
                problems.append("key %s: last read found it absent, but an acknowledged "
                                "write to it was never deleted" % key)
    return problems


class Run:
    def __init__(self, args):
        self.args = args
        self.t0 = time.monotonic()
        self.notes = []  # reasons the run is not valid
        self.skipped = False

    def log(self, msg):
        print("[%8.3f] %s" % (time.monotonic() - self.t0, msg), flush=True)

    def fail(self, msg):
        self.notes.append(msg)
        self.log("FAIL: " + msg)

    def execute(self):
        a = self.args
        faults = nemesis_mod.schedule(a.seed, a.seconds, a.members, a.nemesis)
        self.log("seed %s: %d faults in %ss on %d members: %s" %
                 (a.seed, len(faults), a.seconds, a.members,
                  json.dumps([f.to_dict() for f in faults])))
        cl = cluster_mod.Cluster(a.cairnd, a.cairn, a.members, a.heartbeat_ms,
                                 a.election_timeout_ms, keep=a.keep, log=self.log,
                                 log_keep_entries=a.log_keep_entries)
        try:
            return self._execute(cl, faults)
        finally:
            if self.notes or a.keep:
                for i in cl.ids():
                    for line in cl.log_tail(i, a.log_lines):
                        print("  node%d| %s" % (i, line))
            cl.keep = a.keep
            cl.close()

    def _execute(self, cl, faults):
        a = self.args
        cl.start_all()
        if a.skip_if_placeholder and self._placeholder(cl):
            self.skipped = True
            return None
        leader = cl.wait_leader(a.start_timeout_s)
        if leader is None:
            self.fail("no leader within %ss of start" % a.start_timeout_s)
            return self.summary([], [], None)
        self.log("leader is %d" % leader)

        if a.client == "batch" and cl.cli("batch", timeout_ms=1000)[0] != 0:
            self.log("%s has no working `batch` command: one process per operation" % a.cairn)
            a.client = "cli"
        history = workload.History()
        rec = workload.Recorder(a.cairn, cl.client_config, history, self.t0, a.op_timeout_ms)
        keys = ["k%d" % i for i in range(a.keys)]
        stop = threading.Event()
        # Odd clients give up early: their writes end "unknown" or "unavailable"
        # during faults, which exercises at-most-once retries and the checker.
        clients = [workload.Client(p, rec, keys, a.seed, stop,
                                   None if a.client == "cli" else
                                   os.path.join(cl.dir, "client%d.log" % p),
                                   a.op_timeout_ms if p % 2 == 0 else a.short_timeout_ms)
                   for p in range(a.clients)]
        for c in clients:
            c.start()
        nem = nemesis_mod.Nemesis(cl, self.t0, log=self.log)
        try:
            began = nem.now()
            nem.run(faults, began)
            nem.sleep_until(began + a.seconds)
            nemesis_mod.heal_all(cl)
            healed = nem.now()
            self.log("all healed; quiet for %ss" % a.quiet_s)
            recovery_s = self._probe(rec, nem, healed)
            nem.sleep_until(healed + a.quiet_s)
        finally:
            stop.set()
            for c in clients:
                c.join(a.op_timeout_ms / 1000 + 15)
        for i in cl.check_crashes(nem.now()):
            cl.start(i)
        for key in keys + [PROBE_KEY]:
            for _ in range(3):
                e = rec.run("final", "get", key, timeout_ms=5000)
                if e["outcome"] in ("ok", "not_found"):
                    break
            else:
                self.fail("final read of %s did not succeed" % key)
        statuses = cl.stop_all()
        for when, i, code in cl.crashes:
            self.fail("member %d exited on its own with status %s at %.3f" % (i, code, when))
        for i, code in sorted(statuses.items()):
            if code != 0:
                self.fail("member %d exited with status %s on SIGTERM" % (i, code))
        for anomaly in rec.anomalies:
            self.fail("client: " + anomaly)
        entries = history.snapshot()
        if a.history:
            with open(a.history, "w", encoding="utf-8") as f:
                for e in entries:
                    f.write(json.dumps(e) + "\n")
        if recovery_s is None:
            self.fail("no write acknowledged within %ss after the final heal" %
                      a.recovery_limit_s)
        for problem in lost_writes(entries, keys + [PROBE_KEY]):
            self.fail("acknowledged write missing: " + problem)
        return self.summary(entries, nem.events, recovery_s)

    @staticmethod
    def _placeholder(cl):
        """True when cairnd is a build that cannot serve (the placeholder of
        a tree where the server is not merged yet): every member exits at
        once with status 2 and says why."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(cl.running(i) for i in cl.ids()):
            time.sleep(0.05)
        if any(cl.running(i) for i in cl.ids()):
            return False
        text = "\n".join("\n".join(cl.log_tail(i)) for i in cl.ids())
        return ("not implemented" in text or "built without" in text) and all(
            cl.members[i].proc.returncode == 2 for i in cl.ids())

    def _probe(self, rec, nem, healed):
        """Writes to the probe key until one is acknowledged; returns the
        seconds from healed to that acknowledgement, or None when none came
        within the recovery limit. The probes are part of the history."""
        a = self.args
        deadline = healed + a.recovery_limit_s
        n = 0
        while nem.now() < deadline:
            n += 1
            left_ms = int((deadline - nem.now()) * 1000)
            e = rec.run("probe", "put", PROBE_KEY, ("probe-%d" % n,),
                        timeout_ms=max(100, min(1000, left_ms)))
            if e["outcome"] == "ok" and e["complete"] <= deadline:
                self.log("write acknowledged %.3fs after the final heal" % (e["complete"] - healed))
                return e["complete"] - healed
        return None

    def summary(self, entries, events, recovery_s):
        a = self.args
        ops = {o: 0 for o in linearize.OUTCOMES}
        for e in entries:
            ops[e["outcome"]] += 1
        verdict = None
        if entries:
            parsed = linearize.parse_history(json.dumps(e) for e in entries)
            result = linearize.check_history(parsed, a.check_steps, a.check_timeout_s)
            verdict = result["verdict"]
            if verdict != linearize.VALID:
                for line in linearize.report_lines(result):
                    print(line)
                self.fail("history is %s" % ("not linearizable" if verdict == linearize.INVALID
                                             else "of unknown linearizability (search bound)"))
        windows = [(ev.start, ev.end if ev.end is not None else float("inf")) for ev in events]
        during, outside = availability(entries, windows)
        kills = failover_ms(entries, events, ("kill-leader",))
        measured = [k for k in kills if k is not None]
        by_kind = {}
        for kind in ("kill-leader", "stop-leader", "partition-leader"):
            ms = [m for m in failover_ms(entries, events, (kind,)) if m is not None]
            if ms:
                by_kind[kind] = {"n": len(ms), "median": round(statistics.median(ms), 1),
                                 "max": max(ms)}
        out = {
            "seed": a.seed, "members": a.members, "seconds": a.seconds,
            "ops": ops, "faults": len(events),
            "fault_kinds": sorted({ev.kind for ev in events}),
            "availability_during_faults": during, "availability_outside_faults": outside,
            "longest_gap_without_success_ms":
                None if not entries else longest_gap_ms(entries, entries[0]["invoke"],
                                                        max(e["complete"] for e in entries)),
            "leader_kills": len(kills),
            "leader_kill_to_write_ms": None if not measured else {
                "n": len(measured), "median": round(statistics.median(measured), 1),
                "p95": percentile(measured, 95), "max": max(measured)},
            "longest_unavailability_after_leader_kill_ms":
                None if not kills else (None if None in kills else max(kills)),
            "fault_to_write_ms": by_kind,
            "recovery_after_heal_ms": None if recovery_s is None else round(recovery_s * 1000, 1),
            "linearizable": verdict,
            "problems": len(self.notes),
            "valid": not self.notes and verdict == linearize.VALID,
        }
        return out


def parse_args(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    p = argparse.ArgumentParser(prog="tools/jepsen",
                                description="Fault-injection run against real cairnd members.")
    p.add_argument("--seconds", type=float, default=60, help="length of the fault schedule")
    p.add_argument("--seed", type=int, default=None, help="seed of the schedule (default: random)")
    p.add_argument("--members", type=int, choices=(3, 5), default=3)
    p.add_argument("--clients", type=int, default=5)
    p.add_argument("--keys", type=int, default=4)
    p.add_argument("--nemesis", default=",".join(nemesis_mod.KINDS),
                   help="comma-separated fault kinds (default: all): " +
                   ", ".join(nemesis_mod.KINDS))
    p.add_argument("--build", default=os.path.join(root, "build"),
                   help="build directory holding cairnd and cairn (default: build)")
    p.add_argument("--cairnd", help="path of cairnd (default: BUILD/cairnd)")
    p.add_argument("--cairn", help="path of the cairn CLI (default: BUILD/cairn)")
    p.add_argument("--heartbeat-ms", type=int, default=50)
    p.add_argument("--election-timeout-ms", type=int, default=300)
    p.add_argument("--log-keep-entries", type=int, default=None,
                   help="[cluster] log_keep_entries (small: lagging members get snapshots)")
    p.add_argument("--op-timeout-ms", type=int, default=2000, help="the CLI's --timeout")
    p.add_argument("--short-timeout-ms", type=int, default=250,
                   help="the --timeout of every other client (default %(default)s)")
    p.add_argument("--client", choices=("batch", "cli"), default="batch",
                   help="each client one long-lived `cairn batch` (default), "
                   "or one `cairn` process per operation")
    p.add_argument("--quiet-s", type=float, default=3.0, help="healthy time after the last heal")
    p.add_argument("--recovery-limit-s", type=float, default=None,
                   help="a write must succeed this soon after the final heal "
                   "(default: 10 election timeouts, at least 3 s)")
    p.add_argument("--start-timeout-s", type=float, default=20)
    p.add_argument("--check-steps", type=int, default=5_000_000)
    p.add_argument("--check-timeout-s", type=float, default=120)
    p.add_argument("--history", help="also write the history (JSON lines) here")
    p.add_argument("--skip-if-placeholder", action="store_true",
                   help="exit 77 (skipped) when cairnd is a placeholder that cannot serve")
    p.add_argument("--keep", action="store_true", help="keep the temp dir and print the logs")
    p.add_argument("--log-lines", type=int, default=40,
                   help="lines of each member's log printed on failure")
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1 << 31)
    a.nemesis = [k for k in a.nemesis.split(",") if k]
    for k in a.nemesis:
        if k not in nemesis_mod.KINDS:
            p.error("unknown fault kind %r" % k)
    a.cairnd = a.cairnd or os.path.join(a.build, "cairnd")
    a.cairn = a.cairn or os.path.join(a.build, "cairn")
    for path in (a.cairnd, a.cairn):
        if not os.access(path, os.X_OK):
            p.error("%s is not an executable (build first, or pass --build)" % path)
    if a.recovery_limit_s is None:
        a.recovery_limit_s = max(3.0, 10 * a.election_timeout_ms / 1000)
    return a


def _interrupted(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    run = Run(args)
    summary = run.execute()
    if run.skipped:
        print("SKIP: %s cannot serve (a placeholder build)" % args.cairnd)
        return 77
    for note in run.notes:
        print("problem: " + note)
    print(json.dumps(summary), flush=True)
    return 0 if summary["valid"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
