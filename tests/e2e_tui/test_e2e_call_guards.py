"""The call-wide guards end real calls over real SIP (SIPp), each with its own reason and event.

Before issue 9 none of them existed: the no-input cycle was the only deadline a call had, so a
caller that kept sending audio (or menus leading to each other) was never cut off.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import StartEngine
from .helpers import assert_sipp_ok, call_ids, place_call, wait_no_calls

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        # welcome + options play 1.8 s, then 1 s of silence would reprompt: the cap comes first
        ({"phone.tui.max-call-duration": "2s"}, "max-call-duration"),
        # 1 s of silence, a reprompt, then 0.5 s more: the budget runs out before attempt 3 ends
        ({"phone.tui.max-silence-total": "1500ms"}, "max-silence-total"),
    ],
)
async def test_a_guard_ends_a_silent_call_with_goodbye_bye_and_its_reason(
    tui: StartEngine, tmp_path: Path, options: dict[str, object], reason: str
) -> None:
    engine = await tui(options)
    result = await place_call(engine, tmp_path, "uac_basic_bye_from_uas")
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert ended["reason"] == reason
    events = engine.find_events(f"idle.{reason.replace('-', '_')}", call_id=call_id)
    assert len(events) == 1 and events[0]["lateness_ms"] >= 0
    played = [e["prompts"] for e in engine.find_events("prompt.started", call_id=call_id)]
    assert played.count(["goodbye.wav"]) == 1
    await wait_no_calls(engine)


def caller_audio(where: Path, seconds: float) -> None:
    """Raw µ-law for SIPp's rtp_stream (what the caller's microphone sends)."""
    sox = shutil.which("sox")
    assert sox is not None
    where.mkdir(parents=True)
    subprocess.run(
        [sox, "-n", "-t", "raw", "-r", "8000", "-c", "1", "-e", "mu-law", str(where / "caller.ulaw"),
         "synth", f"{seconds}", "brownnoise", "vol", "0.05"], check=True, capture_output=True)


async def test_a_caller_whose_rtp_stops_is_cut_by_media_timeout(tui: StartEngine, tmp_path: Path) -> None:
    caller_audio(tmp_path / "uac_rtp_then_vanish", 0.5)  # sent once: then the caller is gone
    engine = await tui({"phone.tui.media-timeout": "1s", "phone.tui.no-input-timeout": "30s"})
    result = await place_call(engine, tmp_path, "uac_rtp_then_vanish")
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert ended["reason"] == "media-timeout"
    assert len(engine.find_events("idle.media_timeout", call_id=call_id)) == 1
    await wait_no_calls(engine)


async def test_a_caller_that_never_sends_rtp_is_not_cut_by_media_timeout(
    tui: StartEngine, tmp_path: Path
) -> None:
    """SIPp's silent scenario under a 1 s media-timeout: the no-input cycle ends it, as before."""
    engine = await tui({"phone.tui.media-timeout": "1s"})
    result = await place_call(engine, tmp_path, "uac_basic_bye_from_uas")
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert ended["reason"] == "inactivity-timeout"
    await wait_no_calls(engine)
