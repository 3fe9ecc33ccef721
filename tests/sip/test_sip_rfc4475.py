"""Every RFC 4475 torture message, answered as the RFC says a robust UAS should, over UDP and TCP.

The messages in ``tests/sip/rfc4475/*.dat`` are the RFC's own bytes: its Appendix B carries them
as a base64 tar archive so that nobody has to retype them (see ``rfc4475/README.md``). Each is
sent unchanged to an in-process :class:`SipServer` over real loopback sockets, and the final
responses that come back are compared with :data:`EXPECTED`. docs/sip.md has the same table
with the reasons.

Over UDP the responses follow the Via (RFC 3261 §18.2.2): sent-by is an example.com host or a
192.0.2.x address, so they go to the source address (``received``) and the Via port, 5060 when
absent (5050 for ``quotbal``). The test peer therefore sends from 127.0.0.2:5060 and listens on
127.0.0.2:5050 too. Over TCP each message gets its own connection; responses come back on it.

A valid INVITE is handed to the application, which here declines it with 486, so no dialog
outlives its case; "486" below means "the call reached the application".
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiosipua.message import SipMessage, SipResponse
from structlog.testing import capture_logs

from tui_engine.sip import ServerCall, SipServer
from tui_engine.sip.transport import StreamFramer
from tui_engine.testing import free_port
from tui_engine.testing.sip_fake import RecordingHandler

CORPUS = Path(__file__).parent / "rfc4475"
APP = 486  #: the application's answer to a call that reached it

#: case -> (final statuses over UDP, over TCP). The RFC's section is in docs/sip.md.
EXPECTED: dict[str, tuple[list[int], list[int]]] = {
    # 3.1.1 valid messages: understood
    "wsinv": ([481], [481]),  # a To-tag of no dialog of ours
    "intmeth": ([501], [501]),  # an unknown method (§8.2.1, §21.5.2)
    "esc01": ([APP], [APP]),
    "escnull": ([405], [405]),  # REGISTER: known, not supported here
    "esc02": ([501], [501]),  # RE%47IST%45R is not REGISTER: method tokens are not unescaped
    "lwsdisp": ([200], [200]),
    "longreq": ([APP], [APP]),
    "dblreq": ([405], [405, APP]),  # UDP: the trailing INVITE is discarded; TCP: it is the next message
    "semiuri": ([200], [200]),
    "transports": ([200], [200]),
    "mpart01": ([405], [405]),  # MESSAGE
    "unreason": ([], []),  # responses to nothing: dropped
    "noreason": ([], []),
    # 3.1.2 invalid messages
    "badinv01": ([400], [400]),
    "clerr": ([400], []),  # TCP: the rest of the body may still come (§18.3), so no answer yet
    "ncl": ([400], [400]),
    "scalar02": ([400], [400]),
    "scalarlg": ([], []),
    "quotbal": ([APP], [APP]),  # robust: the quote is inferred (§3.1.2.6 allows it)
    "ltgtruri": ([400], [400]),
    "lwsruri": ([400], [400]),
    "lwsstart": ([400], [400]),
    "trws": ([400], [400]),  # rejecting is one of the two answers §3.1.2.10 allows
    "escruri": ([400], [400]),  # rejecting is one of the two answers §3.1.2.11 allows
    "baddate": ([APP], [APP]),  # a Date we never read
    "regbadct": ([405], [405]),
    "badaspec": ([200], [200]),  # robust (§3.1.2.14 allows it)
    # robust (§3.1.2.15 allows it); the archive's file has no empty line after its headers, so
    # on a stream the message is not complete yet and waits (§18.3)
    "baddn": ([200], []),
    "badvers": ([505], [505]),
    "mismatch01": ([400], [400]),
    "mismatch02": ([400], [400]),
    "bigcode": ([], []),
    # 3.2 transaction layer
    "badbranch": ([200], [200]),
    # 3.3 application layer
    "insuf": ([400], [400]),
    "unkscm": ([416], [416]),
    "novelsc": ([416], [416]),
    "unksm2": ([405], [405]),
    "bext01": ([420], [420]),
    "invut": ([415], [415]),
    "regaut01": ([405], [405]),
    "multi01": ([400], [400]),
    "mcl01": ([400], [400]),
    "bcast": ([], []),
    "zeromf": ([200], [200]),  # Max-Forwards 0 concerns proxies; a UAS answers
    "cparam01": ([405], [405]),
    "cparam02": ([405], [405]),
    "regescrt": ([405], [405]),
    "sdp01": ([406], [406]),
    # 3.4 backward compatibility
    "inv2543": ([APP], [400]),  # TCP: a stream message without Content-Length (§18.3)
}

PEER_PORTS = (5060, 5050)
PEER_HOST = "127.0.0.2"
QUIET = 0.3  #: how long to listen for an answer that should not come


class Declines(RecordingHandler):
    def incoming_call(self, call: ServerCall) -> None:
        super().incoming_call(call)
        call.reject(APP)


def test_the_corpus_is_the_rfcs_49_messages() -> None:
    assert sorted(p.stem for p in CORPUS.glob("*.dat")) == sorted(EXPECTED)


@pytest.fixture
async def server() -> AsyncIterator[tuple[SipServer, Declines]]:
    handler = Declines()
    sip = SipServer(handler, host="127.0.0.1", port=free_port(socket.SOCK_STREAM), max_calls=100,
                    trusted=["127.0.0.0/8"])
    await sip.start()
    yield sip, handler
    await sip.stop()


class Finals:
    """Final responses in arrival order; repeats (retransmissions by Timer G) are left out."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.queue: asyncio.Queue[int] = asyncio.Queue()

    def add(self, data: bytes) -> None:
        msg = SipMessage.parse(data)
        if isinstance(msg, SipResponse) and msg.status_code >= 200 and data not in self.seen:
            self.seen.add(data)
            self.queue.put_nowait(msg.status_code)

    async def take(self, count: int) -> list[int]:
        got: list[int] = []
        try:
            async with asyncio.timeout(5 if count else QUIET):
                while len(got) < count or not count:
                    got.append(await self.queue.get())
        except TimeoutError:
            pass
        return got


