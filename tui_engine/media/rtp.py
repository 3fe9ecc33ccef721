"""Per-call RTP: the port allocator, the sans-I/O packetiser, and the UDP endpoint (the only sockets here).

aiortp parses received packets (``RtpPacket``); its ``PortAllocator`` is not used because it
test-binds every port of the range on each allocation (O(range) syscalls per call at 6 000 calls),
and its ``RtpSender`` because its timestamps only move when a frame is sent, while RFC 3550 §5.1
wants them to follow the sampling clock through silences too.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from aiortp.packet import RtpPacket

from tui_engine.core.entropy import random_bits
from tui_engine.media.clock import PERIOD
from tui_engine.media.errors import PortsExhausted
from tui_engine.obs.logging import get_logger

log = get_logger("tui_engine.media")

SAMPLES_PER_FRAME = 160  #: 20 ms at 8 kHz (RFC 3551 §4.5.14)
# The header we send is always the fixed 12 bytes of RFC 3550 §5.1 (V=2, no padding, extension
# or CSRC), so it is packed directly: aiortp's RtpPacket + serialize() costs ten times as much per
# packet (an object and an empty header-extension map each time). Received packets use aiortp.
_HEADER = struct.Struct("!BBHII")
#: a header and a 20 ms G.711 payload in one ``pack``: one object per frame and no concatenation
#: (measured faster than packing into a reused buffer: a ``bytearray`` slice assignment costs
#: more than the allocation it saves)
_FRAME = struct.Struct(f"!BBHII{SAMPLES_PER_FRAME}s")
_SAMPLE_RATE = SAMPLES_PER_FRAME / PERIOD  #: 8000 Hz


class PortAllocator:
    """Even UDP ports in ``[first, last]`` (RFC 3550 §11: RTP on even ports, RTCP on the next odd one).

    A free list, not a scan: ``acquire`` and ``release`` are O(1). Ports come back at the end of the
    list, so a port just freed is reused last (late packets of the old call do not hit a new one).
    """

    def __init__(self, first: int, last: int) -> None:
        if first > last:
            raise ValueError(f"empty RTP port range {first}-{last}")
        start = first + (first & 1)
        self.first, self.last = first, last
        self._free: deque[int] = deque(range(start, last + 1, 2))
        self._used: set[int] = set()

    def acquire(self) -> int:
        """A free even port; ``PortsExhausted`` when every one is in use."""
        if not self._free:
            raise PortsExhausted(
                f"all {len(self._used)} RTP ports of {self.first}-{self.last} are in use (engine.rtp-ports)"
            )
        port = self._free.popleft()
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        """Give ``port`` back; releasing twice or a foreign port is ignored."""
        if port in self._used:
            self._used.remove(port)
            self._free.append(port)

    @property
    def in_use(self) -> int:
        return len(self._used)

    @property
    def capacity(self) -> int:
        return len(self._used) + len(self._free)


class RtpSender:
    """Header state of one outgoing stream (sans-I/O): SSRC, sequence number, timestamp, marker.

    RFC 3550 §5.1: random SSRC, random initial sequence number and timestamp; sequence +1 per
    packet; timestamp +160 per 20 ms of 8 kHz audio whether or not a packet was sent. RFC 3551 §4.1:
    the marker bit flags the first packet of a talkspurt (after a silence in which nothing was sent).
    """

    __slots__ = ("_last_time", "_talkspurt", "payload_type", "sequence", "ssrc", "timestamp")

    def __init__(self, payload_type: int) -> None:
        self.payload_type = payload_type
        self.ssrc = random_bits(32)
        self.sequence = random_bits(16)
        self.timestamp = random_bits(32)
        self._last_time: float | None = None  # clock time of the last frame (sent or skipped)
        self._talkspurt = False

    def packet(self, payload: bytes, now: float) -> bytes:
        """The datagram for the frame due at ``now``; advances sequence and timestamp.

        :meth:`_catch_up` and :meth:`_advance` written out: this runs for every frame sent.
        """
        stamp = self.timestamp
        last = self._last_time
        if last is not None:
            gap = round((now - last) * _SAMPLE_RATE) - SAMPLES_PER_FRAME
            if gap > 0:
                stamp = (stamp + gap) & 0xFFFFFFFF
        marker = 0 if self._talkspurt else 0x80
        second = marker | self.payload_type
        self._talkspurt = True
        sequence = self.sequence
        self.sequence = (sequence + 1) & 0xFFFF
        self.timestamp = (stamp + SAMPLES_PER_FRAME) & 0xFFFFFFFF
        self._last_time = now
        if len(payload) == SAMPLES_PER_FRAME:  # every prompt frame: header and payload in one pack
            return _FRAME.pack(0x80, second, sequence, stamp, self.ssrc, payload)
        return _HEADER.pack(0x80, second, sequence, stamp, self.ssrc) + payload

    def skip(self, now: float) -> None:
        """A frame that is not sent (lateness beyond the burst, or hold): the timestamp still moves."""
        self._catch_up(now)
        self._advance(now)

    def silence(self) -> None:
        """Sending stopped: the next packet starts a talkspurt and gets the marker bit."""
        self._talkspurt = False

    def _advance(self, now: float) -> None:
        self.timestamp = (self.timestamp + SAMPLES_PER_FRAME) & 0xFFFFFFFF
        self._last_time = now

    def _catch_up(self, now: float) -> None:
        """After a silence, move the timestamp by the frames that elapsed unsent (RFC 3550 §5.1)."""
        if self._last_time is None:
            return
        # In samples, not frames: a new talkspurt may start on another phase of the media clock.
        gap = round((now - self._last_time) * _SAMPLE_RATE) - SAMPLES_PER_FRAME
        if gap > 0:
            self.timestamp = (self.timestamp + gap) & 0xFFFFFFFF


def valid_rtp(data: bytes) -> bool:
    """An RTP packet by the checks of aiortp's ``RtpPacket.parse`` (RFC 3550 §5.1: version 2,
    the CSRC list and the padding within the datagram), and not RTCP (RFC 5761 §4: packet
    types 192-208 in the second byte), without building anything; a packet with a header
    extension is checked by the parser itself."""
    return _valid(data, len(data))


def _valid(data: bytes | bytearray, size: int) -> bool:
    """:func:`valid_rtp` of the first ``size`` bytes of ``data`` (a receive buffer)."""
    if size < 12 or 192 <= data[1] <= 208:
        return False
    first = data[0]
    if first >> 6 != 2:
        return False
    pos = 12 + 4 * (first & 0x0F)
    if size < pos:
        return False
    if first & 0x10:  # a header extension (rare with G.711): aiortp also reads its elements
        try:
            RtpPacket.parse(bytes(data[:size]))
        except ValueError:
            return False
        return True
    if first & 0x20:  # padding: the last byte says how much, at least 1, within the payload
        padding = data[size - 1]
        if not padding or padding > size - pos:
            return False
    return True


PacketHandler = Callable[[RtpPacket], None]
SendFailedHandler = Callable[[OSError], None]

#: ``sendto`` errors that no retry can cure: the destination cannot be reached from this socket at
#: all (wrong family, broadcast, a name instead of an address, a firewall's EPERM). An ICMP
#: "unreachable" (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH) is not among them: a caller whose
#: phone is gone is media-timeout's to decide, and a route may come back.
_PERMANENT = frozenset({errno.EAFNOSUPPORT, errno.EINVAL, errno.EACCES, errno.EPERM, errno.EADDRNOTAVAIL,
                        errno.EDESTADDRREQ})

#: One receive buffer for every RTP socket of the process: datagrams are read into it and handled
#: before the next read (one thread). The largest UDP payload fits: nothing is ever cut short.
_RECEIVED = bytearray(65536)


def permanent_send_error(exc: OSError) -> bool:
    return isinstance(exc, socket.gaierror) or exc.errno in _PERMANENT


class Readers(Protocol):
    """Who reads a latched endpoint's socket (``media.poller.RtpPoller``): the endpoint hands
    itself over once the caller's address is known, and takes itself back when it is not."""

    def add(self, endpoint: RtpEndpoint) -> None: ...

    def discard(self, endpoint: RtpEndpoint) -> None: ...


