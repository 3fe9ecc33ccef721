"""MediaEngine/MediaSession over loopback: a real UDP socket plays the phone (no mocks)."""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from aiortp.packet import RtpPacket
from media_helpers import (
    PCAP_DIR,
    Capture,
    dtmf_tone,
    make_wav,
    offer,
    open_capture,
    read_pcap_rtp,
    wait_until,
)

from tui_engine.media import codecs, sdp
from tui_engine.media import engine as media_engine
from tui_engine.media.engine import MediaEngine
from tui_engine.media.errors import DtmfError, NoCommonCodec, PortsExhausted
from tui_engine.media.prompts import Prompt
from tui_engine.media.session import MediaSession
from tui_engine.obs.context import call_context
from tui_engine.testing import free_port_block


@pytest.fixture
def prompt(tmp_path: Path, engine: MediaEngine) -> Prompt:
    return engine.prompts.load(make_wav(tmp_path / "hello.wav", rate=8000, encoding="u-law", seconds=0.3))


async def _play(session: MediaSession, prompts: list[Prompt]) -> bool:
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    session.play(prompts, done.set_result)
    return await asyncio.wait_for(done, 10)


async def _packets(phone: Capture, count: int) -> list[RtpPacket]:
    """Wait until ``count`` packets have arrived (a safety timeout, not a timing assertion)."""
    async with asyncio.timeout(10):
        while len(phone.packets) < count:
            assert phone.arrived is not None
            phone.arrived.clear()
            await phone.arrived.wait()
    return phone.packets


async def _a_few_ticks() -> None:
    """Room for frames that must NOT be sent to show up if they were."""
    await asyncio.sleep(0.1)


