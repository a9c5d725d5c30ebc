"""proxy.py - TCP proxies between cluster members, so a test can cut links.

cairnd members send all their Raft traffic on outbound connections to the
peer address the config gives for each other member. The fault-injection
harness gives every member its own config in which each other member's peer
address is a proxy listening on loopback: one Link per ordered pair (from,
to). A Link forwards bytes both ways to the real peer port while it is up;
cut() either refuses (resets connections, stops listening) or blackholes
(keeps connections, drops every byte) until heal(). Cutting both directions
of a pair is a network partition between two members, without root or
iptables.

All links are served by one asyncio event loop on a background thread
(Proxies); the methods called from other threads hand work to that loop.
"""

import asyncio
import random
import socket
import threading

CHUNK_BYTES = 65536


_handed_out = set()
_ports_lock = threading.Lock()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on right now, never handed out before by
    this process, and outside the kernel's ephemeral range, so no outgoing
    connection (of a client, of a proxy) can be using it when a member
    restarts and binds it again."""
    lo, hi = _ephemeral_range()
    ranges = [(10000, lo - 1)] if lo > 11000 else [(hi + 1, 65535)]
    rng = random.SystemRandom()
    with _ports_lock:
        for _ in range(1000):
            first, last = ranges[0]
            port = rng.randint(first, last)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    raise OSError("no free port found")


UP = "up"
REFUSE = "refuse"  # nothing listens: connecting fails at once, as to a dead host
BLACKHOLE = "blackhole"  # connections open and stay open; every byte is dropped
CUT_MODES = (REFUSE, BLACKHOLE)


class Link:
    """One direction (src -> dst) of the traffic between two members.
    Lives on the Proxies loop; use it through Proxies.

    Cut in REFUSE mode, open connections are reset and the port stops
    listening. Cut in BLACKHOLE mode, open and new connections stay up but
    every byte sent either way is dropped, as by a network that loses
    packets; the members must notice by their own timeouts. Healing reopens
    the port, and resets every connection that lived through a blackhole
    (bytes went missing from the middle of its stream)."""

    def __init__(self, src, dst, listen_port, target_port, host="127.0.0.1"):
        self.src = src
        self.dst = dst
        self.host = host
        self.listen_port = listen_port
        self.target_port = target_port
        self.mode = UP
        self.server = None
        self.writers = set()
        self.holed = set()  # writers of connections that saw a blackhole
        self.accepted = 0  # connections forwarded since start, for tests and logs

    async def start(self):
        self.server = await asyncio.start_server(self._serve, self.host, self.listen_port,
                                                 reuse_address=True)

    async def _serve(self, reader, writer):
        if self.mode == REFUSE:
            _abort(writer)
            return
        self.writers.add(writer)
        up_writer = None
        try:
            if self.mode == BLACKHOLE:
                self.holed.add(writer)
                await self._pump(reader, None)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
            except OSError:
                return
            if self.mode != UP:  # cut while we connected
                return
            self.accepted += 1
            self.writers.add(up_writer)
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    self.writers.discard(w)
                    self.holed.discard(w)
                    _abort(w)

    async def _pump(self, reader, writer):
        """Copies reader to writer until either ends; drops the bytes while
        the link is a blackhole (writer None: always)."""
        try:
            while True:
                data = await reader.read(CHUNK_BYTES)
                if not data:
                    break
                if writer is None or self.mode == BLACKHOLE:
                    if writer is not None:
                        self.holed.add(writer)
                    continue
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            # Either side ending ends the pair: close both directions.
            if writer is not None:
                _abort(writer)

    async def cut(self, mode):
        assert mode in CUT_MODES, mode
        self.mode = mode
        if mode == REFUSE:
            for w in list(self.writers):
                _abort(w)
            if self.server is not None:
                self.server.close()  # stops listening; connections were reset above
                self.server = None
        else:
            self.holed.update(self.writers)

    async def heal(self):
        if self.mode == UP:
            return
        for w in list(self.holed):
            _abort(w)
        self.holed.clear()
        self.mode = UP
        if self.server is None:
            await self.start()

    async def stop(self):
        self.mode = REFUSE
        for w in list(self.writers):
            _abort(w)
        if self.server is not None:
            self.server.close()
            self.server = None


def _abort(writer):
    """Closes a connection at once, with a reset rather than a goodbye."""
    transport = writer.transport
    if transport is not None and not transport.is_closing():
        transport.abort()


class Proxies:
    """The set of links of one cluster, served on a private event loop thread.

    add(src, dst, target_port) -> listen port; cut(src, dst) / heal(src, dst);
    isolate(member, members) / partition(side_a, side_b) / heal_all();
    close() stops the thread and closes every socket."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.links = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="jepsen-proxy", daemon=True)
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _call(self, coro_or_fn, timeout_s=10):
        if asyncio.iscoroutine(coro_or_fn):
            fut = asyncio.run_coroutine_threadsafe(coro_or_fn, self.loop)
            return fut.result(timeout_s)

        async def wrap():
            return coro_or_fn()
        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout_s)

    def add(self, src, dst, target_port, listen_port=None):
        """Starts the link src -> dst forwarding to target_port; returns the
        port it listens on."""
        for _ in range(20):
            port = listen_port or free_port(self.host)
            link = Link(src, dst, port, target_port, self.host)
            try:
                self._call(link.start())
            except OSError:
                if listen_port:
                    raise
                continue
            self.links[(src, dst)] = link
            return port
        raise OSError("proxy: no free port for link %s->%s" % (src, dst))

    def cut(self, src, dst, mode=REFUSE):
        self._call(self.links[(src, dst)].cut(mode))

    def heal(self, src, dst):
        self._call(self.links[(src, dst)].heal())

    def partition(self, side_a, side_b, mode=REFUSE):
        """Cuts every link between a member of side_a and one of side_b, both ways."""
        for a in side_a:
            for b in side_b:
                if (a, b) in self.links:
                    self.cut(a, b, mode)
                if (b, a) in self.links:
                    self.cut(b, a, mode)

    def heal_all(self):
        for key in self.links:
            self.heal(*key)

    def cut_links(self):
        """The links now cut, as sorted (src, dst) pairs."""
        return sorted(k for k, link in self.links.items() if link.mode != UP)

    def accepted(self, src, dst):
        return self._call(lambda: self.links[(src, dst)].accepted)

    @staticmethod
    async def _cancel_tasks():
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self):
        if not self.thread.is_alive():
            return
        for link in list(self.links.values()):
            try:
                self._call(link.stop())
            except Exception:  # closing anyway; nothing useful to report
                pass
        try:
            self._call(self._cancel_tasks())
        except Exception:  # closing anyway
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
