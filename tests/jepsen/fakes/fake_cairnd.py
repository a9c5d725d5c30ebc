#!/usr/bin/env python3
"""fake_cairnd.py - a stand-in for cairnd, to test the jepsen harness itself.

    fake_cairnd.py --config FILE --id N

It reads the cluster file, binds the member's peer and client ports (so port
plumbing is real), writes its pid to DATA_DIR/pid and sleeps until SIGTERM
(exit 0). It serves nothing: fake_cairn.py decides availability from which
members' processes are alive and not stopped, and keeps the data itself.
"""
import argparse
import configparser
import os
import signal
import socket
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", "-c", required=True)
    p.add_argument("--id", "-i", type=int, required=True)
    a = p.parse_args()
    cfg = configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
    cfg.read(a.config)
    node = cfg["node %d" % a.id]
    socks = []
    for name in ("peer", "client"):
        host, port = node[name].rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
        except OSError as e:
            print("fake_cairnd: cannot bind %s: %s" % (node[name], e), file=sys.stderr)
            return 2
        s.listen(16)
        socks.append(s)
    os.makedirs(node["data_dir"], exist_ok=True)
    with open(os.path.join(node["data_dir"], "pid"), "w") as f:
        f.write(str(os.getpid()))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("fake_cairnd: node=%d up" % a.id, file=sys.stderr, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
