"""UDP and TCP sockets for SIP: the only module here that touches the network.

Both transports call one ``on_message(data, peer, transport)`` per SIP message. TCP is framed
with :class:`StreamFramer` (RFC 3261 §18.3: the header block ends at the first empty line and
Content-Length gives the body size). It is hand-written rather than aiosipua's
``_read_sip_message`` because that one is a ``StreamReader`` coroutine, i.e. one asyncio Task per
connection; a ``Protocol`` plus this buffer costs nothing while a connection is quiet.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import cast

from tui_engine.obs.logging import get_logger
from tui_engine.runtime import DeadlineDriver
from tui_engine.sip.message import Addr
from tui_engine.sip.syntax import content_length_values

log = get_logger("tui_engine.sip")

OnMessage = Callable[[bytes, Addr, str], None]
#: ``(header block, peer, transport, reason)``: a stream message that cannot be framed (§18.3)
OnUnframed = Callable[[bytes, Addr, str, str], None]

MAX_HEADER_BYTES = 64 * 1024  # a header block larger than this is hostile; drop the connection
#: The largest body a stream message may announce: what a UDP datagram could carry. The bodies
#: we take are SDP, DTMF and small XML; a bigger one is answered 400 and the connection closed.
#: It bounds what one connection can make us buffer for the message timeout (128 KiB with the
#: header block): 256 MiB at most over the default 2048 connections (it was 1 MiB: 2 GiB).
MAX_BODY_BYTES = 64 * 1024
#: Seconds a stream may hold an unfinished message (or, once opened, no message at all) before we
#: close it: 64*T1, the time after which every transaction that message could start has given up.
#: Without it a peer that sends half a message (RFC 4475 ``clerr``) or opens connections and sends
#: nothing keeps a file descriptor for the life of the engine.
STREAM_MESSAGE_TIMEOUT = 32.0
#: Seconds a stream may stay quiet between whole messages before we close it, unless a live
#: dialog of ours sends on it. Kamailio's ``tcp_connection_lifetime`` default (also renewed by
#: each read and write there); pjsip (Asterisk) likewise drops a transport once no transaction or
#: dialog refers to it. RFC 3261 §18 and RFC 5923 §11 let a server close idle connections: the
#: peer opens a new one for its next request.
STREAM_IDLE_TIMEOUT = 120.0
#: Open streams at most; an accept beyond it is closed at once (Kamailio ``tcp_max_connections``).
MAX_STREAM_CONNECTIONS = 2048
#: Open streams from one source address at most (0: no such limit), so that one host cannot take
#: every slot of :data:`MAX_STREAM_CONNECTIONS` (what ``iptables connlimit`` or Kamailio's
#: ``pike`` do in front of a SIP server): a proxy reuses a few connections (RFC 5923), a peer that
#: opens one per call (SIPp ``-t tn``) needs it raised.
MAX_STREAM_CONNECTIONS_PER_SOURCE = 256


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamLimits:
    """How long and how many stream connections (TCP, TLS) the engine keeps (``[engine]``)."""

    message_timeout: float = STREAM_MESSAGE_TIMEOUT  #: owing a whole message (half-sent, or none yet)
    idle_timeout: float = STREAM_IDLE_TIMEOUT  #: quiet after whole messages, with no dialog on it
    max_connections: int = MAX_STREAM_CONNECTIONS
    max_per_source: int = MAX_STREAM_CONNECTIONS_PER_SOURCE  #: from one address (0: no limit)

    def __post_init__(self) -> None:
        if (self.message_timeout <= 0 or self.idle_timeout <= 0 or self.max_connections < 1
                or self.max_per_source < 0):
            raise ValueError(f"stream limits must be positive, got {self}")


class FramingError(Exception):
    """The byte stream cannot be split into SIP messages; the connection must close (§18.3).

    ``head`` is the header block of the message that could not be framed (empty when there is
    none worth answering), so the endpoint can still answer it 400 before the close.
    """

    def __init__(self, reason: str, head: bytes = b"") -> None:
        super().__init__(reason)
        self.head = head
        #: the messages framed before the fault in the same read: still to be delivered
        self.framed: list[bytes] = []


def stream_body_length(head: bytes) -> int:
    """The body size §18.3 demands on a stream: exactly one non-negative Content-Length."""
    values = content_length_values(head)
    if not values:
        raise FramingError("missing Content-Length on a stream", head)
    if len(values) > 1:
        raise FramingError("several Content-Length values", head)  # RFC 4475 §3.3.9 "mcl01"
    if not values[0].isdigit():
        raise FramingError(f"bad Content-Length {values[0]!r}", head)
    length = int(values[0])
    if length > MAX_BODY_BYTES:
        raise FramingError(f"Content-Length {length} too large", head)
    return length


class StreamFramer:
    """Sans-I/O splitter of a SIP byte stream (TCP or TLS) into messages, RFC 3261 §18.3.

    The header block ends at the first empty line; its Content-Length, wherever it stands and
    in either form, gives the body size. Any number of messages may arrive in one read, and a
    message may arrive over any number of reads: the search for the empty line resumes where
    the previous read left off, and a header block is read once, when it is whole (its message's
    size is kept until the body is), so a byte-at-a-time sender costs linear time.
    """

    __slots__ = ("_buf", "_scanned", "_size")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scanned = 0  #: bytes of ``_buf`` known to hold no end of header block
        #: the size of the message whose header block is whole and whose body is not (0: none):
        #: its header block is not read again for every chunk of the body (up to 64 Ki reads of
        #: a 64 KiB block for a byte-at-a-time sender: quadratic)
        self._size = 0

    @property
    def pending(self) -> bool:
        """Bytes of a message that has not come whole yet are buffered."""
        return bool(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """The complete messages ``data`` finishes; raises :class:`FramingError` on a bad stream."""
        self._buf += data
        out: list[bytes] = []
        while True:
            total = self._size
            if not total:
                # §7.5: CRLFs before a start line are ignored (also RFC 5626 keep-alives).
                while self._buf[:2] == b"\r\n":
                    del self._buf[:2]
                    self._scanned = max(0, self._scanned - 2)
                try:
                    end = self._header_end()
                    if end < 0:
                        return out
                    total = end + 4 + stream_body_length(bytes(self._buf[:end]))
                except FramingError as exc:
                    exc.framed = out
                    raise
            if len(self._buf) < total:
                self._size = total
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]
            self._scanned = self._size = 0

    def _header_end(self) -> int:
        end = self._buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end < 0:
            if len(self._buf) > MAX_HEADER_BYTES:
                raise FramingError("header block too large")
            self._scanned = len(self._buf)
        return end


def is_ip_literal(host: str) -> bool:
    """An IPv4 or IPv6 address, with an IPv6 zone or not (``inet_pton``: cheap enough for every
    datagram we send)."""
    address = host.split("%", 1)[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, address)
        except OSError:
            continue
        return True
    return False


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_message(data, (addr[0], addr[1]), "UDP")

    def error_received(self, exc: Exception) -> None:
        log.debug("sip.udp_error", error=str(exc))  # ICMP unreachable etc.: retransmission copes


class TcpConnection(asyncio.Protocol):
    """One accepted stream connection, registered by peer address so responses can find it.

    Only bytes pass through here, so the same protocol serves TLS (``create_server(ssl=...)``
    with ``name="TLS"``): framing does not depend on what carries the stream.
    """

    def __init__(
        self, on_message: OnMessage, on_unframed: OnUnframed, owner: Transports, name: str = "TCP",
    ) -> None:
        self._on_message = on_message
        self._on_unframed = on_unframed
        self._owner = owner
        self._framer = StreamFramer()
        self.name = name
        self.peer: Addr = ("", 0)
        self.transport: asyncio.Transport | None = None
        #: since when this stream has owed us a whole message (None: it owes nothing)
        self.waiting_since: float | None = None
        #: the last read or write: the idle timeout counts from here
        self.last_active = 0.0
        #: since when this stream is closing (flushing what we wrote), if it is
        self.closed_at: float | None = None
        #: its source is in ``trusted-networks`` (settled at accept, for the cap's eviction)
        self.trusted = True

    @property
    def closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        self._owner.accept(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # after a framing error nothing more is read from this stream
        self._owner.touch(self)
        try:
            messages = self._framer.feed(data)
        except FramingError as exc:
            self._deliver(exc.framed)
            self._unframed(exc)
            return
        if messages:
            self.waiting_since = None
        if self._framer.pending and self.waiting_since is None:
            self._owner.waiting(self)
        self._deliver(messages)

    def _deliver(self, messages: list[bytes]) -> None:
        for message in messages:
            self._on_message(message, self.peer, self.name)

    def _unframed(self, exc: FramingError) -> None:
        """§18.3: answer what can be answered (400), then close; the rest of the stream is lost."""
        source = f"{self.peer[0]}:{self.peer[1]}"
        log.warning("sip.unframed", transport=self.name, error=str(exc), source=source)
        if exc.head:
            self._on_unframed(exc.head, self.peer, self.name, str(exc))
        self.close()  # asyncio flushes the 400 before closing

    def expire(self) -> None:
        """The stream owed a whole message for too long: close it (nothing can be answered)."""
        self.waiting_since = None
        log.warning("sip.stream_timeout", transport=self.name, source=f"{self.peer[0]}:{self.peer[1]}",
                    buffered=self._framer.pending)
        self.close()

    def close_idle(self) -> None:
        """Quiet for the idle timeout with no dialog on it: close it (the peer reconnects if need be)."""
        log.info("sip.stream_idle_closed", transport=self.name, source=f"{self.peer[0]}:{self.peer[1]}")
        self.close()

    def close(self) -> None:
        """Close once what we wrote is flushed; a peer that never reads it is cut off (abort)
        ``message_timeout`` later: until then asyncio holds the connection, and its fd, open."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self._owner.closing(self)

    def eof_received(self) -> None:
        """The peer closed its side: asyncio closes ours after flushing (bounded as in :meth:`close`)."""
        self._owner.closing(self)

    def abort(self) -> None:
        """Closed long ago, still not flushed: the peer does not read. Drop what is left."""
        log.warning("sip.stream_aborted", transport=self.name, source=f"{self.peer[0]}:{self.peer[1]}",
                    unsent=self.transport.get_write_buffer_size() if self.transport is not None else 0)
        self.closed_at = None
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.waiting_since = None
        self._owner.forget(self)

    def pause_writing(self) -> None:
        """The peer does not read what we send (asyncio's buffer for it is past its high-water
        mark): stop reading its requests too, or their answers would pile up in memory for ever.
        The timeouts still run: a peer that never reads again is closed like a quiet one."""
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._owner.touch(self)
            self.transport.write(data)


