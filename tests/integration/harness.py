"""harness.py - run a real 3-member cairn cluster on loopback for a test.

A Cluster writes a config with free loopback ports into a fresh temp dir,
starts one `cairnd` per member (each in its own process group, stderr to
node<N>.log in the temp dir) and drives the `cairn` CLI against it. Whatever
happens - an assertion, an exception, SIGTERM or SIGINT from meson's
timeout, a plain exit - every process it started is killed and the temp dir
is removed: try/finally in `cluster()`, plus atexit and signal handlers as a
backstop. On failure the members' logs are printed before they are removed.

Only the Python 3 standard library is used.
"""

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CAIRND = None
CAIRN = None

# Every Cluster alive in this process, for the atexit/signal backstop.
_live = []


def _cleanup_all():
    for c in list(_live):
        c.destroy()


def _on_signal(signum, _frame):
    _cleanup_all()
    # Exit by the signal's conventional status so meson sees a failure.
    os._exit(128 + signum)


atexit.register(_cleanup_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


class TestFailure(Exception):
    pass


class Skip(Exception):
    """The scenario cannot run here; meson reports it as skipped."""


# What the placeholder cairnd (before the server lands) says on start-up.
PLACEHOLDER = "server not implemented yet"


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def log(msg):
    print("[%7.2f] %s" % (time.monotonic() - _t0, msg), flush=True)


_t0 = time.monotonic()


def free_ports(n):
    """n distinct loopback ports that were free a moment ago. All are
    bound at once (so they differ) and released together; a clash with a
    parallel test is still possible and is handled by Cluster.start()."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Node:
    def __init__(self, cluster, nid, peer_port, client_port):
        self.cluster = cluster
        self.id = nid
        self.peer_port = peer_port
        self.client_port = client_port
        self.proc = None
        self.log_path = os.path.join(cluster.dir, "node%d.log" % nid)
        self.stopped = False  # SIGSTOPped

    @property
    def peer(self):
        return "127.0.0.1:%d" % self.peer_port

    @property
    def client(self):
        return "127.0.0.1:%d" % self.client_port

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [CAIRND, "--config", self.cluster.config, "--id", str(self.id)],
                cwd=self.cluster.dir, stdin=subprocess.DEVNULL,
                stdout=logf, stderr=logf, start_new_session=True)
        finally:
            logf.close()
        self.stopped = False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill9(self):
        """SIGKILL and reap."""
        if self.proc is None:
            return
        self.signal(signal.SIGKILL)
        self.proc.wait()
        self.stopped = False

    def terminate(self, wait_s=20):
        """SIGTERM; returns the exit status (SIGKILL after wait_s)."""
        if self.stopped:
            self.resume()
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise TestFailure("node %d did not stop within %ds of SIGTERM"
                              % (self.id, wait_s))

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.stopped = False

    def wait_log(self, needle, timeout_s=30, poll_s=0.05):
        """Wait until the member's log contains needle; returns the log."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.log_text()
            if needle in text:
                return text
            if time.monotonic() >= deadline:
                raise TestFailure("node %d never logged %r within %ds"
                                  % (self.id, needle, timeout_s))
            time.sleep(poll_s)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Cluster:
    def __init__(self, n=3, heartbeat_ms=50, election_timeout_ms=300, log_keep_entries=None):
        self.dir = tempfile.mkdtemp(prefix="cairn-it-")
        self.config = os.path.join(self.dir, "cluster.ini")
        self.n = n
        self.heartbeat_ms = heartbeat_ms
        self.election_timeout_ms = election_timeout_ms
        self.log_keep_entries = log_keep_entries
        self.nodes = {}
        self.destroyed = False
        _live.append(self)

    # -- set-up and tear-down -------------------------------------------

    def _write_config(self):
        ports = free_ports(2 * self.n)
        self.nodes = {}
        lines = ["[cluster]",
                 "heartbeat_ms = %d" % self.heartbeat_ms,
                 "election_timeout_ms = %d" % self.election_timeout_ms]
        if self.log_keep_entries is not None:
            lines.append("log_keep_entries = %d" % self.log_keep_entries)
        lines.append("")
        for i in range(1, self.n + 1):
            node = Node(self, i, ports[2 * i - 2], ports[2 * i - 1])
            self.nodes[i] = node
            lines += ["[node %d]" % i, "peer = %s" % node.peer,
                      "client = %s" % node.client,
                      "data_dir = data/node%d" % i, ""]
        with open(self.config, "w") as f:
            f.write("\n".join(lines))

    def start(self, tries=3):
        """Start every member; on a port clash (a member exits at once
        saying so) pick new ports and try again."""
        for attempt in range(tries):
            self._write_config()
            for node in self.nodes.values():
                node.start()
            time.sleep(0.3)
            dead = [nd for nd in self.nodes.values() if not nd.alive()]
            if not dead:
                return
            if any(PLACEHOLDER in nd.log_text() for nd in dead):
                raise Skip("cairnd is the placeholder: " + PLACEHOLDER)
            clash = any("in use" in nd.log_text() for nd in dead)
            for node in self.nodes.values():
                node.kill9()
            if not clash or attempt == tries - 1:
                raise TestFailure("members exited at start-up:\n" +
                                  "\n".join("node %d (status %s):\n%s" % (
                                      nd.id, nd.proc.returncode, nd.log_text())
                                      for nd in dead))
            shutil.rmtree(os.path.join(self.dir, "data"), ignore_errors=True)
            log("port clash, retrying with new ports")

    def destroy(self):
        if self.destroyed:
            return
        self.destroyed = True
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                node.signal(signal.SIGCONT)
                node.signal(signal.SIGKILL)
                try:
                    node.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _live:
            _live.remove(self)

    def dump_logs(self, tail=60):
        for node in self.nodes.values():
            lines = node.log_text().splitlines()
            print("---- node %d log (last %d of %d lines) ----"
                  % (node.id, min(tail, len(lines)), len(lines)))
            for line in lines[-tail:]:
                print(line)

    def sanitizer_reports(self):
        bad = []
        for node in self.nodes.values():
            text = node.log_text()
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                           "runtime error:"):
                if marker in text:
                    bad.append("node %d: %s" % (node.id, marker))
        return bad

    # -- the CLI ----------------------------------------------------------

    def cli(self, *args, timeout_ms=5000, stdin=None, config=None):
        """Run build/cairn; returns (exit status, stdout bytes, stderr str)."""
        cmd = [CAIRN, "-c", config or self.config, "--timeout", str(timeout_ms)]
        cmd += [a if isinstance(a, (str, bytes)) else str(a) for a in args]
        p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout_ms / 1000 + 30)
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")

    def batch(self, lines, timeout_ms=5000):
        """Run `cairn batch` over lines; returns (exit status, the output
        lines: "CODE" or "0 VALUE" per input line)."""
        rc, out, err = self.cli("batch", timeout_ms=timeout_ms,
                                stdin="".join(l + "\n" for l in lines).encode())
        return rc, out.decode().splitlines()

    def put(self, key, value, timeout_ms=5000):
        return self.cli("put", key, value, timeout_ms=timeout_ms)[0]

    def get(self, key, timeout_ms=5000):
        rc, out, _ = self.cli("get", key, timeout_ms=timeout_ms)
        value = out[:-1].decode() if rc == 0 and out.endswith(b"\n") else None
        return rc, value

    def must(self, *args, want=0, timeout_ms=5000, stdin=None):
        rc, out, err = self.cli(*args, timeout_ms=timeout_ms, stdin=stdin)
        check(rc == want, "cairn %s: exit %d, wanted %d; stderr: %s"
              % (" ".join(str(a)[:40] for a in args), rc, want, err.strip()))
        return out

    def status(self, timeout_ms=2000):
        rc, out, err = self.cli("status", "--json", timeout_ms=timeout_ms)
        check(rc in (0, 3), "status --json exit %d: %s" % (rc, err))
        text = out.decode()
        check(text.endswith("\n") and text.count("\n") == 1,
              "status --json is not one line: %r" % text)
        return json.loads(text)

    # -- waiting for the cluster ----------------------------------------------

    def wait_leader(self, exclude=(), timeout_s=20):
        """Wait until a reachable member reports itself leader (not one of
        exclude) and the top-level leader names it; returns its id."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            try:
                st = self.status()
                last = st
                lid = st["leader"]
                if lid is not None and lid not in exclude:
                    for nd in st["nodes"]:
                        if nd["id"] == lid and nd["reachable"] and nd["role"] == "leader":
                            return lid
            except (TestFailure, ValueError):
                pass
            time.sleep(0.05)
        raise TestFailure("no leader (excluding %s) within %ds; last status: %s"
                          % (list(exclude), timeout_s, last))

    def wait_caught_up(self, ids, timeout_s=30):
        """Wait until every member in ids is reachable and its applied index
        equals the leader's commit index (taken in the same status)."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            st = self.status()
            last = st
            by_id = {nd["id"]: nd for nd in st["nodes"]}
            lid = st["leader"]
            if lid is not None and by_id[lid]["reachable"]:
                target = by_id[lid]["commit_index"]
                if all(by_id[i]["reachable"] and by_id[i]["applied_index"] >= target
                       for i in ids):
                    return st
            time.sleep(0.1)
        raise TestFailure("members %s did not catch up within %ds; last status: %s"
                          % (list(ids), timeout_s, last))


