#!/usr/bin/env python3
"""run.py - the integration scenarios of cairn, one per meson test.

Each scenario starts its own 3-member cluster of real `cairnd` processes on
free loopback ports (harness.py), drives it through the real `cairn` CLI and
checks what the contract promises. Usage:

    run.py --cairnd build/cairnd --cairn build/cairn SCENARIO
"""

import concurrent.futures
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import check, cluster, log  # noqa: E402

NODE_KEYS = ["id", "peer", "client", "reachable", "role", "term", "leader",
             "commit_index", "applied_index", "last_log_index"]
REPORTED = NODE_KEYS[4:]
MIB = 1 << 20


def parallel(fn, items, workers=12):
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(fn, items))


def others(c, nid):
    return [i for i in c.nodes if i != nid]


# ---------------------------------------------------------------------------


def election():
    """A leader is elected, and every member comes to agree on it."""
    with cluster() as c:
        lid = c.wait_leader()
        log("leader is %d" % lid)
        deadline = time.monotonic() + 10
        while True:
            st = c.status()
            roles = [nd["role"] for nd in st["nodes"]]
            agree = all(nd["reachable"] and nd["leader"] == st["leader"]
                        for nd in st["nodes"])
            if agree and roles.count("leader") == 1:
                break
            check(time.monotonic() < deadline, "members do not agree: %s" % st)
            time.sleep(0.05)
        leader = [nd for nd in st["nodes"] if nd["role"] == "leader"][0]
        check(all(nd["term"] == leader["term"] for nd in st["nodes"]),
              "terms differ: %s" % st)


