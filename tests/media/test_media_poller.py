"""Reading RTP: the loop watches a call's socket until its caller is latched, the poller after.

Real loopback sockets; the poller's timer runs on the test's loop.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from media_helpers import offer, wait_until
from structlog.testing import capture_logs

from tui_engine.media import poller as poller_module
from tui_engine.media.engine import MediaEngine
from tui_engine.media.poller import RtpPoller
from tui_engine.media.rtp import RtpEndpoint, _valid, valid_rtp
from tui_engine.media.session import MediaSession
from tui_engine.obs.context import call_context


def _packet(seq: int, pt: int = 0, payload: bytes = b"\xff" * 160, *, stamp: int | None = None) -> bytes:
    stamp = 160 * seq if stamp is None else stamp
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, stamp, 0x1234) + payload


@pytest.fixture
def caller() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@given(st.binary(max_size=40), st.binary(max_size=40))
def test_a_datagram_in_the_shared_buffer_is_judged_by_its_own_bytes(data: bytes, left_over: bytes) -> None:
    # the buffer still holds the tail of a longer datagram read before this one
    assert _valid(bytearray(data + left_over), len(data)) == valid_rtp(data)


async def test_the_first_packet_latches_then_the_poller_reads_the_socket(
    engine: MediaEngine, caller: socket.socket
) -> None:
    assert engine.poller is not None
    session = await engine.open_session(offer(40000), call_id="poll")
    assert len(engine.poller) == 0  # nothing latched: the loop watches the socket
    caller.sendto(_packet(1), ("127.0.0.1", session.port))
    await wait_until(lambda: session.packets_received == 1)
    assert session._endpoint.remote == caller.getsockname()
    assert len(engine.poller) == 1
    ticks = engine.poller.ticks
    for seq in range(2, 12):
        caller.sendto(_packet(seq), ("127.0.0.1", session.port))
    await wait_until(lambda: session.packets_received == 11)
    assert engine.poller.ticks > ticks  # read by the poller's timer
    session.close()
    assert len(engine.poller) == 0 and engine.poller._handle is None  # no timer left running


async def test_a_digit_read_by_the_poller_is_reported_once(
    engine: MediaEngine, caller: socket.socket
) -> None:
    session = await engine.open_session(offer(40000), call_id="digit")
    digits: list[str] = []
    session.on_digit = lambda digit, method: digits.append(digit)
    caller.sendto(_packet(1), ("127.0.0.1", session.port))
    await wait_until(lambda: session.packets_received == 1)
    event = bytes([5, 0x0A, 0, 160])  # "5", volume 10, duration 160, not ended
    end = bytes([5, 0x8A, 1, 64])
    for seq, payload in ((2, event), (3, end), (4, end), (5, end)):
        # every packet of one event carries the event's start timestamp (RFC 4733 §2.5.1.2)
        caller.sendto(_packet(seq, 101, payload, stamp=320), ("127.0.0.1", session.port))
    await wait_until(lambda: session.packets_received == 5)
    assert digits == ["5"]
    session.close()


async def test_drain_reads_what_waits_without_the_timer(
    engine: MediaEngine, caller: socket.socket
) -> None:
    session = await engine.open_session(offer(40000), call_id="drain")
    caller.sendto(_packet(1), ("127.0.0.1", session.port))
    await wait_until(lambda: session.packets_received == 1)
    digits: list[str] = []
    session.on_digit = lambda digit, method: digits.append(digit)
    caller.sendto(_packet(2, 101, bytes([7, 0x0A, 0, 160])), ("127.0.0.1", session.port))
    await asyncio.to_thread(lambda: None)  # the datagram is in the socket (loopback delivers at once)
    session.drain()
    assert digits == ["7"] and session.packets_received == 2
    session.close()


async def test_a_reinvite_gives_the_socket_back_to_the_loop_until_the_new_source_speaks(
    engine: MediaEngine, caller: socket.socket
) -> None:
    assert engine.poller is not None
    session = await engine.open_session(offer(40000), call_id="moved")
    caller.sendto(_packet(1), ("127.0.0.1", session.port))
    await wait_until(lambda: len(engine.poller or ()) == 1)
    session.reoffer(offer(40010))
    assert len(engine.poller) == 0 and session._endpoint.remote == ("127.0.0.1", 40010)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as moved:
        moved.bind(("127.0.0.1", 0))
        moved.sendto(_packet(2), ("127.0.0.1", session.port))
        await wait_until(lambda: session.packets_received == 2)
        assert session._endpoint.remote == moved.getsockname()  # latched again, on the new source
    assert len(engine.poller) == 1
    session.close()


async def test_a_flooding_caller_does_not_hold_up_the_others(
    engine: MediaEngine, caller: socket.socket
) -> None:
    assert engine.poller is not None
    engine.poller.period = 3600.0  # the test runs the ticks itself
    flood = await engine.open_session(offer(40000), call_id="flood")
    quiet = await engine.open_session(offer(40000), call_id="quiet")
    for session in (flood, quiet):
        caller.sendto(_packet(1), ("127.0.0.1", session.port))
    await wait_until(lambda: len(engine.poller or ()) == 2)
    for seq in range(2, 102):
        caller.sendto(_packet(seq), ("127.0.0.1", flood.port))
    caller.sendto(_packet(2), ("127.0.0.1", quiet.port))
    await asyncio.to_thread(lambda: None)
    engine.poller._tick()
    assert quiet.packets_received == 2
    assert flood.packets_received == 1 + poller_module.ROUNDS  # the rest waits for the next period
    quiet.close()
    flood.close()


async def test_a_late_tick_reads_every_period_it_covers(engine: MediaEngine, caller: socket.socket) -> None:
    # ROUNDS is a share per period: a tick that ran three periods late (a loaded loop) reads
    # four periods' worth, or a caller sending more than ROUNDS a tick falls behind for good
    # (its socket fills, the kernel drops its packets, digits among them).
    assert engine.poller is not None
    engine.poller.period = 3600.0  # the test runs the ticks itself
    session = await engine.open_session(offer(40000), call_id="late")
    caller.sendto(_packet(1), ("127.0.0.1", session.port))
    await wait_until(lambda: len(engine.poller or ()) == 1)
    for seq in range(2, 102):
        caller.sendto(_packet(seq), ("127.0.0.1", session.port))
    await asyncio.to_thread(lambda: None)
    engine.poller._due = asyncio.get_running_loop().time() - 3 * engine.poller.period
    engine.poller._tick()
    assert session.packets_received == 1 + 4 * poller_module.ROUNDS
    engine.poller._tick()  # on time: one period's share
    assert session.packets_received == 1 + 5 * poller_module.ROUNDS
    session.close()


async def test_an_endpoint_that_fails_does_not_stop_the_others(
    engine: MediaEngine, caller: socket.socket
) -> None:
    assert engine.poller is not None
    engine.poller.period = 3600.0
    with call_context("bad"):  # as the SIP layer opens a call's media (tui/component.py)
        bad = await engine.open_session(offer(40000), call_id="bad")
    with call_context("good"):
        good = await engine.open_session(offer(40000), call_id="good")
    for session in (bad, good):
        caller.sendto(_packet(1), ("127.0.0.1", session.port))
    await wait_until(lambda: len(engine.poller or ()) == 2)

    def broken(packet: object) -> None:
        raise RuntimeError("a bug in one call")

    bad._endpoint.on_packet = broken
    bad._endpoint.parse_types = None  # hand it every packet
    for session in (bad, good):
        caller.sendto(_packet(2), ("127.0.0.1", session.port))
    await asyncio.to_thread(lambda: None)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        engine.poller._tick()
    assert good.packets_received == 2
    assert engine.poller._handle is not None  # still ticking
    # the tick runs in no call's context: the failure is logged with the failing call's id
    failed = [e for e in logs if e["event"] == "media.rtp_read_failed"]
    assert [e.get("call_id") for e in failed] == ["bad"] and failed[0]["exc_info"] is True
    bad.close()
    good.close()


async def test_a_packet_read_by_the_poller_is_handled_in_its_own_calls_context(
    engine: MediaEngine, caller: socket.socket
) -> None:
    # call_id is bound with structlog's contextvars (obs/context.py): a digit's log lines
    # (dtmf.received, menu.entered...) carry the call_id of the context the packet is handled in.
    # The poller's one timer was scheduled from the first latched call's context.
    sessions: dict[str, MediaSession] = {}
    seen: list[tuple[str, object]] = []

    async def open_call(call_id: str) -> None:
        session = sessions[call_id] = await engine.open_session(offer(40000), call_id=call_id)
        session.on_digit = lambda digit, method: seen.append(
            (call_id, structlog.contextvars.get_contextvars().get("call_id"))
        )

    for call_id in ("first", "second"):
        with call_context(call_id):  # as the SIP layer opens a call's media (tui/component.py)
            await asyncio.get_running_loop().create_task(open_call(call_id))
    for session in sessions.values():  # latched in turn: the first one's context starts the timer
        caller.sendto(_packet(1), ("127.0.0.1", session.port))
        await wait_until(lambda s=session: s.packets_received == 1)
    assert len(engine.poller or ()) == 2
    for seq, session in enumerate(sessions.values(), start=2):
        caller.sendto(_packet(seq, 101, bytes([5, 0x0A, 0, 160]), stamp=320), ("127.0.0.1", session.port))
        await wait_until(lambda s=session: s.packets_received == 2)
    session = sessions["second"]
    caller.sendto(_packet(9, 101, bytes([6, 0x0A, 0, 160]), stamp=640), ("127.0.0.1", session.port))
    await asyncio.to_thread(lambda: None)
    with call_context("first"):
        session.drain()  # read from inside another call's work: still its own context
    assert seen == [("first", "first"), ("second", "second"), ("second", "second")]
    for session in sessions.values():
        session.close()


async def test_a_send_that_fails_for_good_is_reported_in_its_own_calls_context(engine: MediaEngine) -> None:
    # frames go out from the shared media clock's timer, scheduled from some call's context
    with call_context("lost"):
        opening = engine.open_session(offer(40000), call_id="lost")
        session = await asyncio.get_running_loop().create_task(opening)
    seen: list[object] = []
    session.on_failed = lambda why: seen.append(structlog.contextvars.get_contextvars().get("call_id"))
    session._endpoint.remote = ("255.255.255.255", 9)  # broadcast: EACCES, no retry can cure it
    with call_context("other"):
        session._endpoint.send(b"frame")
    await wait_until(lambda: bool(seen))
    assert seen == ["lost"]  # call.media_failed and the hang-up it starts log this call's id
    session.close()


def test_a_poller_with_nothing_to_read_holds_no_timer() -> None:
    poller = RtpPoller()
    assert len(poller) == 0 and poller._handle is None
    poller.close()


@given(st.binary(max_size=40))
def test_a_datagram_is_counted_exactly_when_it_is_valid_rtp(data: bytes) -> None:
    loop = asyncio.new_event_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        endpoint = RtpEndpoint(sock, loop=loop)
        endpoint.datagram_received(data, ("127.0.0.9", 4000))
        assert endpoint.received == (1 if valid_rtp(data) else 0)
        endpoint.close()
    finally:
        sock.close()
        loop.close()


async def test_a_socket_the_poller_cannot_take_stays_watched_by_the_loop(
    engine: MediaEngine, caller: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """epoll's register can fail (the user's max_user_watches, ENOMEM): the socket was taken from
    the loop first, so nobody read it and the caller's digits came only at the call's deadlines."""
    assert engine.poller is not None

    def full(endpoint: RtpEndpoint) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine.poller, "add", full)
    session = await engine.open_session(offer(40000), call_id="full")
    caller.sendto(_packet(1), ("127.0.0.1", session.port))
    await wait_until(lambda: session.packets_received == 1)
    for seq in range(2, 6):
        caller.sendto(_packet(seq), ("127.0.0.1", session.port))
    await wait_until(lambda: session.packets_received == 5)  # read as they come, by the loop
    session.close()
