"""SIP paths against the whole engine: hang-up, CANCEL, OPTIONS, lost ACK/BYE answers, retransmitted
INVITE and garbage datagrams. After each, the ``tui`` fixture checks that no call is left."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from .conftest import StartEngine
from .helpers import SIP_TRACE, assert_sipp_ok, call_events, call_ids, names, place_call, wait_no_calls

pytestmark = pytest.mark.e2e


async def test_caller_hangs_up_in_the_middle_of_the_greeting(tui: StartEngine, tmp_path: Path) -> None:
    engine = await tui()
    result = await place_call(engine, tmp_path, "uac_caller_hangup", variables={"hold_ms": "500"})
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["sip_reason"], ended["attempts"]) == ("caller-hangup", "caller_hangup", 1)
    # The greeting was still playing when the caller left (no prompt.finished before call.ended),
    # and nothing happens afterwards (no re-prompt).
    assert names(call_events(engine, call_id)) == [
        "call.started",
        "menu.entered",
        "prompt.started",
        "call.ended",
    ]
    samples = await wait_no_calls(engine)
    assert samples[("tui_calls_ended_total", (("reason", "caller-hangup"),))] == 1


async def test_cancel_while_ringing_gets_487_and_frees_the_port_at_once(
    tui: StartEngine, tmp_path: Path
) -> None:
    # answer-delay far longer than the test: the CANCEL lands while the call rings, never racing
    # the 200; the fixture's teardown then finds the call's RTP port closed long before the delay.
    engine = await tui({"phone.tui.answer-delay": "20s", **SIP_TRACE})
    result = await place_call(engine, tmp_path, "uac_cancel")  # waits for the 180, then CANCELs
    assert_sipp_ok(result)
    assert result.message_counts("180") == [(1, 0)]
    assert result.message_counts("487") == [(1, 0)]
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["sip_reason"]) == ("caller-hangup", "cancelled")
    assert not engine.find_events("menu.entered")  # never answered: no menu, no prompt
    assert not engine.find_events("sip.answered")


async def test_answer_delay_rings_first_then_the_menu_runs_as_usual(tui: StartEngine, tmp_path: Path) -> None:
    engine = await tui({"phone.tui.answer-delay": "300ms", **SIP_TRACE})
    result = await place_call(engine, tmp_path, "uac_ring_then_answer")  # 180 required before the 200
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["attempts"]) == ("inactivity-timeout", 3)  # the no-input cycle, whole
    ringing = engine.find_events("sip.ringing", call_id=call_id)
    answered = engine.find_events("sip.answered", call_id=call_id)
    assert len(ringing) == 1 and len(answered) == 1


async def test_an_offer_without_a_common_codec_gets_488_and_leaves_no_call(
    tui: StartEngine, tmp_path: Path
) -> None:
    engine = await tui()
    result = await place_call(engine, tmp_path, "uac_no_common_codec")
    assert_sipp_ok(result)
    assert result.message_counts("488") == [(1, 0)]
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)  # the call's last line: all are in
    assert engine.find_events("call.rejected", call_id=call_id, status=488)
    assert ended["reason"] == "error"
    assert not engine.find_events("menu.entered")


async def test_options_is_answered_200_with_allow(tui: StartEngine, tmp_path: Path) -> None:
    engine = await tui()
    result = await place_call(engine, tmp_path, "uac_options")  # the scenario checks Allow: ... INVITE
    assert_sipp_ok(result)
    assert result.message_counts("200") == [(1, 0)]
    assert call_ids(engine) == []


async def test_a_lost_ack_makes_the_200_come_again_and_the_call_still_works(
    tui: StartEngine, tmp_path: Path
) -> None:
    engine = await tui(SIP_TRACE)
    result = await place_call(engine, tmp_path, "uac_late_ack")
    assert_sipp_ok(result)
    received, retransmitted = result.message_counts("200")[0]  # the 200 <---- row (then our 200 to BYE)
    assert received == 1 and retransmitted >= 1  # RFC 3261 §13.3.1.4: 2xx resent until the ACK
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["attempts"]) == ("inactivity-timeout", 3)
    events = call_events(engine, call_id)
    assert names(events)[:3] == ["call.started", "menu.entered", "prompt.started"]
    # The menu starts with the ACK (call_confirmed), not with the 200: nothing played before it.
    confirmed = engine.find_events("sip.confirmed")
    assert len(confirmed) == 1
    assert engine.events.index(confirmed[0]) < engine.events.index(engine.find_events("menu.entered")[0])


async def test_a_lost_answer_to_our_bye_makes_the_bye_come_again(tui: StartEngine, tmp_path: Path) -> None:
    engine = await tui(SIP_TRACE)
    result = await place_call(engine, tmp_path, "uac_late_bye_response")
    assert_sipp_ok(result)
    ((received, retransmitted),) = result.message_counts("BYE")
    assert received == 1 and retransmitted >= 1  # RFC 3261 §17.1.2.2 Timer E (T1 = 500 ms)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert ended["reason"] == "inactivity-timeout"
    assert engine.find_events("sip.bye_answered", call_id=call_id, status=200)


async def test_a_retransmitted_invite_makes_one_call(tui: StartEngine, tmp_path: Path) -> None:
    engine = await tui(SIP_TRACE)
    result = await place_call(engine, tmp_path, "uac_invite_retransmit")
    assert_sipp_ok(result)
    ended = await engine.wait_event("call.ended")  # the call's last line: all are in
    assert len(engine.find_events("call.started")) == 1
    assert len(engine.find_events("sip.invite")) == 1
    (call_id,) = call_ids(engine)
    assert ended["call_id"] == call_id
    assert ended["reason"] == "inactivity-timeout"
    samples = await wait_no_calls(engine)
    assert sum(v for (name, _), v in samples.items() if name == "tui_calls_ended_total") == 1


async def test_a_tcp_call_with_content_length_before_content_type(tui: StartEngine, tmp_path: Path) -> None:
    """RFC 3261 §18.3 over TCP (-t t1): Content-Length first in the INVITE, compact ``l:`` first in
    the ACK and in SIPp's 200 to our BYE. The whole call must frame: answer, menu, timeout, BYE."""
    engine = await tui()
    result = await place_call(engine, tmp_path, "uac_tcp_reordered", extra=("-t", "t1"))
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert ended["reason"] == "inactivity-timeout"
    assert not engine.find_events("sip.malformed") and not engine.find_events("sip.unframed")
    samples = await wait_no_calls(engine)
    assert samples[("tui_active_calls", ())] == 0
    sip = {labels: v for (name, labels), v in samples.items() if name == "sip_messages_total"}
    assert sip[(("direction", "in"), ("method", "INVITE"))] == 1
    assert sip[(("direction", "in"), ("method", "ACK"))] == 1
    assert sip[(("direction", "out"), ("method", "BYE"))] == 1  # over TCP: no retransmission
    assert sip[(("direction", "in"), ("method", "200"))] == 1  # SIPp's answer to our BYE
    assert sip[(("direction", "out"), ("method", "100"))] == 1