def cli_exit_codes():
    """put/get/del/cas through the CLI, and every exit status of the
    contract: 0, 1, 2 (usage and limits), 3 (unreachable), 4 (unknown), 5."""
    with cluster() as c:
        c.wait_leader()
        # 0 and 1
        c.must("put", "k", "v1")
        check(c.must("get", "k") == b"v1\n", "get after put")
        c.must("get", "missing", want=1)
        c.must("del", "missing")  # del of an absent key is done
        # cas: 0, 5, 1
        c.must("cas", "k", "v1", "v2")
        check(c.must("get", "k") == b"v2\n", "cas applied")
        c.must("cas", "k", "v1", "v3", want=5)
        check(c.must("get", "k") == b"v2\n", "failed cas changed nothing")
        c.must("cas", "missing", "a", "b", want=1)
        c.must("del", "k")
        c.must("get", "k", want=1)
        # values: empty, binary from stdin, exactly 1 MiB; operands with '-'
        c.must("put", "empty", "")
        check(c.must("get", "empty") == b"\n", "empty value")
        blob = bytes(range(256)) * 3 + b"\n\x00end"
        c.must("put", "bin", "-", stdin=blob)
        check(c.must("get", "bin") == blob + b"\n", "binary value from stdin")
        c.must("put", "-dash", "-1")
        check(c.must("get", "-dash") == b"-1\n", "operands may start with '-'")
        big = os.urandom(MIB)
        c.must("put", "big", "-", stdin=big)
        check(c.must("get", "big") == big + b"\n", "1 MiB value round trip")
        c.must("put", "k" * 1024, "max-key")
        check(c.must("get", "k" * 1024) == b"max-key\n", "1024-byte key")
        # 2: limits, checked before sending
        c.must("put", "big2", "-", stdin=big + b"x", want=2)
        c.must("put", "k" * 1025, "v", want=2)
        c.must("get", "k" * 1025, want=2)
        c.must("get", "", want=2)
        c.must("cas", "k", "x", "-", want=1)  # k was deleted
        c.must("get", "big2", want=1)
        # 2: usage errors
        for args in (["get"], ["put", "k"], ["frob", "k"], ["del", "a", "b"],
                     ["cas", "k", "x"], ["status", "--yaml"]):
            rc, _, err = c.cli(*args)
            check(rc == 2 and "usage" in err, "usage error %s: %d %s" % (args, rc, err))
        rc, _, err = c.cli("get", "k", config=os.path.join(c.dir, "nope.ini"))
        check(rc == 2 and "nope.ini" in err, "missing config: %d %s" % (rc, err))
        bad = os.path.join(c.dir, "bad.ini")
        with open(bad, "w") as f:
            f.write("[cluster]\nbogus = 1\n")
        rc, _, err = c.cli("get", "k", config=bad)
        check(rc == 2 and "bogus" in err, "bad config: %d %s" % (rc, err))
        p = harness.subprocess.run([harness.CAIRN, "-c", c.config, "--timeout", "0", "get",
                                    "k"], capture_output=True)
        check(p.returncode == 2, "timeout 0 is a usage error")
        # the config from $CAIRN_CONFIG, else config/cluster.ini in the cwd
        sub = harness.subprocess
        p = sub.run([harness.CAIRN, "get", "-dash"], capture_output=True,
                    env=dict(os.environ, CAIRN_CONFIG=c.config))
        check(p.returncode == 0 and p.stdout == b"-1\n", "CAIRN_CONFIG: %s" % (p,))
        os.makedirs(os.path.join(c.dir, "config"))
        os.symlink(c.config, os.path.join(c.dir, "config", "cluster.ini"))
        env = {k: v for k, v in os.environ.items() if k != "CAIRN_CONFIG"}
        p = sub.run([harness.CAIRN, "get", "-dash"], capture_output=True, cwd=c.dir, env=env)
        check(p.returncode == 0 and p.stdout == b"-1\n", "config/cluster.ini: %s" % (p,))
        # 4: the whole cluster frozen. A stopped process's kernel still
        # completes TCP handshakes from the listen backlog, so the write
        # really leaves the client and waits in a member's socket buffer;
        # after the thaw it may or may not be applied - exactly "unknown".
        for nd in c.nodes.values():
            nd.pause()
        t = time.monotonic()
        rc, _, err = c.cli("put", "frozen", "1", timeout_ms=1000)
        took = time.monotonic() - t
        check(rc == 4, "write to a frozen cluster: exit %d (%s)" % (rc, err))
        check(took < 3, "the timeout bounds the command (took %.1fs)" % took)
        c.must("get", "frozen", want=3, timeout_ms=1000)  # reads that time out: 3
        c.must("cas", "frozen", "1", "2", want=4, timeout_ms=700)
        for nd in c.nodes.values():
            nd.resume()
        c.wait_leader()
        rc, val = c.get("frozen")
        check(rc in (0, 1), "after thawing, the unknown write is either there or not")
        log("the unknown write was %s" % ("applied" if rc == 0 else "not applied"))
        c.must("put", "after", "thaw")
        # 3: nobody listening
        for nd in c.nodes.values():
            nd.kill9()
        t = time.monotonic()
        c.must("put", "x", "1", want=3, timeout_ms=800)
        c.must("get", "x", want=3, timeout_ms=800)
        c.must("del", "x", want=3, timeout_ms=800)
        c.must("cas", "x", "1", "2", want=3, timeout_ms=800)
        check(time.monotonic() - t < 8, "refused connections end within the timeout")
        rc, out, _ = c.cli("status", "--json", timeout_ms=800)
        check(rc == 3 and b'"leader": null' in out, "status of a dead cluster")


def leader_kill():
    """kill -9 the leader: a new one is elected, writes continue, and the
    old member restarts and catches up."""
    with cluster() as c:
        old = c.wait_leader()
        parallel(lambda i: c.must("put", "a%d" % i, str(i)), range(30))
        c.nodes[old].kill9()
        log("killed leader %d" % old)
        t = time.monotonic()
        new = c.wait_leader(exclude=[old])
        log("new leader %d after %.2fs" % (new, time.monotonic() - t))
        parallel(lambda i: c.must("put", "b%d" % i, str(i)), range(30))
        for p in ("a", "b"):
            got = parallel(lambda i: c.get("%s%d" % (p, i)), range(30))
            check(got == [(0, str(i)) for i in range(30)], "values after failover: %s" % got)
        c.nodes[old].start()
        st = c.wait_caught_up([old])
        log("old leader caught up: %s" % st)
        c.must("put", "c", "after-restart")
        check(c.must("get", "c") == b"after-restart\n", "writes after restart")


