"""A failed transfer brings the caller back to the menu, and the call still ends (real SIPp).

Before issue 9 the menu was over once the REFER went out: a 603 or a NOTIFY with 486 left the
caller in dead air with no timer (the call never ended) and ``call.ended`` said ``transfer``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import FAST_OPTIONS, StartEngine
from .helpers import assert_sipp_ok, call_ids, place_call, wait_no_calls

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("scenario", "status"), [("uac_transfer_refused", "603"), ("uac_transfer_notify_failed", "486")]
)
async def test_a_failed_transfer_returns_to_the_menu_and_the_call_ends_on_no_input(
    tui: StartEngine, tmp_path: Path, scenario: str, status: str
) -> None:
    engine = await tui(FAST_OPTIONS)
    result = await place_call(engine, tmp_path, scenario, keys={"digit": "0", "status": status})
    # (uac_transfer_refused answers 603 itself: SIPp wants response codes fixed at load time)
    assert_sipp_ok(result)  # SIPp got the REFER, refused it, and then got the engine's BYE
    (call_id,) = call_ids(engine)
    # The engine logs call.ended as SIPp answers its BYE: wait for it, then every line is in.
    await engine.wait_event("call.ended", call_id=call_id)
    failed = engine.find_events("call.transfer_failed", call_id=call_id)
    assert [e["why"] for e in failed] == [status]
    after = engine.events.index(failed[0])
    later = engine.events[after:]
    entered = [e for e in later if e["event"] == "menu.entered" and e.get("call_id") == call_id]
    played = [e["prompts"] for e in later if e["event"] == "prompt.started" and e.get("call_id") == call_id]
    assert played[0] == ["transfer-failed.wav"]  # the dialplan's transfer-failed prompt first
    assert entered and entered[0]["menu"] == "main"  # back in the menu the transfer was taken from
    ended = engine.find_events("call.ended", call_id=call_id)
    assert [e["reason"] for e in ended] == ["inactivity-timeout"]  # not "transfer": none happened
    await wait_no_calls(engine)