GARBAGE = (
    os.urandom(300),  # random bytes
    b"\x00\x01\x02garbage\xff",
    b"INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;bra",  # truncated SIP
    b"INVITE sip:100@127.0.0.1 SIP/2.0\r\n\r\n",  # a request without any header
    b"SIP/2.0 200 OK\r\n\r\n",  # a response to nothing
    b"\r\n\r\n",  # a keep-alive (RFC 5626 §4.4.1) must be ignored too
    # a body shorter than its Content-Length: 400, and aiosipua's warning must not print plain text
    b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKshort\r\n"
    b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: short\r\nCSeq: 1 OPTIONS\r\n"
    b"Content-Length: 50\r\n\r\nv=0\r\n",
)


async def test_garbage_datagrams_then_a_normal_call_works(tui: StartEngine, tmp_path: Path) -> None:
    engine = await tui()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for junk in GARBAGE:
            sock.sendto(junk, ("127.0.0.1", engine.sip_port))
    result = await place_call(engine, tmp_path, "uac_info_digits", keys={"first": "3", "second": "9"})
    assert_sipp_ok(result)
    (call_id,) = call_ids(engine)  # the junk started no call
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["digits"]) == ("completed", 2)
    assert engine.returncode is None
    assert (await wait_no_calls(engine))[("tui_active_calls", ())] == 0
    assert engine.find_events("sip.malformed", status=400)  # the short body was answered
    # and no library printed plain text about it (aiosipua's "Body shorter than Content-Length")
    assert not [line for line in engine.other_output if "Content-Length" in line]