def leader_paused():
    """SIGSTOP the leader: a write sent to it goes unanswered, the client
    gives up on it after one attempt's wait and completes the write (once)
    through the new leader; status reports the frozen member unreachable
    within its timeout. Resumed, the old leader rejoins and catches up."""
    with cluster() as c:
        old = c.wait_leader()
        c.must("put", "p", "0")
        c.nodes[old].pause()
        log("leader %d paused" % old)
        t = time.monotonic()
        c.must("put", "p", "1", timeout_ms=8000)
        log("write done in %.2fs" % (time.monotonic() - t))
        c.must("cas", "p", "1", "2", timeout_ms=8000)
        t = time.monotonic()
        st = c.status(timeout_ms=1000)
        took = time.monotonic() - t
        check(took < 2.5, "status waited %.2fs for a frozen member" % took)
        frozen = [nd for nd in st["nodes"] if nd["id"] == old][0]
        check(frozen["reachable"] is False, "frozen member reported reachable: %s" % st)
        check(st["leader"] not in (None, old), "a new leader is known: %s" % st)
        c.nodes[old].resume()
        c.wait_caught_up([old])
        check(c.must("get", "p") == b"2\n", "the put applied once, then the cas")


def follower_catchup():
    """A follower is down while 1,000 writes happen; back up, it catches up:
    its applied index reaches the leader's."""
    with cluster() as c:
        lid = c.wait_leader()
        f = others(c, lid)[0]
        c.nodes[f].kill9()
        log("follower %d down; writing" % f)
        t = time.monotonic()
        # 8 batch clients of 125 writes each, in parallel.
        runs = parallel(lambda b: c.batch(["put w%04d v%d" % (i, i)
                                           for i in range(b * 125, b * 125 + 125)]),
                        range(8), workers=8)
        for rc, lines in runs:
            check(rc == 0 and lines == ["0"] * 125, "writes failed: %d %s" % (rc, lines[:5]))
        log("1000 writes in %.1fs" % (time.monotonic() - t))
        before = c.status()
        lead = [nd for nd in before["nodes"] if nd["id"] == before["leader"]][0]
        check(lead["commit_index"] >= 1000, "commit index %d" % lead["commit_index"])
        c.nodes[f].start()
        t = time.monotonic()
        st = c.wait_caught_up([f])
        node = [nd for nd in st["nodes"] if nd["id"] == f][0]
        log("follower caught up to %d in %.1fs" % (node["applied_index"],
                                                    time.monotonic() - t))
        check(node["applied_index"] >= lead["commit_index"], "applied below commit")
        sample = random.sample(range(1000), 20)
        got = parallel(lambda i: c.get("w%04d" % i), sample)
        check(got == [(0, "v%d" % i) for i in sample], "sampled values: %s" % got)


def kill_all_restart():
    """kill -9 all three at once, in the middle of writes, and restart:
    every acknowledged write is there."""
    with cluster() as c:
        c.wait_leader()
        stop = threading.Event()
        acked = {}
        lock = threading.Lock()

        def writer(w):
            i = 0
            while not stop.is_set():
                key, value = "k%d-%d" % (w, i), "v%d-%d" % (w, i)
                rc = c.put(key, value, timeout_ms=1500)
                if rc == 0:
                    with lock:
                        acked[key] = value
                i += 1

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
        for th in threads:
            th.start()
        time.sleep(2.0)
        for nd in c.nodes.values():
            nd.signal(harness.signal.SIGKILL)
        for nd in c.nodes.values():
            nd.proc.wait()
        stop.set()
        for th in threads:
            th.join()
        with lock:
            snapshot = dict(acked)
        log("%d writes acknowledged before the crash" % len(snapshot))
        check(len(snapshot) > 10, "too few writes acknowledged to mean anything")
        for nd in c.nodes.values():
            nd.start()
        c.wait_leader()
        keys = sorted(snapshot)
        got = parallel(lambda k: c.get(k), keys, workers=16)
        lost = [(k, g) for k, g in zip(keys, got) if g != (0, snapshot[k])]
        check(not lost, "%d acknowledged writes lost, e.g. %s" % (len(lost), lost[:5]))


