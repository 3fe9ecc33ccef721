"""TCP framing per RFC 3261 §18.3: Content-Length anywhere and compact, pipelining, partial reads,
a missing or doubled Content-Length (400, then the connection closes), many connections at once.

The framer is tested sans-I/O; the rest over real loopback TCP against an in-process SipServer.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from aiosipua.message import SipMessage, SipResponse
from structlog.testing import capture_logs

from tui_engine.sip import SipServer, transport
from tui_engine.sip.transport import (
    FramingError,
    StreamFramer,
    StreamLimits,
    TcpConnection,
    Transports,
    stream_body_length,
)
from tui_engine.testing import free_port
from tui_engine.testing.sip_fake import ANSWER_SDP, OFFER_SDP, RecordingHandler, sip_request


def reorder(message: bytes, *, compact: bool = False) -> bytes:
    """``message`` with its Content-Length moved right after the request line (optionally as ``l:``)."""
    head, _, body = message.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    (length,) = [line for line in lines if line.lower().startswith(b"content-length")]
    lines.remove(length)
    if compact:
        length = b"l :  " + length.split(b":", 1)[1].strip()
    lines.insert(1, length)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


INFO_WITH_BLANK_LINES = sip_request(
    "INFO", body="Signal=5\r\n\r\nDuration=160\r\n", content_type="text/plain"
)


@pytest.mark.parametrize("compact", [False, True])
def test_content_length_before_other_headers_frames_the_body(compact: bool) -> None:
    invite = reorder(sip_request("INVITE", body=OFFER_SDP), compact=compact)
    assert invite.index(b"\r\n", 0) < invite.lower().index(b"\r\nvia")  # it really is first
    options = sip_request("OPTIONS")
    assert StreamFramer().feed(invite + options) == [invite, options]


def test_three_pipelined_messages_in_one_read_with_blank_lines_in_a_body() -> None:
    bye = reorder(sip_request("BYE"), compact=True)
    messages = [reorder(INFO_WITH_BLANK_LINES), sip_request("OPTIONS"), bye]
    assert StreamFramer().feed(b"".join(messages)) == messages


def test_a_byte_at_a_time_stream_gives_each_message_exactly_once() -> None:
    messages = [reorder(sip_request("INVITE", body=OFFER_SDP), compact=True), INFO_WITH_BLANK_LINES]
    stream = b"\r\n".join(messages)  # a CRLF keep-alive between them (§7.5)
    framer = StreamFramer()
    got = [m for i in range(len(stream)) for m in framer.feed(stream[i : i + 1])]
    assert got == messages


def test_a_byte_at_a_time_body_reads_its_header_block_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The work per byte must not grow with the header block: a 1-byte-at-a-time sender of a large
    message (a long header block, a 60 KiB body) cost one read of the whole block per byte."""
    reads: list[int] = []

    def counted(head: bytes) -> int:
        reads.append(len(head))
        return stream_body_length(head)

    monkeypatch.setattr(transport, "stream_body_length", counted)
    body = b"x" * 60_000
    message = sip_request("MESSAGE", body=body.decode(), content_type="text/plain", headers=HOPS[:50])
    framer = StreamFramer()
    got = [m for i in range(len(message)) for m in framer.feed(message[i : i + 1])]
    assert got == [message]
    assert len(reads) == 1 and reads[0] > 5_000  # once, however many reads the body took


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda m: m.replace(b"Content-Length: 0\r\n", b""), "missing"),
        (lambda m: m.replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 5"), "several"),
        (lambda m: m.replace(b"Content-Length: 0", b"Content-Length: -5"), "bad"),
        (lambda m: m.replace(b"Content-Length: 0", b"Content-Length: five"), "bad"),
    ],
)
def test_an_undelimitable_message_is_a_framing_error_with_its_head(edit: object, reason: str) -> None:
    good = sip_request("OPTIONS", branch="z9hG4bK-good")
    bad = edit(sip_request("OPTIONS", branch="z9hG4bK-bad"))  # type: ignore[operator]
    with pytest.raises(FramingError, match=reason) as caught:
        StreamFramer().feed(good + bad)
    assert caught.value.framed == [good]  # what came before the fault is still delivered
    assert b"z9hG4bK-bad" in caught.value.head and caught.value.head.startswith(b"OPTIONS ")


