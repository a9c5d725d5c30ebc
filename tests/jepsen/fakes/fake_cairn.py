#!/usr/bin/env python3
"""fake_cairn.py - a stand-in for the cairn CLI, to test the jepsen harness.

    fake_cairn.py -c FILE --timeout MS get|put|del|cas|status|batch ...

The data lives in one JSON file next to the members' data dirs, changed
under an exclusive flock, so operations are atomic and linearizable. A
command succeeds only while a majority of members run and are not stopped
(read from /proc); otherwise it waits a little and exits 3 (unavailable),
or for a write sometimes 4 (unknown) without applying it. One in twenty
applied writes also exits 4, as if the reply were lost. The leader is the
lowest healthy member. With FAKE_CAIRN_LOSE_WRITES=1 in the environment a
quarter of puts are acknowledged but not applied: the harness must notice.
"""
import configparser
import fcntl
import json
import os
import random
import sys
import time
import zlib


def healthy(pid_path):
    try:
        with open(pid_path) as f:
            pid = int(f.read())
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError):
        return False
    return state not in ("T", "t", "Z", "X")


def main(argv):
    timeout_ms = 5000
    config = "config/cluster.ini"
    while argv and argv[0].startswith("-"):
        opt = argv.pop(0)
        if opt in ("-c", "--config"):
            config = argv.pop(0)
        elif opt == "--timeout":
            timeout_ms = int(argv.pop(0))
        else:
            return 2
    if not argv:
        return 2
    cmd, args = argv[0], argv[1:]
    cfg = configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
    cfg.read(config)
    nodes = sorted(int(s.split()[1]) for s in cfg.sections() if s.startswith("node "))
    dirs = {n: cfg["node %d" % n]["data_dir"] for n in nodes}
    if cmd == "batch":
        for line in sys.stdin:
            words = line.rstrip("\n").split(" ")
            code, out = run(words[0], words[1:], nodes, dirs, timeout_ms)
            print(str(code) + ("" if out is None else " " + out), flush=True)
        return 0
    code, out = run(cmd, args, nodes, dirs, timeout_ms)
    if out is not None:
        print(out)
    return code


def run(cmd, args, nodes, dirs, timeout_ms):
    """Returns (exit status, what to print or None)."""
    up = [n for n in nodes if healthy(os.path.join(dirs[n], "pid"))]
    leader = up[0] if len(up) * 2 > len(nodes) else None
    if cmd == "status":
        return (0 if up else 3), json.dumps({"leader": leader, "nodes": [
            {"id": n, "reachable": n in up} for n in nodes]})
    rng = random.Random()
    if leader is None:
        time.sleep(min(timeout_ms, 200) / 1000)
        return (3 if cmd == "get" or rng.random() < 0.5 else 4), None
    state_path = os.path.join(os.path.dirname(dirs[nodes[0]]), "fake-state.json")
    with open(state_path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read()
        state = json.loads(text) if text else {}
        key = args[0]
        if cmd == "get":
            if key not in state:
                return 1, None
            return 0, state[key]
        if cmd == "put":
            if os.environ.get("FAKE_CAIRN_LOSE_WRITES") != "1" or zlib.crc32(args[1].encode()) % 4:
                state[key] = args[1]
        elif cmd == "del":
            state.pop(key, None)
        elif cmd == "cas":
            if key not in state:
                return 1, None
            if state[key] != args[1]:
                return 5, None
            state[key] = args[2]
        else:
            return 2, None
        f.seek(0)
        f.truncate()
        f.write(json.dumps(state))
        f.flush()
    if rng.random() < 0.05:
        return 4, None  # applied, but the reply was "lost"
    return 0, None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