@contextlib.contextmanager
def cluster(start=True, **kw):
    c = Cluster(**kw)
    ok = False
    try:
        if start:
            try:
                c.start()
            except Skip:
                ok = True
                raise
        yield c
        # Stop the survivors the graceful way: each must exit 0, and the
        # sanitizers (leak checks included) get to report at exit.
        for node in c.nodes.values():
            if node.alive():
                status = node.terminate()
                check(status == 0, "node %d exited %d on SIGTERM" % (node.id, status))
        bad = c.sanitizer_reports()
        check(not bad, "sanitizer reports in member logs: %s" % bad)
        ok = True
    finally:
        if not ok:
            c.dump_logs()
        c.destroy()


def run(scenarios, argv):
    """Command line: run.py --cairnd PATH --cairn PATH SCENARIO."""
    global CAIRND, CAIRN
    args = list(argv[1:])
    name = None
    while args:
        a = args.pop(0)
        if a == "--cairnd":
            CAIRND = os.path.abspath(args.pop(0))
        elif a == "--cairn":
            CAIRN = os.path.abspath(args.pop(0))
        else:
            name = a
    if name not in scenarios or CAIRND is None or CAIRN is None:
        print("usage: %s --cairnd PATH --cairn PATH {%s}"
              % (argv[0], ",".join(sorted(scenarios))), file=sys.stderr)
        return 2
    t = time.monotonic()
    try:
        scenarios[name]()
    except TestFailure as e:
        print("FAIL %s: %s" % (name, e), flush=True)
        return 1
    except Skip as e:
        print("SKIP %s: %s" % (name, e), flush=True)
        return 77
    print("PASS %s (%.1fs)" % (name, time.monotonic() - t), flush=True)
    return 0