class RtpEndpoint:
    """The UDP socket of one call: sends prepared datagrams, hands parsed RTP to ``on_packet``.

    Symmetric RTP (RFC 4961): once a valid RTP packet arrives, we send to its source address,
    whatever the SDP said, so callers behind NAT hear us. ``set_remote`` re-arms this after a
    re-INVITE changed the remote address.

    The socket is read and written here, not through a loop transport: a transport's datagram
    callback builds a ``bytes`` and a ``(host, port)`` tuple per datagram (the address formatted
    as text) for the 50 packets a second a talking caller sends, which we mostly only count.
    Until the first packet the loop watches the socket (the first packet's source is latched at
    once, so the first prompt frames reach a caller behind NAT); from then on ``readers`` (one
    epoll set for every latched call, read on a timer) does, and datagrams are read with
    ``recv_into`` into one shared buffer, without their source. Without ``readers`` the loop
    keeps watching.
    """

    __slots__ = ("_context", "_fd", "_latched", "_loop", "_readers", "_reading", "_sock", "clock",
                 "last_received_at", "on_packet", "on_send_failed", "parse_types", "received", "remote",
                 "sent")

    def __init__(
        self, sock: socket.socket, *, loop: asyncio.AbstractEventLoop, readers: Readers | None = None
    ) -> None:
        self.on_packet: PacketHandler = _ignore  #: set by the session that owns the endpoint
        #: told when sending can never work (see :func:`permanent_send_error`)
        self.on_send_failed: SendFailedHandler = _ignore_error
        self.remote: tuple[str, int] | None = None  #: where we send
        self.received = 0  #: valid RTP packets received
        #: the loop's clock (``media-timeout`` reads arrivals against it)
        self.clock: Callable[[], float] = loop.time
        #: ``clock()`` when the last valid RTP packet was read (``media-timeout`` reads it)
        self.last_received_at: float | None = None
        self.sent = 0  #: datagrams sent
        #: payload types ``on_packet`` is told of (``None``: all); the others are only counted
        self.parse_types: frozenset[int] | None = None
        self._sock: socket.socket | None = sock
        self._fd = sock.fileno()
        self._loop = loop
        self._readers = readers
        self._latched = False
        self._reading: Readers | None = None  # the readers that have the socket (None: the loop)
        #: the call's context (``call_id`` bound for its log lines, obs/context.py), where the
        #: endpoint is made: packets are handled in it, whoever reads them (the poller's timer
        #: runs for every call, in no call's context)
        self._context = contextvars.copy_context()
        loop.add_reader(self._fd, self._readable)

    @property
    def fileno(self) -> int:
        return self._fd

    # -- receiving -----------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        """One datagram from ``addr``, as if read from the socket."""
        self._handle(data, len(data), addr, self.clock())

    def read(self, now: float) -> bool:
        """Read one waiting datagram (the readers' side: the caller is latched, so its source is
        not asked for); False when none was waiting or the socket failed."""
        sock = self._sock
        if sock is None:
            return False
        buffer = _RECEIVED
        try:
            if self._latched:
                size = sock.recv_into(buffer)
                addr = None
            else:
                size, addr = sock.recvfrom_into(buffer)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self.error_received(exc)
            return False
        self._handle(buffer, size, addr, now)
        return True

    def drain(self, limit: int = 64) -> None:
        """Read what waits now (at most ``limit`` datagrams): before a deadline of the call is
        acted on, so a digit that arrived before it counts before it, as it did when the loop
        read every datagram the moment it came."""
        now = self.clock()
        for _ in range(limit):
            if not self.read(now):
                return

    def in_call(self, fn: Callable[[str], object], event: str) -> None:
        """``fn(event)`` in the call's context (its ``call_id`` in the log line), from a reader
        that runs in no call's (the poller's timer): e.g. its failure logged while handled."""
        self._context.copy().run(fn, event)

    def _readable(self) -> None:
        self.read(self.clock())

    def _handle(
        self, data: bytes | bytearray, size: int, addr: tuple[str | Any, int] | None, now: float
    ) -> None:
        # The common packet (a caller's voice while nobody listens for in-band DTMF) is only
        # checked, counted and timed, in the receive buffer: no copy, no RtpPacket. A plain
        # header (version 2, no padding, extension or CSRC: 0x80) that is not RTCP is valid as
        # it stands; anything else gets every check.
        if (size < 12 or data[0] != 0x80 or 192 <= data[1] <= 208) and not _valid(data, size):
            return
        self.received += 1
        self.last_received_at = now
        if addr is not None and not self._latched:
            self._latch(addr)
        wanted = self.parse_types
        if wanted is None or data[1] & 0x7F in wanted:
            self._deliver(bytes(data[:size]))

    def _deliver(self, data: bytes) -> None:
        try:
            packet = RtpPacket.parse(data)
        except ValueError:  # valid_rtp checked what parse does: kept for safety
            return
        # a copy: a context cannot be entered twice, and a handler may read the socket again (drain)
        self._context.copy().run(self.on_packet, packet)

    def _latch(self, addr: tuple[str | Any, int]) -> None:
        source = (str(addr[0]), addr[1])
        self._latched = True
        if source != self.remote:
            log.debug("media.rtp_latched", remote=f"{source[0]}:{source[1]}")
        self.remote = source
        readers = self._readers
        if readers is not None and self._reading is None and self._sock is not None:
            try:
                readers.add(self)
            except OSError as exc:  # epoll full (max_user_watches, ENOMEM): the loop keeps watching
                log.warning("media.rtp_poller_full", error=str(exc))
                return
            self._loop.remove_reader(self._fd)
            self._reading = readers

    def _unlatch(self) -> None:
        self._latched = False
        readers, self._reading = self._reading, None
        if readers is not None:
            readers.discard(self)
            if self._sock is not None:
                self._loop.add_reader(self._fd, self._readable)

    def error_received(self, exc: Exception) -> None:
        """A failed ``sendto`` or ``recv`` on the socket."""
        if isinstance(exc, OSError) and permanent_send_error(exc):
            self._context.copy().run(self.on_send_failed, exc)  # sent from the shared media clock
        else:
            log.debug("media.rtp_socket_error", error=str(exc))  # ICMP unreachable: the peer went away

    # -- sending -------------------------------------------------------------------------------

    def send(self, data: bytes | bytearray) -> None:
        sock, remote = self._sock, self.remote
        if sock is not None and remote is not None:
            try:
                sock.sendto(data, remote)
            except BlockingIOError:  # the socket's send buffer is full: this frame is lost, as on the wire
                log.debug("media.rtp_send_dropped", remote=f"{remote[0]}:{remote[1]}")
                return
            except OSError as exc:
                self.error_received(exc)
                return
            self.sent += 1

    def set_remote(self, remote: tuple[str, int] | None) -> None:
        """The address from the SDP; symmetric latching starts over."""
        self.remote = remote
        self._unlatch()

    def close(self) -> None:
        """Close the socket and drop the owner's handler (a cycle with the owner otherwise)."""
        self.on_packet = _ignore
        self.on_send_failed = _ignore_error
        sock, self._sock = self._sock, None
        if sock is None:
            return
        readers, self._reading = self._reading, None
        if readers is not None:
            readers.discard(self)
        elif not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        sock.close()


