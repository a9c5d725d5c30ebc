"""nemesis.py - the seeded fault schedule and the hand that carries it out.

schedule() turns (seed, length, members, kinds) into a list of Faults, each
with a start time, a duration and, where the fault is not aimed at the
leader, its targets. Nothing in it depends on the run, so the same seed
gives the same schedule; faults aimed at the leader find it when they start
(and fall back to a member drawn in the schedule when no leader is known).

Faults, one at a time, each healed before the next:
  kill-leader       SIGKILL the leader, restart it when the fault ends
  kill-member       SIGKILL a member, restart it
  stop-leader       SIGSTOP the leader, SIGCONT it
  kill-all          SIGKILL every member at once, restart them all
  partition-leader  cut every link between the leader and the others
  partition-random  cut a random minority off from the majority
Partitions either refuse connections or blackhole them (proxy.py), drawn
in the schedule too.

Nemesis.run() executes a schedule against a Cluster on the calling (main)
thread, logging each action, and records what it did (Event) for the
analysis: fault windows for availability, leader kill times for failover.
"""

import random
import time

import proxy

KINDS = ("kill-leader", "kill-member", "stop-leader", "kill-all", "partition-leader",
         "partition-random")

# (min, max) seconds each kind of fault lasts.
DURATION_S = {
    "kill-leader": (1.0, 3.0),
    "kill-member": (1.0, 3.0),
    "stop-leader": (1.0, 3.0),
    "kill-all": (0.3, 1.5),
    "partition-leader": (1.5, 4.0),
    "partition-random": (1.5, 4.0),
}
GAP_S = (1.0, 2.5)  # healthy time between two faults
WARMUP_S = 2.0  # healthy time before the first fault


class Fault:
    def __init__(self, kind, at_s, duration_s, targets, fallback, mode=None):
        self.mode = mode  # how a partition cuts links: proxy.REFUSE or BLACKHOLE
        self.kind = kind
        self.at_s = at_s
        self.duration_s = duration_s
        self.targets = targets  # member ids for kinds not aimed at the leader
        self.fallback = fallback  # used when a leader fault finds no leader

    def to_dict(self):
        d = {"kind": self.kind, "at_s": self.at_s, "duration_s": self.duration_s,
             "targets": self.targets}
        if self.mode is not None:
            d["mode"] = self.mode
        return d

    def __repr__(self):
        return "Fault(%r)" % self.to_dict()


def schedule(seed, seconds, members, kinds=KINDS):
    """The faults of a run of `seconds` seconds: each starts and heals inside
    it. Deterministic in its arguments."""
    rng = random.Random("nemesis-%s" % seed)
    ids = list(range(1, members + 1))
    faults = []
    t = WARMUP_S
    while True:
        kind = rng.choice(list(kinds))
        lo, hi = DURATION_S[kind]
        duration = round(rng.uniform(lo, hi), 3)
        if t + duration > seconds:
            break
        fallback = rng.choice(ids)
        if kind == "kill-member":
            targets = [rng.choice(ids)]
        elif kind == "kill-all":
            targets = list(ids)
        elif kind == "partition-random":
            targets = sorted(rng.sample(ids, (members - 1) // 2))
        else:
            targets = []
        mode = rng.choice(proxy.CUT_MODES) if kind.startswith("partition") else None
        faults.append(Fault(kind, round(t, 3), duration, targets, fallback, mode))
        t += duration + rng.uniform(*GAP_S)
    return faults


class Event:
    """A fault as it happened: when (seconds since t0), what, on whom."""

    def __init__(self, kind, start, end, targets, leader_before):
        self.kind = kind
        self.start = start
        self.end = end
        self.targets = targets
        self.leader_before = leader_before

    def to_dict(self):
        return {"kind": self.kind, "start": round(self.start, 3),
                "end": None if self.end is None else round(self.end, 3),
                "targets": self.targets, "leader": self.leader_before}


class Nemesis:
    def __init__(self, cluster, t0, log=print):
        self.cluster = cluster
        self.t0 = t0
        self.log = log
        self.events = []

    def now(self):
        return time.monotonic() - self.t0

    def sleep_until(self, t):
        """Sleeps until t, checking for members that died on their own; a
        crashed member is restarted so the run goes on (the crash is kept)."""
        while True:
            now = self.now()
            for i in self.cluster.check_crashes(now):
                self.cluster.start(i)
            if now >= t:
                return
            time.sleep(min(0.05, t - now))

    def _leader_or(self, fallback):
        leader = self.cluster.leader(timeout_ms=1000)
        if leader is None:
            self.log("no leader known; aiming at member %d" % fallback)
            return fallback, None
        return leader, leader

    def run(self, faults, start_offset):
        """Carries out faults; times are relative to start_offset (seconds
        since t0). Returns when the last fault is healed."""
        for f in faults:
            self.sleep_until(start_offset + f.at_s)
            self._inject(f)
            self.sleep_until(self.events[-1].start + f.duration_s)
            self._heal(self.events[-1])

    def _inject(self, f):
        c = self.cluster
        leader = None
        if f.kind in ("kill-leader", "stop-leader", "partition-leader"):
            target, leader = self._leader_or(f.fallback)
            targets = [target]
        else:
            targets = list(f.targets)
        start = self.now()
        if f.kind in ("kill-leader", "kill-member", "kill-all"):
            for i in targets:
                c.kill(i)
        elif f.kind == "stop-leader":
            c.pause(targets[0])
        elif f.kind == "partition-leader":
            c.isolate(targets[0], f.mode)
        elif f.kind == "partition-random":
            c.partition(targets, f.mode)
        else:
            raise ValueError("unknown fault kind %r" % f.kind)
        self.events.append(Event(f.kind, start, None, targets, leader))
        self.log("nemesis: %s %s%s" % (f.kind, targets, "" if f.mode is None else " " + f.mode))

    def _heal(self, ev):
        heal_all(self.cluster)
        ev.end = self.now()
        self.log("nemesis: healed %s %s" % (ev.kind, ev.targets))


def heal_all(cluster):
    """Ends every fault: links healed, paused members resumed, dead ones started."""
    cluster.heal()
    for i in cluster.ids():
        cluster.resume(i)
        if not cluster.running(i):
            cluster.start(i)
