"""Every finished call writes one call record (CDR) to the engine's store, whatever ended it:
no input, digits, a CANCEL before the answer, an offer refused with 488. Real SIPp calls into
a real ``tui-engine serve``; the records are read back from its SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui_engine.web.store.cdrs import CallRecord, CdrFilter, open_cdr_store

from .conftest import StartEngine
from .helpers import assert_sipp_ok, call_ids, place_call


async def _records(data_dir: Path, expected: int) -> dict[str, CallRecord]:
    store = open_cdr_store("sqlite", data_dir)
    try:
        for _ in range(100):  # written in the background right after the call ended
            page = await store.query(CdrFilter(), limit=50)
            if page.total >= expected:
                break
            await asyncio.sleep(0.05)
        return {r.call_id: r for r in page.records}
    finally:
        await store.aclose()


async def test_each_way_a_call_ends_writes_one_complete_record(tui: StartEngine, tmp_path: Path) -> None:
    engine = await tui({"phone.tui.answer-delay": "500ms"})  # every call rings: the CANCEL lands in it
    for scenario, keys in (
        ("uac_basic_bye_from_uas", None),  # silence: two reprompts, goodbye, BYE from the engine
        ("uac_info_digits", {"first": "3", "second": "9"}),  # digits by SIP INFO: hours, goodbye
        ("uac_cancel", None),  # CANCEL on the 180
        ("uac_no_common_codec", None),
    ):
        assert_sipp_ok(await place_call(engine, tmp_path, scenario, **({"keys": keys} if keys else {})))
    silent, digits, cancelled, refused = call_ids(engine)
    for call_id in (silent, digits, cancelled, refused):
        await engine.wait_event("call.ended", call_id=call_id)

    records = await _records(engine.data_dir, 4)
    assert set(records) == {silent, digits, cancelled, refused}  # one each, none twice

    r = records[silent]
    assert (r.end_reason, r.sip_status, r.no_input, r.digits, r.menus) == (
        "inactivity-timeout", 200, 3, 0, ("main",)
    )
    assert r.answered_at is not None and r.started_at <= r.answered_at <= r.ended_at
    assert r.caller == "sipp" and r.dialplan == "main" and r.dialled

    r = records[digits]
    assert (r.end_reason, r.sip_status, r.digits, r.no_input) == ("completed", 200, 2, 0)
    assert r.menus[0] == "main" and len(r.menus) >= 2  # the hours menu after the first digit

    r = records[cancelled]
    assert (r.end_reason, r.sip_status, r.answered_at, r.menus) == ("caller-hangup", 487, None, ())

    r = records[refused]
    assert (r.end_reason, r.sip_status, r.answered_at) == ("error", 488, None)