UDP_RECEIVE_BUFFER = 4 * 1024 * 1024


def _enlarge_receive_buffer(udp: asyncio.DatagramTransport) -> None:
    """Ask for a 4 MiB receive buffer (the kernel caps it at net.core.rmem_max).

    A burst of INVITEs while the loop is busy would otherwise overflow the default ~200 KiB and
    be lost, costing the callers a T1 retransmission each.
    """
    sock = udp.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    except OSError as exc:
        log.debug("sip.rcvbuf_unchanged", error=str(exc))
        return
    if receive_buffer_capped(granted):
        log.warning("sip.rcvbuf_capped", granted=granted, wanted=UDP_RECEIVE_BUFFER,
                    fix=f"sysctl -w net.core.rmem_max={UDP_RECEIVE_BUFFER}")


def receive_buffer_capped(granted: int) -> bool:
    """True when the kernel gave the SIP socket less than half the buffer asked for (Linux reports
    twice what it grants, capped at ``net.core.rmem_max``): a burst then overflows it sooner, and
    overload control's backlog signal (:data:`tui_engine.core.overload.BACKLOG_LIMIT`, 1 MiB)
    can fire late or, under 1 MiB, never."""
    return granted < UDP_RECEIVE_BUFFER


#: Linux's ``SO_MEMINFO`` (``sk_meminfo``; not named by Python's ``socket``): its first word is
#: the bytes the kernel holds in the socket's receive queue (about 1.3 KiB per INVITE datagram)
SO_MEMINFO = 55
_U32 = struct.Struct("=I")