def _ignore(packet: RtpPacket) -> None:
    """Packets that arrive before a session owns the endpoint."""


def _ignore_error(exc: OSError) -> None:
    """Send failures before a session owns the endpoint (none: it sends nothing then)."""


#: Non-blocking from the start where the kernel offers it (Linux): one ``ioctl`` per call set-up
#: less than ``setblocking(False)`` after ``socket()``; Python reads the flag as a timeout of 0.
_DGRAM_NONBLOCK = socket.SOCK_DGRAM | getattr(socket, "SOCK_NONBLOCK", 0)


def open_endpoint(
    allocator: PortAllocator, host: str, *, readers: Readers | None = None
) -> tuple[RtpEndpoint, int]:
    """Bind an endpoint on the next free even port; ports held by other programs are skipped.

    ``host`` is always an address literal (``engine.sip-listen``): nothing to resolve. A port
    another program holds fails in ``bind``. Call it with the loop running (the endpoint's
    socket is watched by it until the caller's first packet).
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(allocator.capacity):
        port = allocator.acquire()
        sock = socket.socket(family, _DGRAM_NONBLOCK)
        try:
            if _DGRAM_NONBLOCK == socket.SOCK_DGRAM:
                sock.setblocking(False)
            sock.bind((host, port))
            endpoint = RtpEndpoint(sock, loop=loop, readers=readers)
        except OSError:
            sock.close()
            allocator.release(port)  # goes to the back of the list: the next try gets another port
            continue
        except BaseException:
            sock.close()
            allocator.release(port)
            raise
        return endpoint, port
    raise PortsExhausted(f"no bindable RTP port in {allocator.first}-{allocator.last} on {host}")
