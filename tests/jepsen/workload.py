"""workload.py - concurrent clients that record a history through the cairn CLI.

Each Client is a thread that loops: pick a random get/put/cas/del on a small
set of keys (from its own seeded generator), note the invocation time, run
`build/cairn --timeout MS ...`, note the completion time, and append one
history entry whose outcome class comes from the CLI's exit status:

  status  get         put / del     cas
  0       ok (value)  ok            ok
  1       not_found   -             not_found
  3       fail        fail          fail        certainly not applied
  4       fail        unknown       unknown     a read that timed out did nothing
  5       -           -             fail        value differed: nothing changed

Anything else (a crash, a sanitizer report, a CLI that outlives its own
timeout) is an anomaly: recorded as unknown for a write and fail for a
read, and reported. Every value written is unique (client, counter), which
the checker relies on to tell writes apart. Times are seconds on the
monotonic clock from the run's start; the process start-up of the CLI sits
inside each interval, which only widens it (sound, slightly weaker).
"""

import random
import subprocess
import threading
import time

KINDS = ("get", "put", "cas", "del")
KIND_WEIGHTS = (40, 30, 20, 10)

SERVED = {0, 1, 5}  # exit statuses that mean a member answered


def classify(kind, status):
    """Maps (operation, CLI exit status) to (outcome class, anomaly or None)."""
    if kind == "get":
        table = {0: "ok", 1: "not_found", 3: "fail", 4: "fail"}
        fallback = "fail"
    elif kind == "cas":
        table = {0: "ok", 1: "not_found", 3: "fail", 4: "unknown", 5: "fail"}
        fallback = "unknown"
    else:
        table = {0: "ok", 3: "fail", 4: "unknown"}
        fallback = "unknown"
    if status in table:
        return table[status], None
    return fallback, "%s exited with status %s" % (kind, status)


class History:
    """The shared, append-only list of history entries (dicts)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []

    def add(self, entry):
        with self.lock:
            self.entries.append(entry)

    def snapshot(self):
        with self.lock:
            return list(self.entries)


class Recorder:
    """Runs one operation through the CLI and records it."""

    def __init__(self, cairn, config, history, t0, timeout_ms):
        self.cairn = cairn
        self.config = config
        self.history = history
        self.t0 = t0
        self.timeout_ms = timeout_ms
        self.anomalies = []
        self.lock = threading.Lock()

    def now(self):
        return time.monotonic() - self.t0

    def run(self, process, kind, key, args=(), timeout_ms=None):
        timeout_ms = timeout_ms or self.timeout_ms
        cmd = [self.cairn, "-c", self.config, "--timeout", str(timeout_ms), kind, key] + list(args)
        invoke = self.now()
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout_ms / 1000 + 10)
            status, out, err = r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired:
            status, out, err = None, "", "killed: outlived its --timeout by 10 s"
        complete = self.now()
        outcome, anomaly = classify(kind, status)
        entry = {"process": process, "op": kind, "key": key, "invoke": round(invoke, 6),
                 "complete": round(complete, 6), "outcome": outcome, "exit": status}
        if kind == "put":
            entry["value"] = args[0]
        elif kind == "cas":
            entry["expected"], entry["new"] = args
        elif kind == "get" and outcome == "ok":
            entry["value"] = out[:-1] if out.endswith("\n") else out
        self.history.add(entry)
        if anomaly is not None:
            with self.lock:
                self.anomalies.append("%s: %s" % (anomaly, err.strip()[-300:]))
        return entry


class Client(threading.Thread):
    """One client issuing random operations until stop is set."""

    def __init__(self, process, recorder, keys, seed, stop):
        super().__init__(name="client-%d" % process, daemon=True)
        self.process = process
        self.recorder = recorder
        self.keys = keys
        self.rng = random.Random("client-%s-%d" % (seed, process))
        self.stop = stop
        self.count = 0
        self.known = {}  # key -> last value this client saw or wrote

    def _unique(self):
        self.count += 1
        return "c%d-%d" % (self.process, self.count)

    def run(self):
        while not self.stop.is_set():
            kind = self.rng.choices(KINDS, KIND_WEIGHTS)[0]
            key = self.rng.choice(self.keys)
            if kind == "put":
                args = (self._unique(),)
            elif kind == "cas":
                args = (self.known.get(key) or "none", self._unique())
            else:
                args = ()
            entry = self.recorder.run(self.process, kind, key, args)
            if entry["outcome"] == "ok":
                if kind == "get":
                    self.known[key] = entry["value"]
                elif kind in ("put", "cas"):
                    self.known[key] = args[-1]
            if entry["outcome"] == "not_found":
                self.known.pop(key, None)
            time.sleep(self.rng.uniform(0, 0.01))
