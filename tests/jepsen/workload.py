"""workload.py - concurrent clients that record a history through the cairn CLI.

Each Client is a thread that loops: pick a random get/put/cas/del on a small
set of keys (from its own seeded generator), note the invocation time, run
it, note the completion time, and append one history entry whose outcome
class comes from the CLI's exit status. A client runs its operations through
one long-lived `cairn --timeout MS batch` process (a Session: one client of
the library, one connection, its leader knowledge and write session kept
across operations; a line in, a status line out), or with --client cli one
`cairn ... get|put|del|cas` process per operation.

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
import select
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


class SessionDead(Exception):
    """The batch process ended or stopped answering."""


class Session:
    """One `cairn -c CONFIG --timeout MS batch` process. Not thread-safe:
    one per client thread."""

    def __init__(self, cairn, config, timeout_ms, log_path):
        self.timeout_ms = timeout_ms
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [cairn, "-c", config, "--timeout", str(timeout_ms), "batch"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, bufsize=0)

    def run(self, kind, key, args):
        """Returns (exit status of the operation, stdout text after it)."""
        line = " ".join([kind, key] + list(args)) + "\n"
        try:
            self.proc.stdin.write(line.encode())
        except (BrokenPipeError, OSError):
            raise SessionDead("batch process gone (status %s)" % self.proc.poll()) from None
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout_ms / 1000 + 10)
        if not ready:
            raise SessionDead("batch process did not answer within its --timeout + 10 s")
        reply = self.proc.stdout.readline().decode("utf-8", "replace")
        if not reply.endswith("\n"):
            raise SessionDead("batch process ended (status %s)" % self.proc.wait(5))
        code, _, value = reply[:-1].partition(" ")
        try:
            return int(code), value + "\n"
        except ValueError:
            raise SessionDead("batch process said %r" % reply) from None

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for f in (self.proc.stdin, self.proc.stdout):
            f.close()


class Recorder:
    """Runs one operation through the CLI (or a Session) and records it."""

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

    def run(self, process, kind, key, args=(), timeout_ms=None, session=None):
        """Runs one operation, records it and returns its history entry. With
        a session, a SessionDead is recorded (an anomaly) and raised again."""
        timeout_ms = timeout_ms or self.timeout_ms
        cmd = [self.cairn, "-c", self.config, "--timeout", str(timeout_ms), kind, key] + list(args)
        dead = None
        invoke = self.now()
        if session is not None:
            try:
                status, out = session.run(kind, key, args)
                err = ""
            except SessionDead as e:
                dead = e
                status, out, err = None, "", str(e)
        else:
            try:
                r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                   text=True, timeout=timeout_ms / 1000 + 10)
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
        if dead is not None:
            raise dead
        return entry


class Client(threading.Thread):
    """One client issuing random operations until stop is set."""

    def __init__(self, process, recorder, keys, seed, stop, log_path=None, timeout_ms=None):
        """log_path: where the client's batch process logs; None runs one
        CLI process per operation instead. timeout_ms: this client's
        --timeout (default: the recorder's)."""
        super().__init__(name="client-%d" % process, daemon=True)
        self.process = process
        self.recorder = recorder
        self.keys = keys
        self.rng = random.Random("client-%s-%d" % (seed, process))
        self.stop = stop
        self.count = 0
        self.known = {}  # key -> last value this client saw or wrote
        self.log_path = log_path
        self.session = None
        self.timeout_ms = timeout_ms or recorder.timeout_ms

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
            if self.log_path is not None and self.session is None:
                self.session = Session(self.recorder.cairn, self.recorder.config,
                                       self.timeout_ms, self.log_path)
            try:
                entry = self.recorder.run(self.process, kind, key, args,
                                          timeout_ms=self.timeout_ms, session=self.session)
            except SessionDead:
                self.session.close()
                self.session = None
                continue
            if entry["outcome"] == "ok":
                if kind == "get":
                    self.known[key] = entry["value"]
                elif kind in ("put", "cas"):
                    self.known[key] = args[-1]
            if entry["outcome"] == "not_found":
                self.known.pop(key, None)
            time.sleep(self.rng.uniform(0, 0.01))
        if self.session is not None:
            self.session.close()
