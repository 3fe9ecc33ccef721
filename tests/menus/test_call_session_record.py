"""The call glue's side of ``record`` and ``voicemail`` steps (CallSession on a FakeLoop; the
store's work and the file writes on the real loop's worker threads): the caller's frames reach the
recorder, speech holds the silence timer, and a caller who hangs up mid-message keeps it."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from call_fakes import FakeMedia, make_call

from tui_engine.core import CallLimits
from tui_engine.media.codecs import pcm16_to_ulaw, samples_to_pcm16
from tui_engine.media.recorder import RecordingSlots
from tui_engine.menus import MenuDefaults, Phase, load_dialplans
from tui_engine.menus.record import KEY_TRIM
from tui_engine.testing import FakeLoop
from tui_engine.tui.call import CallSession
from tui_engine.voicemail import Voicemail

BUNDLED = Path(__file__).resolve().parents[2] / "tui_engine" / "dialplans"
TONE = [int(9000 * math.sin(2 * math.pi * 500 * i / 8000)) for i in range(160)]
VOICE = pcm16_to_ulaw(samples_to_pcm16(TONE))  # one 20 ms frame of loud speech
SILENT = b"\xff" * 160


async def until(condition: Callable[[], bool]) -> None:
    """Let the worker threads (store, file writes) finish: real time, at most 5 s."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never met")


async def into_recording(
    session: CallSession, loop: FakeLoop, media: FakeMedia, *, start: bool = True
) -> None:
    if start:
        session.start()
    for key in "7#":
        assert media.on_digit is not None
        media.on_digit(key, "info")
    await until(lambda: session.runner.phase is Phase.PLAYING)  # the default greeting
    while session.runner.phase is not Phase.RECORDING:
        next_when = loop.next_when()
        assert next_when is not None
        loop.advance_to(next_when)


def frames(loop: FakeLoop, media: FakeMedia, payload: bytes, seconds: float) -> None:
    """The caller's RTP for ``seconds`` (while the recorder runs), the loop's timers meanwhile."""
    for _ in range(round(seconds / 0.02)):
        if media.recorder is not None:
            media.recorder.feed(payload, loop.time())
        loop.advance(0.02)


async def test_a_caller_who_hangs_up_mid_message_keeps_it(tmp_path: Path) -> None:
    vm = Voicemail(tmp_path)
    session, loop, media, _, _ = make_call(load_dialplans(BUNDLED)["leave-message"], MenuDefaults(), vm)
    await into_recording(session, loop, media)
    frames(loop, media, VOICE, 2.0)
    frames(loop, media, SILENT, 1.0)
    assert session.runner.phase is Phase.RECORDING  # speech moved the 5 s silence timer on
    session.end()  # the caller's BYE
    await until(lambda: bool(vm.store.messages("7")))
    [message] = vm.store.messages("7")
    assert message.caller == "alice" and message.length == 3.0


def _hang_up(session: CallSession) -> None:
    session.end()  # the caller's BYE


def _info_hash(session: CallSession) -> None:
    assert session.info_digit("application/dtmf-relay", b"Signal=#\r\nDuration=160\r\n") == 200


@pytest.mark.parametrize(
    ("end", "kept"),
    [(_hang_up, 2.1), (_info_hash, round(2.1 - KEY_TRIM, 2))],  # an end key: less the key's own tail
    ids=["bye", "info-hash"],
)
async def test_what_waits_in_the_socket_when_a_message_ends_belongs_to_it(
    tmp_path: Path, end: Callable[[CallSession], None], kept: float
) -> None:
    """RTP is read in batches (media.poller, every 10 ms): when the BYE or an INFO "#" (both on
    the SIP socket, read at once) is handled, the last frames the caller sent before it may
    still wait in the media socket. They belong to the message."""
    vm = Voicemail(tmp_path)
    session, loop, media, _, _ = make_call(load_dialplans(BUNDLED)["leave-message"], MenuDefaults(), vm)
    await into_recording(session, loop, media)
    frames(loop, media, VOICE, 2.0)
    media.waiting_frames = [VOICE] * 5  # 100 ms sent before the BYE or INFO, not read yet
    end(session)
    await until(lambda: bool(vm.store.messages("7")))
    [message] = vm.store.messages("7")
    assert message.length == kept