def _assert_one_talkspurt(packets: list[RtpPacket], pt: int) -> None:
    """RFC 3550/3551 headers: one SSRC, consecutive sequence numbers, marker on the first only,
    timestamps 160 apart (more, in whole frames, only where the loop stalled past the burst)."""
    first = packets[0]
    assert [p.marker for p in packets] == [1] + [0] * (len(packets) - 1)
    assert {p.ssrc for p in packets} == {first.ssrc}
    assert {p.payload_type for p in packets} == {pt}
    for i, p in enumerate(packets):
        assert p.sequence_number == (first.sequence_number + i) & 0xFFFF
        assert len(p.payload) == 160
    steps = [(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(packets)]
    assert all(step >= 160 and step % 160 == 0 for step in steps)


@pytest.mark.parametrize(("formats", "codec", "pt"), [("0 8 101", "PCMU", 0), ("8 0 101", "PCMA", 8)])
async def test_a_prompt_is_sent_frame_by_frame(
    engine: MediaEngine, phone: Capture, prompt: Prompt, formats: str, codec: str, pt: int
) -> None:
    session = await engine.open_session(offer(phone.port, formats), call_id="c1")
    assert (session.codec, session.telephone_event_pt) == (codec, 101)
    assert f"m=audio {session.port} RTP/AVP {pt} 101" in session.answer_sdp
    assert session.port % 2 == 0 and engine.ports.first <= session.port <= engine.ports.last
    assert await _play(session, [prompt]) is True
    packets = await _packets(phone, 15)
    assert len(packets) == 15 == round(prompt.duration / 0.02)
    _assert_one_talkspurt(packets, pt)
    assert [p.payload for p in packets] == list(prompt.payloads(codec))
    assert not session.playing
    await _a_few_ticks()
    assert len(phone.packets) == 15  # nothing while silent
    assert not engine.clock.running  # and no timer either


async def test_nothing_is_sent_and_no_timer_runs_for_a_silent_call(
    engine: MediaEngine, phone: Capture
) -> None:
    await engine.open_session(offer(phone.port), call_id="quiet")
    assert not engine.clock.running
    await _a_few_ticks()
    assert phone.packets == []


async def test_prompts_back_to_back_are_one_talkspurt_and_a_later_one_starts_another(
    engine: MediaEngine, phone: Capture, prompt: Prompt
) -> None:
    session = await engine.open_session(offer(phone.port), call_id="c2")
    assert await _play(session, [prompt, prompt]) is True
    packets = list(await _packets(phone, 30))
    _assert_one_talkspurt(packets, 0)
    await _a_few_ticks()
    assert await _play(session, [prompt]) is True
    second = (await _packets(phone, 45))[30:]
    _assert_one_talkspurt(second, 0)
    assert second[0].sequence_number == (packets[-1].sequence_number + 1) & 0xFFFF
    gap = (second[0].timestamp - packets[-1].timestamp) & 0xFFFFFFFF
    # The silence advanced the RTP clock too, by the samples elapsed (a new talkspurt may start on
    # another 1 ms phase of the media clock, so not necessarily whole frames).
    assert gap >= 160 * 5


async def test_playing_from_on_done_continues_without_a_gap(
    engine: MediaEngine, phone: Capture, prompt: Prompt
) -> None:
    session = await engine.open_session(offer(phone.port), call_id="chain")
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    session.play([prompt], lambda _ok: session.play([prompt], done.set_result))
    assert await asyncio.wait_for(done, 10) is True
    _assert_one_talkspurt(await _packets(phone, 30), 0)


async def test_stop_playback_is_barge_in(engine: MediaEngine, phone: Capture, prompt: Prompt) -> None:
    session = await engine.open_session(offer(phone.port), call_id="c3")
    results: list[bool] = []
    session.play([prompt, prompt, prompt], results.append)
    await _packets(phone, 3)
    session.stop_playback()
    assert results == [False]
    assert not session.playing and not engine.clock.running
    sent = session.packets_sent
    await _a_few_ticks()
    assert session.packets_sent == sent < 45
    assert len(await _packets(phone, sent)) == sent
    session.stop_playback()
    assert results == [False]  # never twice


async def test_play_replaces_a_running_playback(engine: MediaEngine, phone: Capture, prompt: Prompt) -> None:
    session = await engine.open_session(offer(phone.port), call_id="c4")
    first: list[bool] = []
    session.play([prompt], first.append)
    assert await _play(session, [prompt]) is True
    assert first == [False]


async def test_send_silence_keeps_packets_flowing(phone: Capture, tmp_path: Path) -> None:
    first, last = free_port_block(10)
    engine = MediaEngine(host="127.0.0.1", port_range=(first, last), send_silence=True)
    try:
        session = await engine.open_session(offer(phone.port), call_id="cn")
        packets = await _packets(phone, 5)
        assert all(p.payload == b"\xff" * 160 for p in packets[:5])
        prompt = engine.prompts.load(make_wav(tmp_path / "p.wav", rate=8000, encoding="u-law", seconds=0.1))
        assert await _play(session, [prompt]) is True
        packets = await _packets(phone, len(phone.packets) + 3)
        _assert_one_talkspurt(packets, 0)  # silence and prompt are one continuous stream
        assert any(p.payload == prompt.payloads("PCMU")[0] for p in packets)
        session.close()
        assert not engine.clock.running
    finally:
        await engine.close()


async def test_symmetric_rtp_sends_to_where_packets_come_from(
    engine: MediaEngine, phone: Capture, prompt: Prompt
) -> None:
    elsewhere = await open_capture()  # the SDP names this one; media really comes from ``phone``
    try:
        session = await engine.open_session(offer(elsewhere.port), call_id="nat")
        hello = RtpPacket(payload_type=0, sequence_number=1, timestamp=1, ssrc=9, payload=b"\xff" * 160)
        phone.send(hello.serialize(), ("127.0.0.1", session.port))
        await wait_until(lambda: session.packets_received > 0)
        assert await _play(session, [prompt]) is True
        assert len(await _packets(phone, 15)) == 15
        assert elsewhere.packets == []
    finally:
        assert elsewhere.transport is not None
        elsewhere.transport.close()


async def _digits(session: MediaSession, phone: Capture, datagrams: list[bytes]) -> list[tuple[str, str]]:
    digits: list[tuple[str, str]] = []
    session.on_digit = lambda digit, method: digits.append((digit, method))
    for data in datagrams:
        phone.send(data, ("127.0.0.1", session.port))
    await wait_until(lambda: session.packets_received >= len(datagrams))
    return digits


async def test_rfc4733_digits_from_the_sipp_pcap(engine: MediaEngine, phone: Capture) -> None:
    session = await engine.open_session(offer(phone.port), call_id="dtmf")
    packets = read_pcap_rtp(PCAP_DIR / "dtmf_2833_1.pcap")
    digits = await _digits(session, phone, [p.serialize() for p in packets])
    assert digits == [("1", "rfc4733")]


async def test_rfc4733_digit_without_end_packets(engine: MediaEngine, phone: Capture) -> None:
    session = await engine.open_session(offer(phone.port), call_id="lossy")
    packets = read_pcap_rtp(PCAP_DIR / "dtmf_2833_pound.pcap")[:-3]
    assert await _digits(session, phone, [p.serialize() for p in packets]) == [("#", "rfc4733")]


async def test_rfc4733_uses_the_offered_payload_type(engine: MediaEngine, phone: Capture) -> None:
    session = await engine.open_session(offer(phone.port, "0 96", te_pt=96), call_id="pt96")
    assert session.telephone_event_pt == 96
    datagrams = []
    for p in read_pcap_rtp(PCAP_DIR / "dtmf_2833_star.pcap"):
        p.payload_type = 96
        datagrams.append(p.serialize())
    assert await _digits(session, phone, datagrams) == [("*", "rfc4733")]


async def test_inband_digits_only_when_enabled(engine: MediaEngine, phone: Capture) -> None:
    session = await engine.open_session(offer(phone.port), call_id="inband")
    audio = codecs.pcm16_to_ulaw(codecs.samples_to_pcm16([0] * 480 + dtmf_tone("5", 100) + [0] * 480))
    frames = [audio[i : i + 160] for i in range(0, len(audio) - 159, 160)]

    def datagrams(first_seq: int) -> list[bytes]:
        return [
            RtpPacket(
                payload_type=0, sequence_number=first_seq + i, timestamp=160 * i, ssrc=5, payload=f
            ).serialize()
            for i, f in enumerate(frames)
        ]

    assert await _digits(session, phone, datagrams(0)) == []
    session.enable_inband(True)
    received = session.packets_received
    digits: list[tuple[str, str]] = []
    session.on_digit = lambda d, m: digits.append((d, m))
    for data in datagrams(100):
        phone.send(data, ("127.0.0.1", session.port))
    await wait_until(lambda: session.packets_received >= received + len(frames))
    assert digits == [("5", "inband")]


async def test_info_digits(engine: MediaEngine, phone: Capture) -> None:
    session = await engine.open_session(offer(phone.port), call_id="info")
    digits: list[tuple[str, str]] = []
    session.on_digit = lambda d, m: digits.append((d, m))
    assert session.info_digit("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n") == "5"
    with pytest.raises(DtmfError):
        session.info_digit("application/dtmf-relay", b"nonsense")
    assert digits == [("5", "info")]


async def test_hold_stops_sending_and_resume_starts_a_new_talkspurt(
    engine: MediaEngine, phone: Capture, tmp_path: Path
) -> None:
    long_prompt = engine.prompts.load(
        make_wav(tmp_path / "long.wav", rate=8000, encoding="u-law", seconds=0.6)
    )
    session = await engine.open_session(offer(phone.port), call_id="hold")
    first_answer = session.answer_sdp
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    session.play([long_prompt], done.set_result)
    await _packets(phone, 3)
    answer = session.reoffer(offer(phone.port, direction="sendonly"))
    assert "a=recvonly" in answer and f"m=audio {session.port} " in answer
    assert answer.split("\r\n")[1].split()[2] == "1"  # o= version went up (RFC 3264 §8)
    assert first_answer.split("\r\n")[1].split()[2] == "0"
    held_at = session.packets_sent
    assert await asyncio.wait_for(done, 10) is True  # the prompt runs its course, unheard
    await _a_few_ticks()
    assert session.packets_sent == held_at
    assert len(await _packets(phone, held_at)) == held_at
    session.reoffer(offer(phone.port))
    assert await _play(session, [long_prompt]) is True
    resumed = (await _packets(phone, held_at + 30))[held_at:]
    _assert_one_talkspurt(resumed, 0)


async def test_reoffer_without_common_codec_changes_nothing(engine: MediaEngine, phone: Capture) -> None:
    session = await engine.open_session(offer(phone.port), call_id="re488")
    with pytest.raises(NoCommonCodec):
        session.reoffer(offer(phone.port, "18"))
    assert session.codec == "PCMU"
    assert session.reoffer(offer(phone.port, "8 101")).count("PCMA/8000") == 1
    assert session.codec == "PCMA"


async def test_close_releases_the_port_without_callbacks(
    engine: MediaEngine, phone: Capture, prompt: Prompt
) -> None:
    session = await engine.open_session(offer(phone.port), call_id="bye")
    results: list[bool] = []
    session.play([prompt], results.append)
    assert engine.active_sessions == 1 and engine.ports.in_use == 1 and engine.clock.running
    session.close()
    session.close()
    assert engine.active_sessions == 0 and engine.ports.in_use == 0
    assert not engine.clock.running
    await _a_few_ticks()
    assert results == []


async def test_no_common_codec_takes_no_port(engine: MediaEngine, phone: Capture) -> None:
    with pytest.raises(NoCommonCodec) as caught:
        await engine.open_session(offer(phone.port, "18 101"), call_id="g729")
    assert caught.value.status == 488
    assert engine.ports.in_use == 0 and engine.active_sessions == 0


def _answer_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: object, **kw: object) -> None:
        raise RuntimeError("injected: the answer could not be built")

    monkeypatch.setattr(sdp.Offer, "answer", fail)


