"""Helpers for end-to-end tests of a real ``tui-engine serve`` over loopback SIP.

A test starts an engine (``EngineProcess`` through the ``tui`` fixture), places calls with SIPp
(``place_call``) or another client, then asserts on the engine's JSON log events (``call_events``),
SIPp's own results (``assert_sipp_ok``, ``SippResult.message_counts``) and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiortp.packet import RtpPacket
from prometheus_client.parser import text_string_to_metric_families

from tui_engine.testing import free_port, free_port_block
from tui_engine.testing.engine import EngineProcess
from tui_engine.testing.sipp import SippResult, SippRun, run_sipp

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


#: The SIP layer's per-message lines (``sip.invite``, ``sip.answered``, ``sip.confirmed``, ...)
#: are logged at debug: a test that reads them runs its engine with these options.
SIP_TRACE: dict[str, object] = {"logging.level": "debug"}


class RtpCapture(asyncio.DatagramProtocol):
    """The phone's RTP socket: keeps the payload of every PCMU packet by its RTP timestamp."""

    def __init__(self) -> None:
        self.frames: dict[int, bytes] = {}
        self.first: int | None = None  # the first timestamp received: positions are counted from it

    def datagram_received(self, data: bytes, addr: object) -> None:
        packet = RtpPacket.parse(data)
        if packet.payload_type == 0:
            self.frames[packet.timestamp] = packet.payload
            if self.first is None:
                self.first = packet.timestamp

    def in_order(self) -> list[bytes]:
        """Every frame received, in the order sent (by timestamp)."""
        return [self.frames[t] for t in sorted(self.frames)]

    def played(self, run: list[bytes]) -> list[int]:
        """Where ``run`` was sent as one stream (frame k at timestamp start + 160·k), in order.

        Positions are in samples after the first packet received. Every frame received in that
        window must be the expected one; a few may be missing, because a late event loop makes the
        engine skip frames (advancing the timestamp, RFC 3550 §5.1) on a loaded test machine. At
        least 90 % must be there.
        """
        frames, head = self.frames, run[:10]
        starts = {
            (ts - 160 * k) % 2**32
            for ts, payload in frames.items()
            for k, want in enumerate(head)
            if payload == want
        }
        found: list[int] = []
        for start in starts:
            got = [frames.get((start + 160 * k) % 2**32) for k in range(len(run))]
            matched = sum(g == want for g, want in zip(got, run, strict=True))
            if all(g is None or g == want for g, want in zip(got, run, strict=True)) and matched >= 0.9 * len(
                run
            ):
                found.append((start - (self.first or 0)) % 2**32)
        return sorted(found)


def sipp_run(engine: EngineProcess, workdir: Path, scenario: str, **kwargs: Any) -> SippRun:
    """A SIPp run against ``engine`` on fresh ports; its logs go to ``workdir/scenario``."""
    media_first, _ = free_port_block(4)
    options: dict[str, Any] = {"timeout_s": 60.0, **kwargs}
    return SippRun(
        scenario=scenario,
        target=("127.0.0.1", engine.sip_port),
        local_port=free_port(socket.SOCK_DGRAM),
        media_port=media_first,
        workdir=workdir / scenario,
        **options,
    )


async def place_call(engine: EngineProcess, workdir: Path, scenario: str, **kwargs: Any) -> SippResult:
    """Run one SIPp scenario against ``engine`` to its end."""
    return await run_sipp(sipp_run(engine, workdir, scenario, **kwargs))


def assert_sipp_ok(result: SippResult, calls: int = 1) -> None:
    """SIPp ran every step of every call as scripted (it fails a call on any unexpected message)."""
    detail = f"{result.stdout[-2000:]}\n{result.errors[-3000:]}\n{result.screen[-3000:]}"
    assert result.returncode == 0, detail
    assert (result.successful, result.failed) == (calls, 0), detail


def call_ids(engine: EngineProcess) -> list[str]:
    """The Call-IDs of every call the engine started, in order."""
    return [str(e["call_id"]) for e in engine.find_events("call.started")]


def call_events(engine: EngineProcess, call_id: str) -> list[dict[str, Any]]:
    """The events logged for one call (structlog binds ``call_id`` through contextvars)."""
    return [e for e in engine.events if e.get("call_id") == call_id]


def names(
    events: list[dict[str, Any]], prefixes: tuple[str, ...] = ("call.", "menu.", "prompt.", "idle.", "dtmf.")
) -> list[str]:
    """Event names (``prompt.started`` ...) of the application layer, without SIP details."""
    return [str(e["event"]) for e in events if str(e["event"]).startswith(prefixes)]


def when(event: Mapping[str, Any]) -> float:
    """An event's wall-clock timestamp (structlog's ISO 8601, UTC) as epoch seconds."""
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


async def metric_samples(engine: EngineProcess) -> Samples:
    """``/metrics`` of the engine, parsed with prometheus_client's own parser."""
    async with aiohttp.ClientSession() as http, http.get(f"{engine.http_url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def wait_no_calls(engine: EngineProcess, *, within: float = 10.0) -> Samples:
    """Poll ``/metrics`` until ``tui_active_calls`` is 0 (calls end a moment after SIPp's last step).

    Polling because no event is pushed to the test when the gauge changes; bounded by ``within``.
    """
    samples = await metric_samples(engine)
    try:
        async with asyncio.timeout(within):
            while samples[("tui_active_calls", ())] != 0:
                await asyncio.sleep(0.1)
                samples = await metric_samples(engine)
    except TimeoutError:
        raise AssertionError(f"calls left in the engine: {samples[('tui_active_calls', ())]}") from None
    return samples


def bound_udp_ports(pid: int, first: int, last: int) -> list[int]:
    """Local UDP ports in ``first..last`` held by sockets of process ``pid`` (Linux ``/proc``).

    A port of the engine's RTP range still bound by the engine after every call has ended is a
    media socket it leaked. Sockets are matched to the process by inode (``/proc/PID/fd`` links
    ``socket:[INODE]``), so other test workers' SIPp or engines using the same ports don't count.
    """
    fd_dir = Path(f"/proc/{pid}/fd")
    inodes = set()
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = []
    for table in (Path("/proc/net/udp"), Path("/proc/net/udp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if first <= port <= last and fields[9] in inodes:
                ports.append(port)
    return sorted(ports)
