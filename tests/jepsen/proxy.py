"""proxy.py - TCP proxies between cluster members, so a test can cut links.

cairnd members send all their Raft traffic on outbound connections to the
peer address the config gives for each other member. The fault-injection
harness gives every member its own config in which each other member's peer
address is a proxy listening on loopback: one Link per ordered pair (from,
to). A Link forwards bytes both ways to the real peer port while it is up;
cut() closes every connection on it and refuses new ones (accepted then
closed at once) until heal(). Cutting both directions of a pair is a network
partition between two members, without root or iptables.

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


class Link:
    """One direction (src -> dst) of the traffic between two members.
    Lives on the Proxies loop; use it through Proxies."""

    def __init__(self, src, dst, listen_port, target_port, host="127.0.0.1"):
        self.src = src
        self.dst = dst
        self.host = host
        self.listen_port = listen_port
        self.target_port = target_port
        self.up = True
        self.server = None
        self.writers = set()
        self.accepted = 0  # connections forwarded since start, for tests and logs

    async def start(self):
        self.server = await asyncio.start_server(self._serve, self.host, self.listen_port,
                                                 reuse_address=True)

    async def _serve(self, reader, writer):
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()
            return
        if not self.up:  # cut while we connected
            writer.close()
            up_writer.close()
            return
        self.accepted += 1
        pair = (writer, up_writer)
        self.writers.update(pair)
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            for w in pair:
                self.writers.discard(w)
                w.close()

    @staticmethod
    async def _pump(reader, writer):
        try:
            while True:
                data = await reader.read(CHUNK_BYTES)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            # Either side ending ends the pair: close both directions.
            writer.close()

    def cut(self):
        self.up = False
        for w in list(self.writers):
            w.close()
            transport = w.transport
            if transport is not None:
                transport.abort()
        self.writers.clear()

    def heal(self):
        self.up = True

    async def stop(self):
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


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

    def cut(self, src, dst):
        self._call(self.links[(src, dst)].cut)

    def heal(self, src, dst):
        self._call(self.links[(src, dst)].heal)

    def partition(self, side_a, side_b):
        """Cuts every link between a member of side_a and one of side_b, both ways."""
        for a in side_a:
            for b in side_b:
                if (a, b) in self.links:
                    self.cut(a, b)
                if (b, a) in self.links:
                    self.cut(b, a)

    def heal_all(self):
        for key in self.links:
            self.heal(*key)

    def cut_links(self):
        """The links now cut, as sorted (src, dst) pairs."""
        return sorted(k for k, link in self.links.items() if not link.up)

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