def _session_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(**kw: object) -> None:
        raise MemoryError("injected: no session object")

    monkeypatch.setattr(media_engine, "MediaSession", fail)


@pytest.mark.parametrize("inject", [_answer_fails, _session_fails], ids=["answer", "session"])
async def test_a_failure_after_the_bind_gives_the_socket_and_its_port_back(
    phone: Capture, monkeypatch: pytest.MonkeyPatch, inject: Callable[[pytest.MonkeyPatch], None],
) -> None:
    """Anything that raises once the RTP port is bound (``offer.answer()``, the session object):
    the socket is closed and the port is free again, or that slot never comes back."""
    first, _ = free_port_block(2)
    engine = MediaEngine(host="127.0.0.1", port_range=(first, first + 1))  # one port: one call
    try:
        with monkeypatch.context() as m:
            inject(m)
            with pytest.raises((RuntimeError, MemoryError), match="injected"):
                await engine.open_session(offer(phone.port), call_id="broken")
        assert engine.ports.in_use == 0 and engine.active_sessions == 0
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind(("127.0.0.1", first))  # the engine's socket is closed: the port is free
        finally:
            probe.close()
        session = await engine.open_session(offer(phone.port), call_id="next")  # the slot came back
        assert session.port == first
    finally:
        await engine.close()