def test_a_body_larger_than_a_datagram_could_carry_is_refused_before_it_is_buffered() -> None:
    head = sip_request("MESSAGE").replace(b"Content-Length: 0", b"Content-Length: 65537")
    with pytest.raises(FramingError, match="too large") as caught:
        StreamFramer().feed(head)  # no byte of the body sent yet: nothing held for it
    assert caught.value.head.startswith(b"MESSAGE ")


# --- over real TCP ---------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[SipServer]:
    sip = SipServer(RecordingHandler(), host="127.0.0.1", port=free_port(socket.SOCK_STREAM), max_calls=5,
                    trusted=["127.0.0.0/8"])
    await sip.start()
    yield sip
    await sip.stop()


async def read_responses(reader: asyncio.StreamReader, count: int) -> list[SipResponse]:
    """``count`` responses from the stream (framed by Content-Length, which our responses carry)."""
    framer, out = StreamFramer(), []
    async with asyncio.timeout(10):
        while len(out) < count:
            data = await reader.read(65536)
            assert data, f"connection closed after {len(out)} of {count} responses"
            out += [SipMessage.parse(m) for m in framer.feed(data)]
    assert all(isinstance(m, SipResponse) for m in out)
    return out  # type: ignore[return-value]


async def test_pipelined_requests_in_one_write_are_answered_in_order(server: SipServer) -> None:
    reader, writer = await asyncio.open_connection(*server.address)
    branches = [f"z9hG4bK-p{i}" for i in range(3)]
    requests = [reorder(sip_request("OPTIONS", branch=b), compact=i == 1) for i, b in enumerate(branches)]
    writer.write(b"".join(requests))
    responses = await read_responses(reader, 3)
    assert [r.status_code for r in responses] == [200, 200, 200]
    vias = [r.headers.get_first("via") or "" for r in responses]
    assert all(b in via for via, b in zip(vias, branches, strict=True))
    writer.close()


async def test_a_stream_message_without_content_length_gets_400_and_the_connection_closes(
    server: SipServer,
) -> None:
    reader, writer = await asyncio.open_connection(*server.address)
    ok = sip_request("OPTIONS", branch="z9hG4bK-ok")
    writer.write(ok + sip_request("OPTIONS", branch="z9hG4bK-nocl").replace(b"Content-Length: 0\r\n", b""))
    first, second = await read_responses(reader, 2)
    assert (first.status_code, second.status_code) == (200, 400)
    assert "z9hG4bK-nocl" in (second.headers.get_first("via") or "")
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # closed by the engine, cleanly (EOF, not a reset)
    writer.close()
    assert server.tracked_transactions <= 1  # the OPTIONS transaction; nothing for the unframed one


async def test_many_connections_at_once_each_with_a_split_request(server: SipServer) -> None:
    async def one(i: int) -> int:
        reader, writer = await asyncio.open_connection(*server.address)
        request = sip_request("OPTIONS", call_id=f"many-{i}", branch=f"z9hG4bK-m{i}")
        message = reorder(request, compact=i % 2 == 0)
        writer.write(message[:17])
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(message[17:])
        (response,) = await read_responses(reader, 1)
        writer.close()
        return response.status_code

    statuses = await asyncio.gather(*(one(i) for i in range(100)))
    assert statuses == [200] * 100


# --- streams that owe a message --------------------------------------------------------------

STREAM_TIMEOUT = 0.3  #: seconds, for these tests (32 s in the engine: 64*T1)


async def limited(limits: StreamLimits, handler: RecordingHandler | None = None) -> SipServer:
    sip = SipServer(handler or RecordingHandler(), host="127.0.0.1", port=free_port(socket.SOCK_STREAM),
                    max_calls=5, trusted=["127.0.0.0/8"], streams=limits)
    await sip.start()
    return sip


