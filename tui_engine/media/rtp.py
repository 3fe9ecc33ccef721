"""Per-call RTP: the port allocator, the sans-I/O packetiser, and the UDP endpoint (the only sockets here).

aiortp parses received packets (``RtpPacket``); its ``PortAllocator`` is not used because it
test-binds every port of the range on each allocation (O(range) syscalls per call at 6 000 calls),
and its ``RtpSender`` because its timestamps only move when a frame is sent, while RFC 3550 §5.1
wants them to follow the sampling clock through silences too.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any, cast

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
        header = _HEADER.pack(0x80, marker | self.payload_type, self.sequence, stamp, self.ssrc)
        self._talkspurt = True
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (stamp + SAMPLES_PER_FRAME) & 0xFFFFFFFF
        self._last_time = now
        return header + payload

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
    size = len(data)
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
            RtpPacket.parse(data)
        except ValueError:
            return False
        return True
    if first & 0x20:  # padding: the last byte says how much, at least 1, within the payload
        padding = data[-1]
        if not padding or padding > size - pos:
            return False
    return True


PacketHandler = Callable[[RtpPacket, tuple[str, int]], None]
SendFailedHandler = Callable[[OSError], None]

#: ``sendto`` errors that no retry can cure: the destination cannot be reached from this socket at
#: all (wrong family, broadcast, a name instead of an address, a firewall's EPERM). An ICMP
#: "unreachable" (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH) is not among them: a caller whose
#: phone is gone is media-timeout's to decide, and a route may come back.
_PERMANENT = frozenset({errno.EAFNOSUPPORT, errno.EINVAL, errno.EACCES, errno.EPERM, errno.EADDRNOTAVAIL,
                        errno.EDESTADDRREQ})


def permanent_send_error(exc: OSError) -> bool:
    return isinstance(exc, socket.gaierror) or exc.errno in _PERMANENT


class RtpEndpoint(asyncio.DatagramProtocol):
    """The UDP socket of one call: sends prepared datagrams, hands parsed RTP to ``on_packet``.

    Symmetric RTP (RFC 4961): once a valid RTP packet arrives, we send to its source address,
    whatever the SDP said, so callers behind NAT hear us. ``latch_reset`` re-arms this after a
    re-INVITE changed the remote address.
    """

    def __init__(self) -> None:
        self.on_packet: PacketHandler = _ignore  #: set by the session that owns the endpoint
        #: told when sending can never work (see :func:`permanent_send_error`)
        self.on_send_failed: SendFailedHandler = _ignore_error
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] | None = None  #: where we send
        self._latched = False
        self.received = 0  #: valid RTP packets received
        #: the loop's clock, set by :func:`open_endpoint` (``None``: arrivals are not timed)
        self.clock: Callable[[], float] | None = None
        #: ``clock()`` when the last valid RTP packet arrived (``media-timeout`` reads it)
        self.last_received_at: float | None = None
        self.sent = 0  #: datagrams sent
        #: payload types ``on_packet`` is told of (``None``: all); the others are only counted
        self.parse_types: frozenset[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport (3.11): cast.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        # The common packet (a caller's voice while nobody listens for in-band DTMF) is only
        # checked, counted and timed: building aiortp's RtpPacket for it was most of the
        # per-packet cost (bench/_cpu_counts.py rtp_in), for a packet nobody reads.
        if not valid_rtp(data):
            return
        self.received += 1
        if self.clock is not None:
            self.last_received_at = self.clock()
        if not self._latched:
            source = (str(addr[0]), addr[1])
            self._latched = True
            if source != self.remote:
                log.debug("media.rtp_latched", remote=f"{source[0]}:{source[1]}")
            self.remote = source
        wanted = self.parse_types
        if wanted is not None and data[1] & 0x7F not in wanted:
            return
        try:
            packet = RtpPacket.parse(data)
        except ValueError:  # valid_rtp checked what parse does: kept for safety
            return
        self.on_packet(packet, (str(addr[0]), addr[1]))

    def error_received(self, exc: Exception) -> None:
        # asyncio reports a failed sendto here rather than raising it
        if isinstance(exc, OSError) and permanent_send_error(exc):
            self.on_send_failed(exc)
        else:
            log.debug("media.rtp_socket_error", error=str(exc))  # ICMP unreachable: the peer went away

    def send(self, data: bytes) -> None:
        if self.transport is not None and self.remote is not None:
            try:
                self.transport.sendto(data, self.remote)
            except OSError as exc:  # uvloop raises what asyncio hands to error_received
                self.error_received(exc)
                return
            self.sent += 1

    def set_remote(self, remote: tuple[str, int] | None) -> None:
        """The address from the SDP; symmetric latching starts over."""
        self.remote = remote
        self._latched = False

    def close(self) -> None:
        """Close the socket and drop the owner's handler (a cycle with the owner otherwise)."""
        self.on_packet = _ignore
        self.on_send_failed = _ignore_error
        if self.transport is not None:
            self.transport.close()
            self.transport = None


def _ignore(packet: RtpPacket, source: tuple[str, int]) -> None:
    """Packets that arrive before a session owns the endpoint."""


def _ignore_error(exc: OSError) -> None:
    """Send failures before a session owns the endpoint (none: it sends nothing then)."""


#: Non-blocking from the start where the kernel offers it (Linux): one ``ioctl`` per call set-up
#: less than ``setblocking(False)`` after ``socket()``; Python reads the flag as a timeout of 0.
_DGRAM_NONBLOCK = socket.SOCK_DGRAM | getattr(socket, "SOCK_NONBLOCK", 0)


async def open_endpoint(allocator: PortAllocator, host: str) -> tuple[RtpEndpoint, int]:
    """Bind an endpoint on the next free even port; ports held by other programs are skipped.

    The socket is made and bound here and handed to the loop ready (``sock=``): given
    ``local_addr`` instead, the loop resolves the address and builds the socket itself on every
    call, 3× the work (77 µs against 23 µs per call set-up on uvloop, measured); ``host`` is
    always an address literal (``engine.sip-listen``), so there is nothing to resolve. A port
    another program holds fails in ``bind`` before the loop sees the socket.
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
            _, protocol = await loop.create_datagram_endpoint(RtpEndpoint, sock=sock)
        except OSError:
            sock.close()
            allocator.release(port)  # goes to the back of the list: the next try gets another port
            continue
        except BaseException:  # cancelled while binding (engine stopping): the port is not lost
            sock.close()
            allocator.release(port)
            raise
        protocol.clock = loop.time
        return protocol, port
    raise PortsExhausted(f"no bindable RTP port in {allocator.first}-{allocator.last} on {host}")
