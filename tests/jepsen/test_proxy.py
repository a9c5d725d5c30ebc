#!/usr/bin/env python3
"""Tests of proxy.py: links forward both ways, cut() drops connections and
refuses new ones, heal() restores forwarding. An echo server on loopback
stands in for a cairnd peer port."""

import os
import socket
import socketserver
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy  # noqa: E402


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            try:
                data = self.request.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.request.sendall(data)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    return s


def roundtrip(s, payload):
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def closed_by_peer(s):
    """True when the peer closed s (EOF or reset) within the socket timeout."""
    try:
        s.sendall(b"x")
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


class ProxyTest(unittest.TestCase):
    def setUp(self):
        self.echo = EchoServer(("127.0.0.1", 0), Echo)
        threading.Thread(target=self.echo.serve_forever, daemon=True).start()
        self.proxies = proxy.Proxies()
        self.port = self.proxies.add(1, 2, self.echo.server_address[1])

    def tearDown(self):
        self.proxies.close()
        self.echo.shutdown()
        self.echo.server_close()

    def test_link_forwards_both_ways(self):
        with connect(self.port) as s:
            payload = os.urandom(200_000)
            self.assertEqual(roundtrip(s, payload), payload)
        self.assertEqual(self.proxies.accepted(1, 2), 1)

    def test_refusing_cut_resets_open_connections(self):
        with connect(self.port) as s:
            self.assertEqual(roundtrip(s, b"hello"), b"hello")
            self.proxies.cut(1, 2, proxy.REFUSE)
            self.assertTrue(closed_by_peer(s))

    def test_refusing_cut_refuses_new_connections(self):
        self.proxies.cut(1, 2, proxy.REFUSE)
        with self.assertRaises(ConnectionRefusedError):
            connect(self.port)
        self.assertEqual(self.proxies.cut_links(), [(1, 2)])

    def test_blackhole_keeps_connections_open_and_drops_bytes(self):
        with connect(self.port) as s:
            self.assertEqual(roundtrip(s, b"hello"), b"hello")
            self.proxies.cut(1, 2, proxy.BLACKHOLE)
            s.settimeout(0.5)
            s.sendall(b"lost")
            with self.assertRaises(socket.timeout):
                s.recv(10)
        with connect(self.port) as s:  # new connections open, and go nowhere
            s.settimeout(0.5)
            s.sendall(b"lost too")
            with self.assertRaises(socket.timeout):
                s.recv(10)

    def test_heal_after_blackhole_resets_the_connections_that_lost_bytes(self):
        with connect(self.port) as s:
            self.proxies.cut(1, 2, proxy.BLACKHOLE)
            s.sendall(b"lost")
            self.proxies.heal(1, 2)
            self.assertTrue(closed_by_peer(s))
        with connect(self.port) as s:
            self.assertEqual(roundtrip(s, b"again"), b"again")

    def test_heal_restores_forwarding(self):
        for mode in proxy.CUT_MODES:
            self.proxies.cut(1, 2, mode)
            self.proxies.heal(1, 2)
            with connect(self.port) as s:
                self.assertEqual(roundtrip(s, b"again"), b"again")
            self.assertEqual(self.proxies.cut_links(), [])

    def test_partition_cuts_both_directions_between_sides(self):
        back = self.proxies.add(2, 1, self.echo.server_address[1])
        other = self.proxies.add(3, 1, self.echo.server_address[1])
        self.proxies.partition([1], [2])
        self.assertEqual(self.proxies.cut_links(), [(1, 2), (2, 1)])
        with connect(other) as s:
            self.assertEqual(roundtrip(s, b"ok"), b"ok")
        with self.assertRaises(ConnectionRefusedError):
            connect(back)
        self.proxies.heal_all()
        self.assertEqual(self.proxies.cut_links(), [])

    def test_target_down_closes_the_incoming_connection(self):
        dead = self.proxies.add(1, 9, proxy.free_port())
        with connect(dead) as s:
            self.assertTrue(closed_by_peer(s))


if __name__ == "__main__":
    unittest.main(verbosity=2)