def graceful_leader():
    """SIGTERM on the leader: it exits 0, leadership moves, and no request
    of a steady client load fails."""
    with cluster() as c:
        old = c.wait_leader()
        stop = threading.Event()
        results = []

        def load(w):
            i = 0
            while not stop.is_set():
                rc = c.put("g%d-%d" % (w, i), "x")
                results.append(("put", w, i, rc))
                rc2, v = c.get("g%d-%d" % (w, i))
                results.append(("get", w, i, rc2 if v == "x" else -1))
                i += 1

        threads = [threading.Thread(target=load, args=(w,)) for w in range(3)]
        for th in threads:
            th.start()
        time.sleep(1.0)
        t = time.monotonic()
        status = c.nodes[old].terminate()
        log("leader %d stopped with status %d in %.2fs" % (old, status, time.monotonic() - t))
        check(status == 0, "SIGTERM exit status %d" % status)
        new = c.wait_leader(exclude=[old])
        log("new leader %d" % new)
        time.sleep(1.0)
        stop.set()
        for th in threads:
            th.join()
        failed = [r for r in results if r[3] != 0]
        log("%d requests, %d failed" % (len(results), len(failed)))
        check(len(results) > 20, "the load ran")
        check(not failed, "failed requests: %s" % failed[:10])
        c.nodes[old].start()
        c.wait_caught_up([old])


def check_status_shape(c, st, down=()):
    check(list(st.keys()) == ["leader", "nodes"], "top-level keys %s" % list(st))
    check(st["leader"] is None or isinstance(st["leader"], int), "leader type")
    check([nd["id"] for nd in st["nodes"]] == sorted(c.nodes), "members in order")
    for nd in st["nodes"]:
        node = c.nodes[nd["id"]]
        check(list(nd.keys()) == NODE_KEYS, "node keys %s" % list(nd))
        check(nd["peer"] == node.peer and nd["client"] == node.client, "addresses %s" % nd)
        if nd["id"] in down:
            check(nd["reachable"] is False, "down member reachable: %s" % nd)
            check(all(nd[k] is None for k in REPORTED), "down member has values: %s" % nd)
            continue
        check(nd["reachable"] is True, "member %d unreachable" % nd["id"])
        check(isinstance(nd["role"], str) and nd["role"], "role %r" % nd["role"])
        for k in ("term", "commit_index", "applied_index", "last_log_index"):
            check(isinstance(nd[k], int) and nd[k] >= 0, "%s = %r" % (k, nd[k]))
        check(nd["leader"] is None or isinstance(nd["leader"], int), "leader %r" % nd)
        check(nd["applied_index"] <= nd["commit_index"] <= nd["last_log_index"],
              "applied <= commit <= last_log: %s" % nd)


def status_json():
    """status --json is one line of valid JSON in the contract's shape, with
    a member down too; plain status prints a table."""
    with cluster() as c:
        lid = c.wait_leader()
        c.must("put", "s", "1")
        st = c.wait_caught_up(list(c.nodes))
        check_status_shape(c, st)
        raw = c.must("status", "--json").decode()
        check(raw.startswith('{"leader": %d, "nodes": [{"id": 1, ' % st["leader"]),
              "raw text %r" % raw[:60])
        table = c.must("status").decode()
        for nd in c.nodes.values():
            check(nd.client in table, "table lists %s" % nd.client)
        f = others(c, lid)[0]
        c.nodes[f].kill9()
        st = c.status()
        check_status_shape(c, st, down=[f])
        check(st["leader"] == lid, "leader still known with a member down: %s" % st)
        check("unreachable" in c.must("status").decode(), "table shows the member down")
        c.nodes[f].start()
        c.wait_caught_up([f])


def _send_and_close(addr, data, linger_s=0.0):
    try:
        s = socket.create_connection(addr, timeout=2)
    except OSError:
        return
    try:
        s.sendall(data)
        time.sleep(linger_s)
    except OSError:
        pass
    finally:
        s.close()


def _frame(body):
    return len(body).to_bytes(4, "big") + body


