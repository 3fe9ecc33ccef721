"""Digits reach the menu end to end: RFC 4733 events replayed from SIPp's pcaps, and SIP INFO.

The first digit of every scenario is sent while the greeting (1.8 s) plays, so each test also
checks barge-in: that prompt finishes with ``completed=false`` and the choice follows. An INFO
digit goes 300 ms after the ACK, on the ACK's socket (read after it, whatever the load); an
RFC 4733 digit goes 800 ms after it, on the RTP socket, so that an engine late by a few hundred
ms still starts the greeting before it reads the digit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import StartEngine
from .helpers import assert_sipp_ok, call_events, call_ids, names, place_call, wait_no_calls

pytestmark = pytest.mark.e2e

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="SIPp's play_pcap_audio needs root")


def digits(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["digit"], e["method"]) for e in events if e["event"] == "dtmf.received"]


def assert_barged_in(events: list[dict[str, Any]]) -> None:
    """The greeting was cut short by the first digit, and the digit came while it played."""
    sequence = names(events)
    first_digit = sequence.index("dtmf.received")
    assert sequence[first_digit - 1] == "prompt.started"  # the greeting was still playing
    finished = [e for e in events if e["event"] == "prompt.finished"]
    assert finished[0]["completed"] is False
    assert sequence[first_digit + 1] == "prompt.finished"


def played(events: list[dict[str, Any]]) -> list[list[str]]:
    return [e["prompts"] for e in events if e["event"] == "prompt.started"]


@needs_root
async def test_rfc4733_digits_from_pcaps_play_the_hours_then_say_goodbye(
    tui: StartEngine, tmp_path: Path
) -> None:
    # The 9 comes 2.5 s after the 3, in the silence after the main menu's replay (which ends ~2.1 s
    # after the 3): a 3 s no-input period, not 1 s, keeps a loaded machine's late 9 off a re-prompt.
    engine = await tui({"phone.tui.no-input-timeout": "3s"})
    result = await place_call(engine, tmp_path, "uac_rfc2833_hours_goodbye")
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["digits"]) == ("completed", 2)

    events = call_events(engine, call_id)
    # Each pcap holds 10 packets of one event (3 of them end packets): one digit each (RFC 4733 §2.5.1).
    assert digits(events) == [("3", "rfc4733"), ("9", "rfc4733")]
    assert_barged_in(events)
    assert played(events)[1:3] == [["hours.wav"], ["welcome.wav", "main-options.wav"]]
    assert played(events)[-1] == ["goodbye.wav"]
    assert not [e for e in events if e["event"] == "idle.reprompt"]

    samples = await wait_no_calls(engine)
    assert samples[("tui_dtmf_digits_total", (("method", "rfc4733"),))] == 2
    assert samples[("tui_calls_ended_total", (("reason", "completed"),))] == 1


@needs_root
async def test_rfc4733_digit_enters_the_support_menu_and_star_comes_back(
    tui: StartEngine, tmp_path: Path
) -> None:
    engine = await tui()
    result = await place_call(engine, tmp_path, "uac_rfc2833_submenu")
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["digits"]) == ("caller-hangup", 2)

    events = call_events(engine, call_id)
    assert digits(events) == [("2", "rfc4733"), ("*", "rfc4733")]
    assert [e["menu"] for e in events if e["event"] == "menu.entered"] == ["main", "support", "main"]
    assert [e["menu"] for e in events if e["event"] == "dtmf.received"] == ["main", "support"]
    assert_barged_in(events)
    assert played(events)[1] == ["support-options.wav"]


@needs_root
async def test_a_phone_sending_info_and_rfc4733_for_each_key_enters_each_digit_once(
    tui: StartEngine, tmp_path: Path
) -> None:
    """"INFO + RTP" desk phones: 3 and 9 each arrive as INFO and as RFC 4733. Before: 4 digits."""
    engine = await tui()
    result = await place_call(engine, tmp_path, "uac_info_and_rfc2833")
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["digits"]) == ("completed", 2)
    events = call_events(engine, call_id)
    assert [d for d, _ in digits(events)] == ["3", "9"]
    assert played(events)[1] == ["hours.wav"] and played(events)[-1] == ["goodbye.wav"]
    assert len([e for e in events if e["event"] == "media.digit_ignored"]) == 2  # the other copies


async def test_sip_info_digits_play_the_hours_then_say_goodbye(tui: StartEngine, tmp_path: Path) -> None:
    engine = await tui()
    result = await place_call(engine, tmp_path, "uac_info_digits", keys={"first": "3", "second": "9"})
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["digits"]) == ("completed", 2)

    events = call_events(engine, call_id)
    assert digits(events) == [("3", "info"), ("9", "info")]
    assert_barged_in(events)
    assert played(events)[1] == ["hours.wav"]
    assert played(events)[-1] == ["goodbye.wav"]

    samples = await wait_no_calls(engine)
    assert samples[("tui_dtmf_digits_total", (("method", "info"),))] == 2
    assert ("tui_dtmf_digits_total", (("method", "rfc4733"),)) not in samples or (
        samples[("tui_dtmf_digits_total", (("method", "rfc4733"),))] == 0
    )


async def test_an_invalid_info_digit_plays_the_invalid_prompt(tui: StartEngine, tmp_path: Path) -> None:
    """5 is no choice in the main menu: "not a valid choice", the menu again; 9 still works after it."""
    engine = await tui()
    result = await place_call(engine, tmp_path, "uac_info_digits", keys={"first": "5", "second": "9"})
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert ended["reason"] == "completed"
    events = call_events(engine, call_id)
    assert digits(events) == [("5", "info"), ("9", "info")]
    assert ["invalid.wav"] in [p[:1] for p in played(events)]