async def test_exhausted_ports_are_a_clear_error(phone: Capture) -> None:
    first, _ = free_port_block(2)
    engine = MediaEngine(host="127.0.0.1", port_range=(first, first + 1))
    try:
        await engine.open_session(offer(phone.port), call_id="a")
        with pytest.raises(PortsExhausted, match="in use"):
            await engine.open_session(offer(phone.port), call_id="b")
    finally:
        await engine.close()


async def test_many_calls_share_one_clock(engine: MediaEngine, phone: Capture, prompt: Prompt) -> None:
    sessions = [await engine.open_session(offer(phone.port), call_id=f"m{i}") for i in range(5)]
    results = await asyncio.gather(*(_play(s, [prompt]) for s in sessions))
    assert results == [True] * 5
    packets = await _packets(phone, 75)
    assert len({p.ssrc for p in packets}) == 5
    for ssrc in {p.ssrc for p in packets}:
        _assert_one_talkspurt([p for p in packets if p.ssrc == ssrc], 0)
    assert not engine.clock.running


def test_telephone_event_payload_layout_matches_rfc4733() -> None:
    """Guard for the pcaps: event, E|R|volume, duration (RFC 4733 §2.3)."""
    last = read_pcap_rtp(PCAP_DIR / "dtmf_2833_1.pcap")[-1]
    event, flags, duration = struct.unpack("!BBH", last.payload)
    assert (event, bool(flags & 0x80)) == (1, True) and duration > 0


async def test_a_stalled_loop_sends_a_burst_and_turns_the_rest_into_a_timestamp_gap(
    engine: MediaEngine, phone: Capture, prompt: Prompt
) -> None:
    session = await engine.open_session(offer(phone.port), call_id="stall")
    session.play([prompt], lambda _ok: None)
    engine.clock.remove(session)  # drive it by hand: the clock's view of a 7-period stall
    assert session.on_tick(100.0, 1) is True
    assert session.on_tick(100.0 + 7 * 0.02, 7) is True
    packets = await _packets(phone, 4)
    assert len(packets) == 4  # 1 + a burst of 3; the other 4 periods are not sent
    assert [(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(packets)] == [
        800,
        160,
        160,
    ]
    assert [p.payload for p in packets] == list(prompt.payloads("PCMU")[:4])  # no audio lost
    session.close()


async def test_a_prompt_end_is_told_in_its_own_calls_context(engine: MediaEngine, prompt: Prompt) -> None:
    # Calls that start playing together share one media-clock timer, scheduled from the first
    # call's context; call_id reaches log lines through contextvars, and prompt.finished and
    # what the menu does next run in the on_done callback.
    sessions: dict[str, MediaSession] = {}
    for call_id in ("first", "second"):
        with call_context(call_id):
            opening = engine.open_session(offer(40000), call_id=call_id)
            sessions[call_id] = await asyncio.get_running_loop().create_task(opening)
    seen: list[tuple[str, object]] = []
    done = asyncio.get_running_loop().create_future()

    def on_done(call_id: str) -> Callable[[bool], None]:
        def told(completed: bool) -> None:
            seen.append((call_id, structlog.contextvars.get_contextvars().get("call_id")))
            if len(seen) == len(sessions) and not done.done():
                done.set_result(None)
        return told

    for call_id, session in sessions.items():  # in one loop iteration: one phase of the clock
        with call_context(call_id):
            session.play([prompt], on_done(call_id))
    await asyncio.wait_for(done, 5)
    assert sorted(seen) == [("first", "first"), ("second", "second")]