# Hand-written msgpack: wrong shapes, not a codec.
WRONG_SHAPES = [
    b"\x80",                              # {} - a map, not an array
    b"\x90",                              # []
    b"\x91\x63",                          # [99] unknown type
    b"\x93\x20\xa3abc\x01",               # GET with a str id
    b"\x93\x20\x01\xc4\x00",              # GET with an empty key
    b"\x96\x21\x01\x01\x01\xc4\x01k",     # PUT missing its value
    b"\x92\x24\xcf" + b"\xff" * 8 + b"\x00",  # STATUS with trailing garbage
    b"\x91" * 2000 + b"\x01",             # deeply nested arrays
    b"\x92\x30\xdd\xff\xff\xff\xff",      # array32 claiming 4G elements
    b"\x95\x05\x01\x02\x03\xc6\xff\xff\xff\xff",  # APPEND-ish with bin32 of 4 GB
    b"\x94\x10\x01\x01\x01",              # HELLO to the wrong port / bad version
    b"\xc1",                              # never-used byte
]


def bad_traffic():
    """Random bytes, a huge length prefix, truncated and wrong-shaped
    msgpack and many idle connections on both ports leave every member
    serving."""
    with cluster() as c:
        c.wait_leader()
        c.must("put", "before", "1")
        rnd = random.Random(5)
        for nd in c.nodes.values():
            for port in (nd.peer_port, nd.client_port):
                addr = ("127.0.0.1", port)
                for _ in range(5):
                    _send_and_close(addr, bytes(rnd.getrandbits(8) for _ in range(4096)))
                _send_and_close(addr, b"\xff\xff\xff\xff" + b"\x00" * 64)
                _send_and_close(addr, b"\x7f\xff\xff\xff" + b"\x00" * 64)
                _send_and_close(addr, _frame(b"\x00")[:3])  # cut in the prefix
                _send_and_close(addr, (100).to_bytes(4, "big") + b"\x93\x20\x01")
                _send_and_close(addr, b"\x00\x00\x00\x00")  # empty frame
                for body in WRONG_SHAPES:
                    _send_and_close(addr, _frame(body), linger_s=0.01)
                # several bad frames back to back on one connection
                _send_and_close(addr, b"".join(_frame(b) for b in WRONG_SHAPES))
        log("bad frames sent; opening idle connections")
        idle = []
        try:
            for nd in c.nodes.values():
                for port, count in ((nd.client_port, 200), (nd.peer_port, 8)):
                    for _ in range(count):
                        try:
                            idle.append(socket.create_connection(("127.0.0.1", port),
                                                                 timeout=2))
                        except OSError:
                            pass
            # half a frame, then silence, on some of them
            for s in idle[::10]:
                try:
                    s.sendall((64).to_bytes(4, "big") + b"\x93")
                except OSError:
                    pass
            log("%d idle connections open" % len(idle))
            for i in range(10):
                c.must("put", "during%d" % i, str(i))
                check(c.must("get", "during%d" % i) == b"%d\n" % i, "get during")
            st = c.status()
            check(all(nd["reachable"] for nd in st["nodes"]), "all serving: %s" % st)
        finally:
            for s in idle:
                s.close()
        for nd in c.nodes.values():
            check(nd.alive(), "node %d died" % nd.id)
        c.must("put", "after", "1")
        check(c.must("get", "before") == b"1\n", "data intact")
        st = c.wait_caught_up(list(c.nodes))
        check_status_shape(c, st)