@pytest.fixture
async def impatient() -> AsyncIterator[SipServer]:
    sip = await limited(StreamLimits(message_timeout=STREAM_TIMEOUT))
    yield sip
    await sip.stop()


async def closed_by_engine(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(10):  # a bound for a broken engine, not a measurement
        return await reader.read()


async def test_a_message_whose_body_never_comes_is_closed_unanswered(impatient: SipServer) -> None:
    """RFC 4475 ``clerr`` over TCP: the rest may still come (§18.3), but not for ever."""
    reader, writer = await asyncio.open_connection(*impatient.address)
    invite = sip_request("INVITE", body=OFFER_SDP)
    writer.write(invite[: len(invite) - 20])
    assert await closed_by_engine(reader) == b""  # EOF, and no response was sent
    writer.close()
    assert impatient.active_calls == 0 and impatient.tracked_transactions == 0


async def test_a_connection_that_never_sends_a_message_is_closed(impatient: SipServer) -> None:
    reader, writer = await asyncio.open_connection(*impatient.address)
    writer.write(b"\r\n\r\n")  # keep-alives (RFC 5626) are not a message
    assert await closed_by_engine(reader) == b""
    writer.close()


async def test_a_quiet_stream_after_a_whole_message_stays_open(impatient: SipServer) -> None:
    reader, writer = await asyncio.open_connection(*impatient.address)
    writer.write(sip_request("OPTIONS", branch="z9hG4bK-q1"))
    assert [r.status_code for r in await read_responses(reader, 1)] == [200]
    await asyncio.sleep(STREAM_TIMEOUT * 3)  # a caller's connection idles through its call
    writer.write(sip_request("OPTIONS", branch="z9hG4bK-q2"))
    assert [r.status_code for r in await read_responses(reader, 1)] == [200]
    writer.close()


async def test_a_slow_dribble_of_one_message_is_closed_however_steady(impatient: SipServer) -> None:
    """Slowloris: bytes keep coming, but the message they make is owed from its first byte."""
    reader, writer = await asyncio.open_connection(*impatient.address)
    invite = sip_request("INVITE", body=OFFER_SDP)
    async with asyncio.timeout(10):
        for i in range(len(invite) - 1):
            writer.write(invite[i : i + 1])
            await asyncio.sleep(STREAM_TIMEOUT / 4)
            if reader.at_eof():
                break
        assert await closed_by_engine(reader) == b""
    writer.close()
    assert impatient.active_calls == 0


# --- idle streams and the connection cap ----------------------------------------------------

IDLE_TIMEOUT = 0.3  #: seconds, for these tests (120 s in the engine, as Kamailio)


async def test_a_stream_quiet_after_whole_messages_is_closed_after_the_idle_timeout() -> None:
    sip = await limited(StreamLimits())
    reader, writer = await asyncio.open_connection(*sip.address)
    writer.write(sip_request("OPTIONS", branch="z9hG4bK-i1"))
    assert [r.status_code for r in await read_responses(reader, 1)] == [200]
    sip.update_streams(StreamLimits(idle_timeout=IDLE_TIMEOUT))  # a reload: for open streams too
    assert await closed_by_engine(reader) == b""  # was: open for ever, one fd per connection
    writer.close()
    await sip.stop()


async def test_a_stream_that_carries_a_live_call_is_kept_however_quiet_then_closed_after_it() -> None:
    sip = await limited(StreamLimits(idle_timeout=IDLE_TIMEOUT), RecordingHandler(auto_answer=ANSWER_SDP))
    reader, writer = await asyncio.open_connection(*sip.address)
    writer.write(sip_request("INVITE", body=OFFER_SDP, headers=[("Content-Type", "application/sdp")]))
    ok = (await read_responses(reader, 1))[-1]
    if ok.status_code == 100:
        ok = (await read_responses(reader, 1))[-1]
    assert ok.status_code == 200
    to_tag = (ok.headers.get_first("to") or "").split("tag=")[1]
    writer.write(sip_request("ACK", branch="z9hG4bK-ack", to_tag=to_tag))
    await asyncio.sleep(IDLE_TIMEOUT * 4)  # the call is quiet, its connection must stay
    assert sip.active_calls == 1
    writer.write(sip_request("BYE", branch="z9hG4bK-bye", cseq=2, to_tag=to_tag))
    assert [r.status_code for r in await read_responses(reader, 1)] == [200]
    assert await closed_by_engine(reader) == b""  # no call on it any more: idle, closed
    writer.close()
    await sip.stop()


async def test_connections_beyond_the_cap_are_refused_and_a_slot_comes_back_when_one_closes() -> None:
    sip = await limited(StreamLimits(max_connections=3))
    held = [await asyncio.open_connection(*sip.address) for _ in range(3)]
    for i, (reader, writer) in enumerate(held):  # each is really accepted and served
        writer.write(sip_request("OPTIONS", branch=f"z9hG4bK-c{i}"))
        assert [r.status_code for r in await read_responses(reader, 1)] == [200]
    reader, writer = await asyncio.open_connection(*sip.address)
    with contextlib.suppress(ConnectionResetError):
        assert await closed_by_engine(reader) == b""  # the fourth: closed at once, unread
    writer.close()
    held[0][1].close()
    async with asyncio.timeout(10):
        while len(sip._transports.tcp) > 2:  # noqa: ASYNC110 - the engine signals nothing: poll
            await asyncio.sleep(0.01)
    reader, writer = await asyncio.open_connection(*sip.address)
    writer.write(sip_request("OPTIONS", branch="z9hG4bK-again"))
    assert [r.status_code for r in await read_responses(reader, 1)] == [200]
    for _, w in [*held[1:], (reader, writer)]:
        w.close()
    await sip.stop()


async def test_one_source_cannot_take_every_connection_slot() -> None:
    """``max_per_source``: a host at its limit is refused (logged once), another host is still
    served, and the host gets a slot again once one of its connections closes."""
    sip = await limited(StreamLimits(max_connections=6, max_per_source=3))

    async def served(source: str, branch: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(*sip.address, local_addr=(source, 0))
        writer.write(sip_request("OPTIONS", branch=branch))
        assert [r.status_code for r in await read_responses(reader, 1)] == [200]
        return reader, writer

    hog = [await served("127.0.0.2", f"z9hG4bK-h{i}") for i in range(3)]
    with capture_logs() as logs:
        refused = [await asyncio.open_connection(*sip.address, local_addr=("127.0.0.2", 0)) for _ in range(2)]
        for reader, _ in refused:
            with contextlib.suppress(ConnectionResetError):
                assert await closed_by_engine(reader) == b""  # closed at once, unread
    assert [(e["event"], e.get("max_per_source")) for e in logs if e["event"].startswith("sip.stream")] == [
        ("sip.stream_refused", 3)
    ]
    other = await served("127.0.0.3", "z9hG4bK-o")  # 4 of 6 slots taken: another host gets one
    hog[0][1].close()
    async with asyncio.timeout(10):
        while len(sip._transports.tcp) > 3:  # noqa: ASYNC110 - the engine signals nothing: poll
            await asyncio.sleep(0.01)
    again = await served("127.0.0.2", "z9hG4bK-again")  # its slot came back
    for _, writer in [*hog[1:], *refused, other, again]:
        writer.close()
    await sip.stop()


class _Wire(asyncio.Transport):
    """The registry's view of one accepted socket: its peer, and whether it was aborted. (Two
    live connections with one four-tuple cannot be made on loopback: the second is what a peer
    that rebooted without a FIN opens, while the first still looks open here.)"""

    def __init__(self, peer: tuple[str, int]) -> None:
        super().__init__()
        self.peer, self.aborted = peer, False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.peer if name == "peername" else default

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


async def test_a_peer_reconnecting_from_the_same_port_replaces_its_dead_connection() -> None:
    """A phone bound to port 5060 reboots (no FIN) and connects again from the same address and
    port: the old connection is aborted (no timeout could reach it once replaced: its fd for
    ever), and the per-source count stays exact, so the phone is not refused by its own ghost."""
    transports = Transports(limits=StreamLimits(max_per_source=2))

    def connect(port: int) -> tuple[TcpConnection, _Wire]:
        conn = TcpConnection(lambda *a: None, lambda *a: None, transports)
        wire = _Wire(("10.0.0.9", port))
        conn.connection_made(wire)
        return conn, wire

    old, old_wire = connect(5060)
    new, new_wire = connect(5060)  # rebooted: the same four-tuple again
    assert old_wire.aborted and not new_wire.aborted and transports.tcp == {("10.0.0.9", 5060): new}
    old.connection_lost(None)  # the ghost's end, whenever it comes, frees nothing twice
    other, other_wire = connect(40000)  # the phone's second connection: 2 of 2, accepted
    assert not other_wire.aborted
    for conn in (new, other):
        conn.connection_lost(None)
    assert transports.tcp == {} and transports._per_source == {}


async def test_a_header_block_that_never_ends_is_cut_off_at_its_limit_not_after_the_timeout() -> None:
    """A message that grows without end (no empty line, ever): closed once past 64 KiB, long
    before the 32 s an unfinished message may take; nothing buffered beyond the limit."""
    sip = await limited(StreamLimits())  # the engine's own 32 s message timeout
    reader, writer = await asyncio.open_connection(*sip.address)
    writer.write(b"OPTIONS sip:ivr@127.0.0.1 SIP/2.0\r\n")
    with contextlib.suppress(ConnectionResetError):
        for i in range(100):  # 100 x 1 KiB header lines
            writer.write(f"X-Grow-{i}: {'y' * 1000}\r\n".encode())
            await writer.drain()
        assert await closed_by_engine(reader) == b""
    writer.close()
    assert sip.tracked_transactions == 0
    await sip.stop()


#: 200 long Via headers: each answer echoes them (§8.2.6.2), so a few hundred fill the kernel's buffers
HOPS = [("Via", f"SIP/2.0/TCP 10.0.0.{i}:5060;branch=z9hG4bK-{i:0100d}") for i in range(200)]


async def test_a_peer_that_does_not_read_its_answers_is_not_read_either_until_it_does() -> None:
    """Pipelined requests from a peer that never reads: their answers must not pile up in memory."""
    sip = await limited(StreamLimits())
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
    sock.connect(sip.address)
    reader, writer = await asyncio.open_connection(sock=sock)
    count = 300  # 6.7 MB of answers: more than the kernel buffers of both ends hold
    writer.write(b"".join(sip_request("OPTIONS", branch=f"z9hG4bK-r{i}", headers=HOPS) for i in range(count)))
    async with asyncio.timeout(10):
        while not sip._transports.tcp:  # noqa: ASYNC110 - the engine signals nothing: poll it
            await asyncio.sleep(0.01)
        (conn,) = sip._transports.tcp.values()
        while conn.transport is not None and conn.transport.is_reading():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert conn.transport is not None and conn.transport.get_write_buffer_size() < 1024 * 1024
    framer, answers = StreamFramer(), []
    async with asyncio.timeout(30):  # now read: the engine reads on and answers every one
        while len(answers) < count:
            data = await reader.read(1 << 20)
            assert data, f"closed after {len(answers)} answers"
            answers += framer.feed(data)
    assert {a.split(b"\r\n", 1)[0] for a in answers} == {b"SIP/2.0 200 OK"}
    writer.close()
    await sip.stop()


async def test_at_the_cap_a_trusted_peer_takes_the_place_of_an_untrusted_one() -> None:
    """Strangers (who only ever get 403) holding every slot must not lock the engine's proxy out."""
    sip = SipServer(RecordingHandler(), host="127.0.0.1", port=free_port(socket.SOCK_STREAM), max_calls=5,
                    trusted=["127.0.0.1/32"], streams=StreamLimits(max_connections=2))
    await sip.start()
    strangers = [await asyncio.open_connection(*sip.address, local_addr=("127.0.0.2", 0)) for _ in range(2)]
    for i, (reader, writer) in enumerate(strangers):
        writer.write(sip_request("OPTIONS", branch=f"z9hG4bK-s{i}"))
        assert [r.status_code for r in await read_responses(reader, 1)] == [403]
    reader, writer = await asyncio.open_connection(*sip.address)  # from 127.0.0.1: trusted
    writer.write(sip_request("OPTIONS", branch="z9hG4bK-t"))
    assert [r.status_code for r in await read_responses(reader, 1)] == [200]
    with contextlib.suppress(ConnectionResetError):
        assert await closed_by_engine(strangers[0][0]) == b""  # the one quiet the longest
    late_reader, late_writer = await asyncio.open_connection(*sip.address, local_addr=("127.0.0.2", 0))
    with contextlib.suppress(ConnectionResetError):
        assert await closed_by_engine(late_reader) == b""  # a stranger at the cap: refused
    for w in (strangers[1][1], writer, late_writer):
        w.close()
    await sip.stop()


async def test_a_stream_closed_on_a_peer_that_never_reads_is_cut_off_not_held_for_ever() -> None:
    """asyncio's close() waits until what we wrote is flushed: never, if the peer never reads."""
    sip = await limited(StreamLimits(idle_timeout=STREAM_TIMEOUT, message_timeout=STREAM_TIMEOUT))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(sip.address)
    _, writer = await asyncio.open_connection(sock=sock)
    writer.write(b"".join(sip_request("OPTIONS", branch=f"z9hG4bK-n{i}", headers=HOPS) for i in range(300)))
    async with asyncio.timeout(10):  # a bound for a broken engine, not a measurement
        while not sip._transports.tcp:  # noqa: ASYNC110 - the engine signals nothing: poll it
            await asyncio.sleep(0.01)
        while sip._transports.tcp:  # noqa: ASYNC110 - closed (unflushed), then aborted: gone
            await asyncio.sleep(0.01)
    writer.transport.abort()
    await sip.stop()


async def test_every_way_a_connection_closes_gives_its_slot_back() -> None:
    """At the cap, connections that end by a reset, an EOF, a half-close (the answer still comes)
    and a framing error (400, closed by us) all free their slot: four new ones are served."""
    sip = await limited(StreamLimits(max_connections=4))
    held = [await asyncio.open_connection(*sip.address) for _ in range(4)]
    for i, (reader, writer) in enumerate(held[:3]):
        writer.write(sip_request("OPTIONS", branch=f"z9hG4bK-w{i}"))
        assert [r.status_code for r in await read_responses(reader, 1)] == [200]
    held[0][1].transport.abort()  # reset
    held[1][1].close()  # EOF
    held[2][1].write_eof()  # half-close: nothing more from us, we still read
    held[3][1].write(sip_request("OPTIONS").replace(b"Content-Length: 0\r\n", b""))  # unframed
    assert [r.status_code for r in await read_responses(held[3][0], 1)] == [400]
    for reader, _ in held[2:]:
        assert await closed_by_engine(reader) == b""
    async with asyncio.timeout(10):
        while sip._transports.tcp:  # noqa: ASYNC110 - the engine signals nothing: poll it
            await asyncio.sleep(0.01)
    again = [await asyncio.open_connection(*sip.address) for _ in range(4)]
    for i, (reader, writer) in enumerate(again):
        writer.write(sip_request("OPTIONS", branch=f"z9hG4bK-a{i}"))
        assert [r.status_code for r in await read_responses(reader, 1)] == [200]
    for _, writer in [*held[2:], *again]:
        writer.close()
    await sip.stop()