def _queue_probe(udp: asyncio.DatagramTransport) -> socket.socket | None:
    """A duplicate of the UDP socket's descriptor to read its receive queue from, or None where
    ``SO_MEMINFO`` is not there. A duplicate because uvloop's socket stand-in costs ~11 µs per
    ``getsockopt`` against ~2 µs for a real socket object."""
    sock = udp.get_extra_info("socket")
    if sock is None or not hasattr(socket, "dup"):
        return None
    probe = socket.socket(fileno=socket.dup(sock.fileno()))
    try:
        probe.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _U32.size)
    except OSError:
        probe.close()
        return None
    return probe


class Transports:
    """The endpoint's :class:`~tui_engine.sip.endpoint.Sender` over real sockets.

    It is also the :class:`~tui_engine.runtime.Pollable` of the streams' one deadline: the
    earliest moment a stream has owed a whole message for ``message_timeout`` seconds, or has
    been quiet for ``idle_timeout``. Streams are few (peers, proxies; at most
    ``max_connections``), so the deadline is found by a scan only when the timer fires (a stream
    that opens or starts waiting only makes sure the timer fires by its own deadline); a read or
    write only notes the time, and a wake that comes early for a stream that was active since
    re-arms (the lazy timer).

    ``in_use`` gives the peers whose connection a live dialog sends on (over a stream our
    requests reuse the caller's connection): those are never closed for being idle, since the
    engine does not open connections of its own. The call they carry is timed by its own rules.
    """

    def __init__(
        self, *, limits: StreamLimits | None = None,
        in_use: Callable[[], Collection[Addr]] = tuple,
        trusts: Callable[[str], bool] = lambda _host: True,
    ) -> None:
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp_server: asyncio.Server | None = None
        self.tcp: dict[Addr, TcpConnection] = {}
        self.limits = limits or StreamLimits()
        self.in_use = in_use
        #: ``trusted-networks``: at the cap, a trusted peer's connection takes an untrusted one's
        #: place (those only ever get 403), so strangers cannot lock the engine's proxies out
        self.trusts = trusts
        self._refusing = False  #: at the connection cap: the refusal is logged once per episode
        #: open streams per source address (``max_per_source``)
        self._per_source: dict[str, int] = {}
        #: sources at their cap whose refusal is logged already (once until they drop below it)
        self._refused_sources: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._driver: DeadlineDriver | None = None
        self._queue: socket.socket | None = None

    def receive_queue(self) -> int:
        """Bytes of datagrams waiting in the UDP socket, not yet read (0 where unknown): the
        backlog the event loop's lag cannot see (overload control's ``socket-backlog``)."""
        probe = self._queue
        if probe is None:
            return 0
        try:
            return int(_U32.unpack(probe.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _U32.size))[0])
        except OSError:
            return 0

    def update(self, limits: StreamLimits) -> None:
        """New limits, for the open streams too (a reload)."""
        self.limits = limits
        if self._driver is not None:
            self._driver.arm()

    def accept(self, conn: TcpConnection) -> None:
        """A new stream: refused (closed at once) beyond ``max_per_source`` from its address or
        beyond ``max_connections`` in all, else registered."""
        host = conn.peer[0]
        stale = self.tcp.get(conn.peer)
        if stale is not None:
            # The peer connects again from the same address and port: its side of the old
            # connection is gone (a phone that rebooted without a FIN, bound to port 5060), or
            # the kernel would not have let the same four-tuple connect. Replaced in ``tcp``
            # without this, the old one would be reached by no timeout again: its fd for ever.
            log.info("sip.stream_replaced", transport=conn.name, source=f"{host}:{conn.peer[1]}")
            self.forget(stale)
            self._abort(stale)
        per_source = self.limits.max_per_source
        if per_source and self._per_source.get(host, 0) >= per_source:
            if host not in self._refused_sources:
                self._refused_sources.add(host)
                log.warning("sip.stream_refused", transport=conn.name, source=f"{host}:{conn.peer[1]}",
                            connections_from_source=self._per_source[host], max_per_source=per_source)
            self._abort(conn)
            return
        conn.trusted = self.trusts(host)
        if len(self.tcp) >= self.limits.max_connections and not self._evict_for(conn):
            if not self._refusing:
                self._refusing = True
                log.warning("sip.stream_refused", transport=conn.name,
                            source=f"{host}:{conn.peer[1]}", connections=len(self.tcp),
                            max_connections=self.limits.max_connections)
            self._abort(conn)
            return
        self._refusing = False
        self.tcp[conn.peer] = conn
        self._per_source[host] = self._per_source.get(host, 0) + 1
        self.touch(conn)
        self.waiting(conn)  # a connection that never sends a message is closed too

    @staticmethod
    def _abort(conn: TcpConnection) -> None:
        if conn.transport is not None:
            conn.transport.abort()  # the fd now, not after a flush: there is nothing to flush

    def forget(self, conn: TcpConnection) -> None:
        """``conn`` is gone (closed, or evicted): its slot, and its source's, come back."""
        if self.tcp.get(conn.peer) is not conn:
            return  # refused at accept, or forgotten already
        del self.tcp[conn.peer]
        host = conn.peer[0]
        left = self._per_source.get(host, 1) - 1
        if left > 0:
            self._per_source[host] = left
        else:
            self._per_source.pop(host, None)
        if left < self.limits.max_per_source:
            self._refused_sources.discard(host)

    def _evict_for(self, conn: TcpConnection) -> bool:
        """Make room for a trusted peer: close the untrusted connection quiet the longest."""
        if not conn.trusted:
            return False
        strangers = [c for c in self.tcp.values() if not c.trusted]
        if strangers:  # a call from a network trusted before a reload keeps its connection
            needed = set(self.in_use())
            strangers = [c for c in strangers if c.peer not in needed]
        if not strangers:
            return False
        victim = min(strangers, key=lambda c: c.last_active)
        self.forget(victim)
        log.warning("sip.stream_evicted", transport=victim.name,
                    source=f"{victim.peer[0]}:{victim.peer[1]}", for_source=f"{conn.peer[0]}:{conn.peer[1]}",
                    max_connections=self.limits.max_connections)
        if victim.transport is not None:
            victim.transport.abort()
        return True

    def touch(self, conn: TcpConnection) -> None:
        """A read or a write on ``conn``: its idle time starts again."""
        if self._loop is not None:
            conn.last_active = self._loop.time()

    def closing(self, conn: TcpConnection) -> None:
        """``conn`` is closing now: it must be gone ``message_timeout`` later, flushed or not."""
        if self._loop is None or self._driver is None or conn.closed_at is not None:
            return
        conn.closed_at = self._loop.time()
        conn.waiting_since = None
        self._driver.timer.ensure(self._deadline(conn))

    def waiting(self, conn: TcpConnection) -> None:
        """``conn`` starts to owe a whole message now."""
        if self._loop is None or self._driver is None:
            return
        conn.waiting_since = self._loop.time()
        # Only this stream's deadline moved (earlier): no scan of every stream (1 ms at 2048).
        self._driver.timer.ensure(self._deadline(conn))

    def _deadline(self, conn: TcpConnection) -> float:
        if conn.closed_at is not None:
            return conn.closed_at + self.limits.message_timeout
        idle = conn.last_active + self.limits.idle_timeout
        if conn.waiting_since is None:
            return idle
        return min(idle, conn.waiting_since + self.limits.message_timeout)

    def next_deadline(self) -> float | None:
        live = (c for c in self.tcp.values() if not c.closing or c.closed_at is not None)
        return min((self._deadline(c) for c in live), default=None)

    def poll(self, now: float) -> bool:
        stuck = [c for c in self.tcp.values()
                 if c.closed_at is not None and c.closed_at + self.limits.message_timeout <= now]
        for conn in stuck:
            conn.abort()
        open_ = [c for c in self.tcp.values() if not c.closing]
        late = [c for c in open_
                if c.waiting_since is not None and c.waiting_since + self.limits.message_timeout <= now]
        for conn in late:
            conn.expire()
        idle = [c for c in open_ if not c.closing and c.last_active + self.limits.idle_timeout <= now]
        if idle:
            needed = set(self.in_use())
            for conn in idle:
                if conn.peer in needed:
                    conn.last_active = now  # its call is timed by the call's rules; look again later
                else:
                    conn.close_idle()
        return bool(stuck or late or idle)

    async def open(
        self, host: str, port: int, on_message: OnMessage, on_unframed: OnUnframed
    ) -> Addr:
        """Listen on UDP and TCP ``host:port``; returns the bound address (port 0 → chosen port)."""
        loop = self._loop = asyncio.get_running_loop()
        self._driver = DeadlineDriver(loop, self)
        # Port 0: the kernel picks a free UDP port, which a TCP socket may already hold (another
        # process's outgoing connection): pick again rather than fail the start.
        for attempt in range(1 if port else 20):
            udp, _ = await loop.create_datagram_endpoint(
                lambda: UdpProtocol(on_message), local_addr=(host, port)
            )
            bound = udp.get_extra_info("sockname")
            try:
                self.tcp_server = await loop.create_server(
                    lambda: TcpConnection(on_message, on_unframed, self), host, bound[1], reuse_address=True
                )
            except OSError as exc:
                udp.close()
                if port or exc.errno != errno.EADDRINUSE or attempt == 19:
                    raise
                continue
            break
        self.udp = udp
        _enlarge_receive_buffer(udp)
        self._queue = _queue_probe(udp)
        return (bound[0], bound[1])

    def send(self, data: bytes, addr: Addr, transport: str) -> None:
        """``ValueError`` for a host name: ``sendto`` would resolve it with a blocking
        ``getaddrinfo`` on the event loop (a slow DNS freezes every call's timers). Addresses come
        from sockets and literal IPs only (``uri_address``, ``stamped_via``); this is the net."""
        if transport == "UDP":
            if not is_ip_literal(addr[0]):
                raise ValueError(f"{addr[0]!r} is not an IP address (names are not resolved)")
            if self.udp is not None:
                self.udp.sendto(data, addr)
            return
        conn = self.tcp.get(addr)
        if conn is None:
            log.warning("sip.tcp_no_connection", dest=f"{addr[0]}:{addr[1]}")
            return
        conn.write(data)

    async def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None
        if self._queue is not None:
            self._queue.close()
            self._queue = None
        if self.udp is not None:
            self.udp.close()
        for conn in list(self.tcp.values()):
            if conn.transport is None:
                continue
            # What a peer has not read by now it will not: no timer is left to abort it later,
            # and from Python 3.12 ``wait_closed`` below waits for every connection to close.
            if conn.transport.get_write_buffer_size():
                conn.transport.abort()
            else:
                conn.transport.close()
        if self.tcp_server is not None:
            self.tcp_server.close()
            await self.tcp_server.wait_closed()