def cluster_tool():
    """tools/cluster up starts every member in the background and waits for
    a leader, refuses to start a member twice, and down stops them all."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    tool = os.path.join(root, "tools", "cluster")
    c = harness.Cluster()
    run_dir = os.path.join(c.dir, "run")
    env = dict(os.environ, CAIRN_BUILD=os.path.dirname(harness.CAIRND),
               CAIRN_CLUSTER_DIR=run_dir)

    def tool_run(*args):
        p = harness.subprocess.run([tool] + list(args) + ["-c", c.config], env=env,
                                   capture_output=True, timeout=120)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def pids():
        out = []
        for i in c.nodes:
            try:
                with open(os.path.join(run_dir, "node%d.pid" % i)) as f:
                    out.append(int(f.read()))
            except (OSError, ValueError):
                pass
        return out

    ok = False
    try:
        c._write_config()
        # absolute data dirs: the tool runs from the repository root
        with open(c.config) as f:
            text = f.read().replace("data_dir = data/", "data_dir = %s/data/" % c.dir)
        with open(c.config, "w") as f:
            f.write(text)
        rc, out, err = tool_run("up")
        if harness.PLACEHOLDER in err:
            ok = True
            raise harness.Skip("cairnd is the placeholder")
        check(rc == 0, "up: exit %d\n%s%s" % (rc, out, err))
        check("leader:" in out and "ID" in out, "up prints the status: %s" % out)
        started = pids()
        check(len(started) == 3, "three pid files: %s" % started)
        rc, out, err = tool_run("up")
        check(rc == 1 and err.count("already running") == 3, "second up: %d %s" % (rc, err))
        check(pids() == started, "nothing started twice")
        rc, out, err = tool_run("status", "--json")
        check(rc == 0 and out.startswith('{"leader": '), "status: %d %s" % (rc, out))
        c.must("put", "via", "tool")
        check(c.must("get", "via") == b"tool\n", "the cluster serves")
        rc, out, err = tool_run("down")
        check(rc == 0 and out.count("stopped") == 3, "down: %d %s %s" % (rc, out, err))
        for pid in started:
            check(not os.path.exists("/proc/%d" % pid) or
                  open("/proc/%d/stat" % pid).read().split()[2] == "Z",
                  "pid %d still running after down" % pid)
        check(pids() == [], "pid files removed")
        rc, out, err = tool_run("down")
        check(rc == 0 and "no member was running" in out, "down again: %s" % out)
        ok = True
    finally:
        for pid in pids():
            try:
                os.kill(pid, harness.signal.SIGKILL)
            except OSError:
                pass
        if not ok:
            for i in c.nodes:
                try:
                    with open(os.path.join(run_dir, "node%d.log" % i)) as f:
                        print("---- node %d ----\n%s" % (i, f.read()[-3000:]))
                except OSError:
                    pass
        c.destroy()


# ---------------------------------------------------------------------------
# Compaction and snapshots: clusters that keep only 20 applied entries.

KEEP = 20


def put_many(c, keys, value_of, workers=8):
    """Write every key through `cairn batch`, workers in parallel."""
    chunks = [keys[w::workers] for w in range(workers)]
    runs = parallel(lambda ks: c.batch(["put %s %s" % (k, value_of(k)) for k in ks],
                                       timeout_ms=20000), chunks, workers=workers)
    for ks, (rc, lines) in zip(chunks, runs):
        check(rc == 0 and lines == ["0"] * len(ks), "writes failed: %d %s" % (rc, lines[:5]))


def snapshot_catchup():
    """With log_keep_entries = 20 a follower that was down while 300 keys
    were written catches up through a snapshot; then, made leader by the
    only election it can win, it serves every key from its own state."""
    with cluster(log_keep_entries=KEEP) as c:
        lid = c.wait_leader()
        f, g = others(c, lid)
        c.nodes[f].kill9()
        log("follower %d down; writing 300 keys" % f)
        keys = ["s%03d" % i for i in range(300)]
        put_many(c, keys, lambda k: "v-" + k)
        c.nodes[lid].wait_log("log compacted through", timeout_s=10)
        c.nodes[f].start()
        t = time.monotonic()
        c.wait_caught_up([f])
        c.nodes[f].wait_log("snapshot installed", timeout_s=10)
        c.nodes[lid].wait_log("snapshot to %d sent" % f, timeout_s=10)
        log("follower %d caught up through a snapshot in %.1fs" % (f, time.monotonic() - t))
        # f now takes part in a majority with the leader: writes after the
        # snapshot reach its log.
        c.nodes[g].kill9()
        put_many(c, ["t%02d" % i for i in range(100)], lambda k: "w-" + k, workers=4)
        # With the leader gone too, only f (whose log is longer than g's)
        # can win an election: the reads below come from f's state machine.
        c.nodes[lid].kill9()
        c.nodes[g].start()
        new = c.wait_leader(exclude=[lid])
        check(new == f, "leader %d, expected the caught-up member %d" % (new, f))
        want = {k: "v-" + k for k in keys}
        want.update({"t%02d" % i: "w-t%02d" % i for i in range(100)})
        got = parallel(lambda k: c.get(k), sorted(want), workers=8)
        bad = [(k, v) for k, v in zip(sorted(want), got) if v != (0, want[k])]
        check(not bad, "%d keys wrong on the caught-up member, e.g. %s" % (len(bad), bad[:3]))
        # g, far behind f's compacted log, catches up from f by a snapshot.
        c.wait_caught_up([g])
        c.nodes[f].wait_log("snapshot to %d sent" % g, timeout_s=10)
        c.nodes[lid].start()
        c.wait_caught_up([lid])


def big_value(k):
    return (k + "-") * (100 * 1024 // (len(k) + 1))


def snapshot_kill_mid_transfer():
    """A follower killed -9 while it receives a large snapshot (values of
    100 KiB) restarts and still catches up through a snapshot."""
    with cluster(log_keep_entries=KEEP) as c:
        lid = c.wait_leader()
        f = others(c, lid)[0]
        c.nodes[f].kill9()
        keys = ["b%04d" % i for i in range(1000)]
        t = time.monotonic()
        put_many(c, keys, big_value)
        log("1000 values of 100 KiB written in %.1fs" % (time.monotonic() - t))
        c.nodes[f].start()
        c.nodes[f].wait_log("snapshot from %d: receiving" % lid, timeout_s=20, poll_s=0.005)
        c.nodes[f].kill9()
        text = c.nodes[f].log_text()
        check("snapshot installed" not in text, "the transfer ended before the kill")
        log("follower %d killed while receiving" % f)
        c.nodes[f].start()
        t = time.monotonic()
        c.wait_caught_up([f], timeout_s=60)
        c.nodes[f].wait_log("snapshot installed", timeout_s=20)
        log("follower %d caught up in %.1fs after the restart" % (f, time.monotonic() - t))
        sample = random.sample(keys, 10)
        got = parallel(lambda k: c.get(k), sample)
        check(got == [(0, big_value(k)) for k in sample], "sampled values differ")


def snapshot_stalled_receiver():
    """A follower frozen (SIGSTOP) in the middle of receiving a snapshot:
    the leader gives the transfer up after its stall timeout (ten election
    timeouts) and, once the follower runs again, a new one completes."""
    with cluster(log_keep_entries=KEEP) as c:
        lid = c.wait_leader()
        f = others(c, lid)[0]
        c.nodes[f].kill9()
        keys = ["p%04d" % i for i in range(600)]
        put_many(c, keys, big_value)
        c.nodes[f].start()
        c.nodes[f].wait_log("snapshot from %d: receiving" % lid, timeout_s=20, poll_s=0.005)
        c.nodes[f].pause()
        check("snapshot installed" not in c.nodes[f].log_text(),
              "the transfer ended before the pause")
        t = time.monotonic()
        c.nodes[lid].wait_log("failed after", timeout_s=20)
        log("leader gave the stalled transfer up after %.1fs" % (time.monotonic() - t))
        check("no progress in time" in c.nodes[lid].log_text(), "failed for another reason")
        c.nodes[f].resume()
        c.wait_caught_up([f], timeout_s=60)
        c.nodes[f].wait_log("snapshot installed", timeout_s=20)
        c.nodes[lid].wait_log("snapshot to %d sent" % f, timeout_s=10)


def snapshot_under_load():
    """A follower restarts while writes go on and the leader keeps
    compacting: it catches up through a snapshot of a moving state, and no
    acknowledged write is lost."""
    with cluster(log_keep_entries=KEEP) as c:
        lid = c.wait_leader()
        f = others(c, lid)[0]
        stop = threading.Event()
        acked = {}
        lock = threading.Lock()

        def writer(w):
            i = 0
            while not stop.is_set():
                key, value = "u%d-%d" % (w, i), "v%d" % i
                if c.put(key, value, timeout_ms=3000) == 0:
                    with lock:
                        acked[key] = value
                i += 1

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for th in threads:
            th.start()
        try:
            time.sleep(0.5)
            c.nodes[f].kill9()
            time.sleep(1.0)
            c.nodes[f].start()
            c.nodes[f].wait_log("snapshot installed", timeout_s=20)
            time.sleep(0.5)
        finally:
            stop.set()
            for th in threads:
                th.join()
        c.wait_caught_up([f])
        with lock:
            done = dict(acked)
        log("%d writes acknowledged" % len(done))
        check(len(done) > 50, "too few writes to mean anything")
        keys = sorted(done)
        got = parallel(lambda k: c.get(k), keys, workers=16)
        lost = [(k, g) for k, g in zip(keys, got) if g != (0, done[k])]
        check(not lost, "%d acknowledged writes lost, e.g. %s" % (len(lost), lost[:5]))


def compacted_restart():
    """kill -9 of every member after their logs were compacted (one of them
    also installed a snapshot): each restarts from its compacted log and
    the data is all there."""
    with cluster(log_keep_entries=KEEP) as c:
        lid = c.wait_leader()
        f = others(c, lid)[0]
        c.nodes[f].kill9()
        put_many(c, ["r%03d" % i for i in range(150)], lambda k: "a-" + k)
        c.nodes[f].start()
        c.wait_caught_up([f])
        c.nodes[f].wait_log("snapshot installed", timeout_s=10)
        put_many(c, ["q%03d" % i for i in range(100)], lambda k: "b-" + k)
        c.wait_caught_up(list(c.nodes))
        for nd in c.nodes.values():
            nd.signal(harness.signal.SIGKILL)
        for nd in c.nodes.values():
            nd.proc.wait()
        for nd in c.nodes.values():
            nd.start()
        c.wait_leader()
        want = {"r%03d" % i: "a-r%03d" % i for i in range(150)}
        want.update({"q%03d" % i: "b-q%03d" % i for i in range(100)})
        keys = sorted(want)
        got = parallel(lambda k: c.get(k), keys, workers=8)
        bad = [(k, g) for k, g in zip(keys, got) if g != (0, want[k])]
        check(not bad, "%d keys wrong after the restart, e.g. %s" % (len(bad), bad[:3]))
        c.must("put", "after", "restart")
        c.wait_caught_up(list(c.nodes))


def compaction_bounds_the_log():
    """Under a steady write load every member's in-memory log stays within
    2 * log_keep_entries of the applied index: first_index keeps advancing,
    and both the status table and the stats line at exit show the log's
    first index near the end."""
    with cluster(log_keep_entries=KEEP) as c:
        lid = c.wait_leader()
        put_many(c, ["c%03d" % i for i in range(400)], lambda k: "x" * 200)
        st = c.status()
        for nd in c.nodes.values():
            nd.wait_log("log compacted through", timeout_s=10)
        commit = [n for n in st["nodes"] if n["id"] == lid][0]["commit_index"]
        check(commit >= 400, "commit index %d" % commit)
        c.wait_caught_up(list(c.nodes))
        # the plain status table shows each member's first log index
        rows = [l.split() for l in c.must("status").decode().splitlines()[2:]]
        check(len(rows) == len(c.nodes), "status rows %s" % rows)
        for row in rows:
            check(int(row[-1]) > commit - 2 * KEEP - 10,
                  "status: node %s keeps its log from %s, commit %d" % (row[0], row[-1], commit))
        for nd in c.nodes.values():
            status = nd.terminate()
            check(status == 0, "node %d exit %d" % (nd.id, status))
            lines = [l for l in nd.log_text().splitlines() if " stats " in l]
            check(lines, "node %d logged no stats line" % nd.id)
            fields = dict(w.split("=", 1) for w in lines[-1].split() if "=" in w)
            first = int(fields["first_index"])
            check(first > commit - 2 * KEEP - 10,
                  "node %d keeps its log from %d, commit %d" % (nd.id, first, commit))
            check(int(fields["log_bytes"]) < 2 * KEEP * 400,
                  "node %d holds %s log bytes" % (nd.id, fields["log_bytes"]))


SCENARIOS = {
    "election": election,
    "cli_exit_codes": cli_exit_codes,
    "leader_kill": leader_kill,
    "leader_paused": leader_paused,
    "follower_catchup": follower_catchup,
    "kill_all_restart": kill_all_restart,
    "graceful_leader": graceful_leader,
    "status_json": status_json,
    "bad_traffic": bad_traffic,
    "cluster_tool": cluster_tool,
    "snapshot_catchup": snapshot_catchup,
    "snapshot_kill_mid_transfer": snapshot_kill_mid_transfer,
    "compaction_bounds_the_log": compaction_bounds_the_log,
    "snapshot_under_load": snapshot_under_load,
    "snapshot_stalled_receiver": snapshot_stalled_receiver,
    "compacted_restart": compacted_restart,
}

if __name__ == "__main__":
    sys.exit(harness.run(SCENARIOS, sys.argv))
