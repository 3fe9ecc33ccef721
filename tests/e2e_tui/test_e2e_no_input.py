"""Nobody presses anything: prompt, re-prompts, goodbye, BYE — over real SIP, against a real engine."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from .conftest import StartEngine
from .helpers import assert_sipp_ok, call_events, call_ids, names, place_call, wait_no_calls, when

pytestmark = pytest.mark.e2e


async def test_silence_gives_two_reprompts_then_goodbye_and_bye(tui: StartEngine, tmp_path: Path) -> None:
    engine = await tui()
    result = await place_call(engine, tmp_path, "uac_basic_bye_from_uas")
    assert_sipp_ok(result)
    assert result.message_counts("BYE") == [(1, 0)]  # one BYE from the engine, answered at once

    (call_id,) = call_ids(engine)
    # The engine logs call.ended as SIPp sees the 200 to its BYE: wait for it before reading.
    ended = await engine.wait_event("call.ended", call_id=call_id)
    events = call_events(engine, call_id)
    assert (ended["reason"], ended["attempts"], ended["digits"]) == ("inactivity-timeout", 3, 0)
    reprompts = [(e["attempt"], e["of"], e["menu"]) for e in events if e["event"] == "idle.reprompt"]
    assert reprompts == [(2, 3, "main"), (3, 3, "main")]
    played = [e["prompts"] for e in events if e["event"] == "prompt.started"]
    assert played == [
        ["welcome.wav", "main-options.wav"],
        ["main-short.wav"],
        ["main-short.wav"],
        ["goodbye.wav"],
    ]
    assert names(events) == [
        "call.started", "menu.entered",
        "prompt.started", "prompt.finished", "idle.reprompt",
        "prompt.started", "prompt.finished", "idle.reprompt",
        "prompt.started", "prompt.finished", "idle.disconnect",
        "prompt.started", "prompt.finished",
        "call.ended",
    ]  # fmt: skip
    (disconnect,) = [e for e in events if e["event"] == "idle.disconnect"]
    assert (disconnect["attempt"], disconnect["of"], disconnect["then"]) == (3, 3, "hangup")
    assert disconnect["lateness_ms"] >= 0
    assert all(e["completed"] for e in events if e["event"] == "prompt.finished")

    samples = await wait_no_calls(engine)
    assert samples[("tui_calls_ended_total", (("reason", "inactivity-timeout"),))] == 1
    assert samples[("tui_timer_lateness_seconds_count", (("kind", "reprompt"),))] == 2
    assert samples[("tui_timer_lateness_seconds_count", (("kind", "disconnect"),))] == 1
    assert samples[("tui_timer_lateness_seconds_count", (("kind", "hangup"),))] == 1  # BYE after goodbye
    # One media tick per 20 ms frame of this lone call: about 5 s of prompts (the goodbye included).
    assert samples[("tui_media_tick_lateness_seconds_count", ())] > 100


async def test_a_longer_configured_timeout_keeps_the_caller_longer(tui: StartEngine, tmp_path: Path) -> None:
    """The configured value is what is used: with 2 s every silent gap lasts at least 2 s."""
    engine = await tui({"phone.tui.no-input-timeout": "2s", "phone.tui.max-attempts": 2})
    result = await place_call(engine, tmp_path, "uac_basic_bye_from_uas")
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["attempts"]) == ("inactivity-timeout", 2)
    events = call_events(engine, call_id)
    assert [(e["attempt"], e["of"]) for e in events if e["event"] == "idle.reprompt"] == [(2, 2)]
    gaps = _silent_gaps(events)
    assert len(gaps) == 2 and min(gaps) >= 2.0 - 0.005  # log timestamps are wall clock: allow its jitter


def _silent_gaps(events: list[dict[str, object]]) -> list[float]:
    """Seconds between the end of each prompt's audio and the prompt.started that follows it.

    The audio ended ``late_ms`` before its prompt.finished line: a loop late by that much logs
    the line late, while the no-input period runs from the end of the audio. (Measured from the
    line, the gap came out short by that lateness on a loaded machine: 1.98 s for 2 s.)
    """
    gaps, finished = [], None
    for e in events:
        if e["event"] == "prompt.finished":
            finished = when(e) - float(str(e["late_ms"])) / 1000
        elif e["event"] == "prompt.started" and finished is not None:
            gaps.append(when(e) - finished)
    return gaps


def _sipp_duration(value: str) -> float:
    """SIPp's ``HH:MM:SS:microseconds`` statistics format, in seconds."""
    hours, minutes, seconds, micros = (int(part) for part in value.split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds, microseconds=micros).total_seconds()


@pytest.mark.timeout(170)
async def test_the_real_defaults_three_times_ten_seconds_then_goodbye(
    tui: StartEngine, tmp_path: Path
) -> None:
    """No overrides at all: bundled main dialplan, 10 s no-input timeout, 3 attempts.

    The hang-up must come after 3 × (prompt + 10 s) + goodbye: we assert the silence (≥ 30 s in
    total, ≥ 10 s each) and the order from the engine's log, and the length the caller saw from
    SIPp's response-time counter (200 OK → BYE). No upper bound beyond a sanity limit: speed is
    the benchmarks' business.
    """
    engine = await tui(real=True)
    result = await place_call(
        engine, tmp_path, "uac_measure_hangup", timeout_s=150.0, recv_timeout_ms=120_000
    )
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["attempts"]) == ("inactivity-timeout", 3)

    events = call_events(engine, call_id)
    assert [(e["attempt"], e["of"]) for e in events if e["event"] == "idle.reprompt"] == [(2, 3), (3, 3)]
    assert [e["attempt"] for e in events if e["event"] == "idle.disconnect"] == [3]
    gaps = _silent_gaps(events)
    assert len(gaps) == 3
    assert min(gaps) >= 10.0 - 0.005 and sum(gaps) >= 30.0 - 0.015  # wall-clock log jitter only
    prompt_seconds = sum(float(e["duration"]) for e in events if e["event"] == "prompt.started")
    assert prompt_seconds > 20.0  # 11.3 s greeting + 2 × 4 s short list + 2 s goodbye

    seen_by_caller = _sipp_duration(result.stats["ResponseTime1(C)"])
    print(
        f"answer->BYE {seen_by_caller:.3f}s, silence {sum(gaps):.3f}s {gaps}, prompts {prompt_seconds:.2f} s"
    )
    assert 30.0 + prompt_seconds <= seen_by_caller < 120.0
