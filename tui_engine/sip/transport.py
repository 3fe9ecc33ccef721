"""UDP and TCP sockets for SIP: the only module here that touches the network.

Both transports call one ``on_message(data, peer, transport)`` per SIP message. TCP is framed
with :class:`StreamFramer` (RFC 3261 §18.3: the header block ends at the first empty line and
Content-Length gives the body size). It is hand-written rather than aiosipua's
``_read_sip_message`` because that one is a ``StreamReader`` coroutine, i.e. one asyncio Task per
connection; a ``Protocol`` plus this buffer costs nothing while a connection is quiet.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
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
MAX_BODY_BYTES = 1024 * 1024
#: Seconds a stream may hold an unfinished message (or, once opened, no message at all) before we
#: close it: 64*T1, the time after which every transaction that message could start has given up.
#: Without it a peer that sends half a message (RFC 4475 ``clerr``) or opens connections and sends
#: nothing keeps a file descriptor for the life of the engine.
STREAM_MESSAGE_TIMEOUT = 32.0


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
    the previous read left off, so a byte-at-a-time sender costs linear time.
    """

    __slots__ = ("_buf", "_scanned")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scanned = 0  #: bytes of ``_buf`` known to hold no end of header block

    @property
    def pending(self) -> bool:
        """Bytes of a message that has not come whole yet are buffered."""
        return bool(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """The complete messages ``data`` finishes; raises :class:`FramingError` on a bad stream."""
        self._buf += data
        out: list[bytes] = []
        while True:
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
                self._scanned = end
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]
            self._scanned = 0

    def _header_end(self) -> int:
        end = self._buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end < 0:
            if len(self._buf) > MAX_HEADER_BYTES:
                raise FramingError("header block too large")
            self._scanned = len(self._buf)
        return end


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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        self._owner.tcp[self.peer] = self
        self._owner.waiting(self)  # a connection that never sends a message is closed too

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return  # after a framing error nothing more is read from this stream
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
        if self.transport is not None:
            self.transport.close()  # asyncio flushes the 400 before closing

    def expire(self) -> None:
        """The stream owed a whole message for too long: close it (nothing can be answered)."""
        self.waiting_since = None
        log.warning("sip.stream_timeout", transport=self.name, source=f"{self.peer[0]}:{self.peer[1]}",
                    buffered=self._framer.pending)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.waiting_since = None
        if self._owner.tcp.get(self.peer) is self:
            del self._owner.tcp[self.peer]

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
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
    except OSError as exc:
        log.debug("sip.rcvbuf_unchanged", error=str(exc))


class Transports:
    """The endpoint's :class:`~tui_engine.sip.endpoint.Sender` over real sockets.

    It is also the :class:`~tui_engine.runtime.Pollable` of the streams' one deadline: the
    earliest moment a stream that owes a whole message has owed it ``stream_timeout`` seconds.
    Streams are few (peers, proxies), so the deadline is found by a scan when a stream starts
    waiting or the timer fires, never per read.
    """

    def __init__(self, *, stream_timeout: float = STREAM_MESSAGE_TIMEOUT) -> None:
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp_server: asyncio.Server | None = None
        self.tcp: dict[Addr, TcpConnection] = {}
        self.stream_timeout = stream_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._driver: DeadlineDriver | None = None

    def waiting(self, conn: TcpConnection) -> None:
        """``conn`` starts to owe a whole message now."""
        if self._loop is None or self._driver is None:
            return
        conn.waiting_since = self._loop.time()
        self._driver.arm()

    def next_deadline(self) -> float | None:
        since = [c.waiting_since for c in self.tcp.values() if c.waiting_since is not None]
        return min(since) + self.stream_timeout if since else None

    def poll(self, now: float) -> bool:
        late = [c for c in self.tcp.values()
                if c.waiting_since is not None and c.waiting_since + self.stream_timeout <= now]
        for conn in late:
            conn.expire()
        return bool(late)

    async def open(
        self, host: str, port: int, on_message: OnMessage, on_unframed: OnUnframed
    ) -> Addr:
        """Listen on UDP and TCP ``host:port``; returns the bound address (port 0 → chosen port)."""
        loop = self._loop = asyncio.get_running_loop()
        self._driver = DeadlineDriver(loop, self)
        udp, _ = await loop.create_datagram_endpoint(lambda: UdpProtocol(on_message), local_addr=(host, port))
        self.udp = udp
        _enlarge_receive_buffer(udp)
        bound = udp.get_extra_info("sockname")
        self.tcp_server = await loop.create_server(
            lambda: TcpConnection(on_message, on_unframed, self), host, bound[1], reuse_address=True
        )
        return (bound[0], bound[1])

    def send(self, data: bytes, addr: Addr, transport: str) -> None:
        if transport == "UDP":
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
        if self.udp is not None:
            self.udp.close()
        for conn in list(self.tcp.values()):
            if conn.transport is not None:
                conn.transport.close()
        if self.tcp_server is not None:
            self.tcp_server.close()
            await self.tcp_server.wait_closed()