class UdpPeer(asyncio.DatagramProtocol):
    def __init__(self, finals: Finals) -> None:
        self.finals = finals

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.finals.add(data)


async def run_udp(target: tuple[str, int]) -> dict[str, list[int]]:
    loop = asyncio.get_running_loop()
    finals = Finals()
    peers = [
        (await loop.create_datagram_endpoint(lambda: UdpPeer(finals), local_addr=(PEER_HOST, port)))[0]
        for port in PEER_PORTS
    ]
    try:
        results = {}
        for name, (udp, _) in EXPECTED.items():
            peers[0].sendto((CORPUS / f"{name}.dat").read_bytes(), target)
            results[name] = await finals.take(len(udp))
        return results
    finally:
        for peer in peers:
            peer.close()


async def read_stream(reader: asyncio.StreamReader, finals: Finals) -> None:
    framer = StreamFramer()
    while data := await reader.read(65536):
        for message in framer.feed(data):
            finals.add(message)


async def run_tcp(target: tuple[str, int]) -> dict[str, list[int]]:
    results = {}
    for name, (_, tcp) in EXPECTED.items():
        reader, writer = await asyncio.open_connection(*target)
        finals = Finals()
        reading = asyncio.create_task(read_stream(reader, finals))
        writer.write((CORPUS / f"{name}.dat").read_bytes())
        results[name] = await finals.take(len(tcp))
        writer.close()
        reading.cancel()
    return results


def wrong(results: dict[str, list[int]], column: int) -> dict[str, tuple[list[int], list[int]]]:
    return {n: (got, EXPECTED[n][column]) for n, got in results.items() if got != EXPECTED[n][column]}


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_every_rfc4475_message_gets_the_rfcs_answer(
    server: tuple[SipServer, Declines], transport: str
) -> None:
    sip, handler = server
    with capture_logs() as logs:
        if transport == "UDP":
            results, column = await run_udp(sip.address), 0
        else:
            results, column = await run_tcp(sip.address), 1
    assert wrong(results, column) == {}, "case: (got, expected)"
    assert [e for e in logs if e["log_level"] in ("error", "critical")] == []  # no internal error
    reached = sum(got.count(APP) for got in results.values())
    assert len(handler.calls) == reached  # only the INVITEs answered 486 became calls