async def test_silence_after_speech_ends_the_recording_and_the_call_goes_on(tmp_path: Path) -> None:
    vm = Voicemail(tmp_path)
    session, loop, media, call, _ = make_call(load_dialplans(BUNDLED)["leave-message"], MenuDefaults(), vm)
    await into_recording(session, loop, media)
    frames(loop, media, VOICE, 1.0)
    frames(loop, media, SILENT, 5.0)
    assert session.runner.phase is Phase.SAVING and media.recorder is None
    await until(lambda: session.runner.phase is Phase.PLAYING)  # "your message is saved"
    [message] = vm.store.messages("7")
    assert 1.0 < message.length < 2.0  # the silence trimmed to 0.6 s after the last speech
    loop.advance(10)
    assert call.hangups and session.info.end_reason == "completed"


async def test_a_caller_beyond_the_engines_recordings_hears_not_saved_and_gets_the_slot_later(
    tmp_path: Path,
) -> None:
    vm, slots = Voicemail(tmp_path), RecordingSlots(1)
    plan = load_dialplans(BUNDLED)["leave-message"]
    first, loop1, media1, _, _ = make_call(plan, MenuDefaults(), vm, recording_slots=slots)
    await into_recording(first, loop1, media1)
    second, loop2, media2, call2, _ = make_call(plan, MenuDefaults(), vm, recording_slots=slots)
    second.start()
    for key in "7#":
        media2.on_digit(key, "info")
    await until(lambda: second.runner.phase is Phase.PLAYING)  # the greeting, then the tone
    for _ in range(10):
        if media2.played[-1][1] == ["not-saved.wav"]:
            break
        loop2.advance_to(loop2.next_when() or loop2.time())
    assert media2.played[-1][1] == ["not-saved.wav"] and media2.recorder is None  # the call goes on
    assert not call2.hangups and slots.in_use == 1
    frames(loop1, media1, VOICE, 1.0)
    media1.on_digit("#", "info")
    await until(lambda: slots.in_use == 0)  # back once the first message is written
    assert len(vm.store.messages("7")) == 1
    loop2.advance(5)  # "not saved" ends: the mailbox number again
    await into_recording(second, loop2, media2, start=False)
    assert media2.recorder is not None and slots.in_use == 1
    second.end()
    await until(lambda: slots.in_use == 0)  # hung up before speaking: nothing written, slot back


async def test_a_recording_ended_by_a_full_disk_or_by_a_guard_gives_its_slot_back(tmp_path: Path) -> None:
    """The cap comes back on the hostile ends of a recording too: the write fails (here the
    mailbox's folder cannot be made), or max-call-duration ends the call while the caller speaks."""
    slots, plan = RecordingSlots(1), load_dialplans(BUNDLED)["leave-message"]
    (tmp_path / "voicemail").mkdir()
    (tmp_path / "voicemail" / "7").write_text("not a folder")  # every deposit in mailbox 7 fails
    broken, loop, media, call, _ = make_call(plan, MenuDefaults(), Voicemail(tmp_path), recording_slots=slots)
    await into_recording(broken, loop, media)
    frames(loop, media, VOICE, 1.0)
    media.on_digit("#", "info")
    await until(lambda: slots.in_use == 0 and broken.runner.phase is Phase.PLAYING)
    assert not call.hangups  # the write failed: on-failed runs, the call goes on
    guarded = MenuDefaults(limits=CallLimits(max_call_duration=30.0))
    vm = Voicemail(tmp_path / "ok")
    cut, loop, media, call, _ = make_call(plan, guarded, vm, recording_slots=slots)
    await into_recording(cut, loop, media)
    assert slots.in_use == 1
    frames(loop, media, VOICE, 40.0)  # speaks on past the call's limit
    assert call.hangups and media.recorder is None
    await until(lambda: slots.in_use == 0)
    assert len(vm.store.messages("7")) == 1  # what was said is kept (interrupted, not dropped)
