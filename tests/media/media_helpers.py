"""Test helpers for the media package: a tiny pcap reader, a UDP capture socket, WAV files via sox."""

from __future__ import annotations

import asyncio
import math
import socket
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aiortp.packet import RtpPacket

PCAP_DIR = Path("/usr/share/sip-tester")
KEYPAD = ("123A", "456B", "789C", "*0#D")
ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)


def read_pcap_rtp(path: Path) -> list[RtpPacket]:
    """RTP packets of a classic little-endian pcap of Ethernet/IPv4/UDP frames (what SIPp ships).

    Written here rather than adding dpkt: 20 lines, and the files are fixed Debian artefacts.
    """
    raw = path.read_bytes()
    assert raw[:4] == b"\xd4\xc3\xb2\xa1", "little-endian classic pcap expected"
    (linktype,) = struct.unpack_from("<I", raw, 20)
    assert linktype == 1, "Ethernet link type expected"
    packets: list[RtpPacket] = []
    pos = 24
    while pos + 16 <= len(raw):
        _sec, _usec, incl_len, _orig = struct.unpack_from("<IIII", raw, pos)
        frame = raw[pos + 16 : pos + 16 + incl_len]
        pos += 16 + incl_len
        if frame[12:14] != b"\x08\x00":
            continue  # not IPv4
        ihl = (frame[14] & 0x0F) * 4
        if frame[14 + 9] != 17:
            continue  # not UDP
        packets.append(RtpPacket.parse(frame[14 + ihl + 8 :]))
    return packets


def dtmf_tone(key: str, ms: float, amplitude: float = 6000.0, rate: int = 8000) -> list[int]:
    """Samples of the two-tone DTMF signal for ``key`` (ITU-T Q.23)."""
    row = next(i for i, keys in enumerate(KEYPAD) if key in keys)
    col = KEYPAD[row].index(key)
    low, high = ROWS[row], COLUMNS[col]
    count = int(rate * ms / 1000)
    return [
        int(
            amplitude * math.sin(2 * math.pi * low * i / rate)
            + amplitude * math.sin(2 * math.pi * high * i / rate)
        )
        for i in range(count)
    ]


def sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True, capture_output=True)


def make_wav(path: Path, *, rate: int, encoding: str, seconds: float = 0.5, channels: int = 1) -> Path:
    """A sine WAV written by sox: ``encoding`` is u-law, a-law or signed (16-bit)."""
    bits = ["-b", "16"] if encoding == "signed" else ["-b", "8"]
    sox(
        "-n",
        "-r",
        str(rate),
        "-c",
        str(channels),
        "-e",
        encoding,
        *bits,
        str(path),
        "synth",
        str(seconds),
        "sine",
        "440",
    )
    return path


@dataclass
class Capture(asyncio.DatagramProtocol):
    """A real UDP socket on loopback that keeps every datagram it receives (the 'phone')."""

    packets: list[RtpPacket]
    transport: asyncio.DatagramTransport | None = None
    arrived: asyncio.Event | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.arrived = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.packets.append(RtpPacket.parse(data))
        assert self.arrived is not None
        self.arrived.set()

    @property
    def port(self) -> int:
        assert self.transport is not None
        port: int = self.transport.get_extra_info("sockname")[1]
        return port

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr)


async def open_capture() -> Capture:
    loop = asyncio.get_running_loop()
    _, capture = await loop.create_datagram_endpoint(
        lambda: Capture(packets=[]), local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    return capture


def offer(
    port: int,
    formats: str = "0 8 101",
    *,
    te_pt: int | None = 101,
    direction: str | None = None,
    address: str = "127.0.0.1",
) -> str:
    """An SDP offer as a phone would send it."""
    lines = [
        "v=0",
        "o=phone 1 1 IN IP4 127.0.0.1",
        "s=-",
        f"c=IN IP4 {address}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {formats}",
    ]
    if te_pt is not None:
        lines += [f"a=rtpmap:{te_pt} telephone-event/8000", f"a=fmtp:{te_pt} 0-15"]
    if direction:
        lines.append(f"a={direction}")
    return "\r\n".join(lines) + "\r\n"


async def wait_until(predicate: Callable[[], bool], *, limit: float = 10.0) -> None:
    """Poll ``predicate`` between loop iterations (a socket gives no event to wait on)."""
    for _ in range(int(limit / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")
