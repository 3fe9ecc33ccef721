"""A seeded, bounded mutation fuzz of the SIP endpoint over real UDP and TCP.

A few thousand datagrams, each a well-formed request or an RFC 4475 message with one to four
random mutations (bit flips, hostile bytes such as bare CR or NUL, deleted/duplicated/swapped
lines, out-of-range numbers, truncation, LF-only lines), go to an in-process ``SipServer``;
another stream of them goes over TCP connections. Then nothing may have gone wrong inside:
no ``sip.internal_error`` (or any other error-level event) in the log, no exception reaching
the event loop; and a normal SIPp call must still complete.

Everything goes to loopback: a mutant whose bytes name an IPv4 address outside 127/8 is
replaced by another (our answers and BYEs follow Via, Contact and Record-Route).
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tui_engine.sip import EndReason, ServerCall, SipServer
from tui_engine.testing import free_port, free_port_block
from tui_engine.testing.sip_fake import ANSWER_SDP, OFFER_SDP, RecordingHandler, sip_request
from tui_engine.testing.sipp import SippRun, run_sipp

SEED = 4475
UDP_COUNT = 3000
TCP_COUNT = 1000
CORPUS = Path(__file__).parent / "rfc4475"
HOSTILE = (b"\r", b"\n", b"\x00", b"\xff", b":", b";", b",", b" ", b"<", b">", b'"', b"%", b"=", b"\t")
NUMBERS = (b"0", b"-1", b"65536", b"70000", b"4294967296", b"99999999999999999999", b"")
_IPV4 = re.compile(rb"(?<![\d.])(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.])")


def seeds(port: int) -> list[bytes]:
    """Well-formed requests of every method we handle, plus the RFC 4475 messages."""
    source = ("127.0.0.1", port)
    sdp = {"body": OFFER_SDP, "content_type": "application/sdp"}
    made = [
        sip_request("INVITE", uri="sip:fuzz@127.0.0.1", source=source, **sdp),  # type: ignore[arg-type]
        sip_request("ACK", to_tag="t1", source=source),
        sip_request("BYE", to_tag="t1", cseq=2, source=source),
        sip_request("CANCEL", source=source),
        sip_request("OPTIONS", source=source, headers=[("Accept", "application/sdp")]),
        sip_request("INFO", to_tag="t1", cseq=3, source=source, body="Signal=5\r\nDuration=160\r\n",
                    content_type="application/dtmf-relay"),
        sip_request("UPDATE", to_tag="t1", cseq=4, source=source, **sdp),  # type: ignore[arg-type]
        sip_request("NOTIFY", to_tag="t1", cseq=5, source=source, body="SIP/2.0 200 OK\r\n",
                    content_type="message/sipfrag"),
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\nCSeq: 1 BYE\r\n"
        b"Call-ID: c\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\n"
        b"Content-Length: 0\r\n\r\n",
    ]
    return made + [p.read_bytes() for p in sorted(CORPUS.glob("*.dat"))]


def _flip(rng: random.Random, data: bytearray) -> None:
    i = rng.randrange(len(data))
    data[i] ^= 1 << rng.randrange(8)


def _hostile(rng: random.Random, data: bytearray) -> None:
    i = rng.randrange(len(data))
    data[i : i + rng.choice((0, 1))] = rng.choice(HOSTILE)


def _delete(rng: random.Random, data: bytearray) -> None:
    i = rng.randrange(len(data))
    del data[i : i + rng.randrange(1, 40)]


def _lines(rng: random.Random, data: bytearray) -> None:
    lines = bytes(data).split(b"\r\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    choice = rng.randrange(3)
    if choice == 0:
        lines.insert(i, lines[j])  # a repeated header
    elif choice == 1:
        lines[i], lines[j] = lines[j], lines[i]
    else:
        del lines[i]
    data[:] = b"\r\n".join(lines)


def _number(rng: random.Random, data: bytearray) -> None:
    runs = [m.span() for m in re.finditer(rb"\d+", bytes(data))]
    if runs:
        start, end = rng.choice(runs)
        data[start:end] = rng.choice(NUMBERS)


def _truncate(rng: random.Random, data: bytearray) -> None:
    del data[rng.randrange(len(data)) :]


def _line_ends(rng: random.Random, data: bytearray) -> None:
    data[:] = bytes(data).replace(b"\r\n", rng.choice((b"\n", b"\r", b"\r\r\n")))


MUTATIONS: tuple[Callable[[random.Random, bytearray], None], ...] = (
    _flip, _hostile, _hostile, _delete, _lines, _lines, _number, _number, _truncate, _line_ends,
)


def loopback_only(data: bytes) -> bool:
    return all(m.group(1) == b"127" for m in _IPV4.finditer(data))


def mutants(rng: random.Random, pool: list[bytes], count: int) -> list[bytes]:
    """``count`` mutated messages, deterministic for a given ``rng`` state."""
    out: list[bytes] = []
    while len(out) < count:
        data = bytearray(rng.choice(pool))
        for _ in range(rng.randint(1, 4)):
            if data:
                rng.choice(MUTATIONS)(rng, data)
        if data and loopback_only(bytes(data)):
            out.append(bytes(data))
    return out


class AnswersOnlyTheNormalCall(RecordingHandler):
    """Answers calls to 100 (SIPp's) and hangs up after the ACK; declines every fuzzed INVITE."""

    def incoming_call(self, call: ServerCall) -> None:
        self.calls.append(call)
        if call.request_user == "100":
            call.answer(ANSWER_SDP)
        else:
            call.reject(486)

    def call_confirmed(self, call: ServerCall) -> None:
        super().call_confirmed(call)
        if call.request_user == "100":
            asyncio.get_running_loop().call_later(0.2, call.hangup)


async def fuzz_udp(target: tuple[str, int], messages: list[bytes]) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        for i, data in enumerate(messages):
            transport.sendto(data, target)
            if i % 25 == 0:
                await asyncio.sleep(0.001)  # let the server read: a lost datagram tests nothing
    finally:
        transport.close()


async def fuzz_tcp(target: tuple[str, int], messages: list[bytes], per_connection: int = 20) -> None:
    """Mutants written back to back on a few connections (the engine may close one: reconnect)."""
    for start in range(0, len(messages), per_connection):
        reader, writer = await asyncio.open_connection(*target)
        for data in messages[start : start + per_connection]:
            if writer.is_closing():
                break
            writer.write(data)
            await asyncio.sleep(0)
        writer.write(b"\r\n\r\n")
        try:
            await asyncio.wait_for(writer.drain(), 2)
        except (ConnectionError, TimeoutError):
            pass  # the engine closed a stream it could not frame: by design (§18.3)
        writer.close()
        reader.feed_eof()


async def run_fuzz(server: SipServer, seed: int = SEED) -> list[dict[str, Any]]:
    """Fuzz ``server`` over UDP then TCP; return the loop exceptions seen."""
    rng = random.Random(seed)
    pool = seeds(free_port())
    loop = asyncio.get_running_loop()
    problems: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    try:
        await fuzz_udp(server.address, mutants(rng, pool, UDP_COUNT))
        await fuzz_tcp(server.address, mutants(rng, pool, TCP_COUNT))
        await asyncio.sleep(0.5)  # the last datagrams and connections are handled
    finally:
        loop.set_exception_handler(previous)
    return problems


def test_mutants_are_deterministic_and_stay_on_loopback() -> None:
    pool = seeds(5070)
    first = mutants(random.Random(SEED), pool, 200)
    assert first == mutants(random.Random(SEED), pool, 200)
    assert all(loopback_only(m) for m in first) and len(set(first)) > 150


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")
async def test_fuzzed_udp_and_tcp_cause_no_internal_error_and_a_call_still_works(tmp_path: Path) -> None:
    handler = AnswersOnlyTheNormalCall()
    server = SipServer(handler, host="127.0.0.1", port=free_port(socket.SOCK_STREAM), max_calls=10000,
                       trusted=["127.0.0.0/8"])
    await server.start()
    try:
        with capture_logs() as logs:
            problems = await run_fuzz(server)
        errors = [e for e in logs if e["log_level"] in ("error", "critical")]
        assert errors == [] and problems == []
        assert sum(e["event"] == "sip.malformed" for e in logs) > 500  # the fuzz reached the parser
        run = SippRun(scenario="uac_basic_bye_from_uas", target=server.address, service="100",
                      local_port=free_port(), media_port=free_port_block(4)[0], workdir=tmp_path,
                      timeout_s=20)
        result = await run_sipp(run)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors[-2000:]
        normal = [c.call_id for c in handler.confirmed if c.request_user == "100"]
        assert (normal[-1], EndReason.LOCAL_HANGUP) in handler.ended
    finally:
        await server.stop()
