"""INVITE server behaviour, step by step on a FakeClock (RFC 3261 §13, §17.2.1)."""

from __future__ import annotations

import pytest
from structlog.contextvars import bind_contextvars, merge_contextvars, unbind_contextvars
from structlog.testing import capture_logs

from tui_engine.sip import CallState, EndReason, SipStateError
from tui_engine.testing.sip_fake import (
    ANSWER_SDP,
    CALLER,
    OFFER_SDP,
    FakeSipNetwork,
    RecordingHandler,
    sip_request,
)

RR = [("Record-Route", "<sip:127.0.0.5:5080;lr>"), ("Record-Route", "<sip:127.0.0.6;lr;transport=udp>")]


def invite(**kw: object) -> bytes:
    return sip_request("INVITE", body=OFFER_SDP, content_type="application/sdp", **kw)  # type: ignore[arg-type]


def offered(net: FakeSipNetwork, handler: RecordingHandler, **kw: object) -> None:
    out = net.inject(invite(**kw))
    assert [s.summary() for s in out] == ["100 INVITE"]
    assert len(handler.calls) == 1


def test_invite_gets_100_at_once_without_tag_and_the_app_sees_the_call() -> None:
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    out = net.inject(invite(uri="sip:4711@127.0.0.1:5060"))
    assert [s.status for s in out] == [100]
    assert "tag=" not in (out[0].header("to") or "")
    assert out[0].addr == CALLER
    call = handler.calls[0]
    assert (call.request_user, call.from_user, call.transport) == ("4711", "alice", "UDP")
    assert call.offer_sdp == OFFER_SDP
    assert call.remote_addr == CALLER
    assert call.state is CallState.OFFERED
    assert net.endpoint.active_calls == 1


def test_retransmitted_invite_while_ringing_is_absorbed_not_a_second_call() -> None:
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    offered(net, handler)
    handler.calls[0].ringing()
    ringing = net.sent[-1]
    assert ringing.status == 180 and "tag=" in (ringing.header("to") or "")
    again = net.inject(invite())
    assert [s.data for s in again] == [ringing.data]
    assert len(handler.calls) == 1 and net.endpoint.active_calls == 1


def test_answer_sends_200_with_dialog_headers_and_record_route() -> None:
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    offered(net, handler, headers=RR)
    call = handler.calls[0]
    call.answer(ANSWER_SDP)
    ok = net.sent[-1]
    msg = ok.msg
    assert ok.status == 200
    assert msg.text == ANSWER_SDP
    assert msg.headers.get_first("content-type") == "application/sdp"
    assert f"tag={call.local_tag}" in (msg.headers.get_first("to") or "")
    assert msg.headers.get("record-route") == [v for _, v in RR]
    assert msg.headers.get_first("contact") == "<sip:127.0.0.1:5060>"
    assert "INFO" in ",".join(msg.headers.get("allow"))
    assert b"\r\nSupported:" in ok.data and msg.headers.get_first("server")
    assert call.state is CallState.ANSWERED
    with pytest.raises(SipStateError):
        call.answer(ANSWER_SDP)


def test_2xx_is_resent_on_t1_doubling_to_t2_until_the_ack() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    t0 = net.clock.now()
    net.inject(invite())
    ok = net.sent[-1]
    resent = net.advance(12.0)
    assert all(s.data == ok.data for s in resent)
    assert [round(s.at - t0, 3) for s in resent] == [0.5, 1.5, 3.5, 7.5, 11.5]
    # A retransmitted INVITE is absorbed: the same 200 again, still one call.
    assert [s.data for s in net.inject(invite())] == [ok.data]
    ack = sip_request("ACK", branch="z9hG4bK-ack", to_tag=handler.calls[0].local_tag)
    assert net.inject(ack) == []
    assert handler.confirmed == handler.calls and handler.calls[0].state is CallState.CONFIRMED
    assert net.advance(40.0) == []
    assert net.endpoint.tracked_transactions == 0  # Timer L ended the INVITE transaction
    assert net.endpoint.active_calls == 1


def test_no_ack_within_64_t1_ends_the_call_with_bye() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    t0 = net.clock.now()
    net.inject(invite())
    with capture_logs() as logs:
        out = net.advance(32.0)
    assert [round(s.at - t0, 1) for s in out if s.status == 200] == [
        0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5,
    ]
    byes = [s for s in out if s.method == "BYE" and not s.status]
    assert len(byes) == 1 and round(byes[0].at - t0, 1) == 32.0
    assert handler.ended == [("call-1", EndReason.ACK_TIMEOUT)]
    assert any(e["event"] == "sip.ack_timeout" for e in logs)
    net.inject(_response_to(byes[0].data, 200))
    assert handler.ended == [("call-1", EndReason.ACK_TIMEOUT)]  # reported once
    assert net.endpoint.active_calls == 0
    net.advance(60.0)
    assert net.endpoint.tracked_transactions == 0


def test_ack_with_another_to_tag_but_same_call_id_and_cseq_is_accepted_and_logged() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    net.inject(invite())
    with capture_logs(processors=[merge_contextvars]) as logs:
        net.inject(sip_request("ACK", branch="z9hG4bK-ack", to_tag="pyvoip-invented"))
    assert handler.confirmed == handler.calls
    events = [e for e in logs if e["event"] == "sip.ack_mismatched_tag"]
    assert events and events[0]["got"] == "pyvoip-invented" and events[0]["call_id"] == "call-1"
    assert net.advance(10.0) == []  # no more 2xx retransmissions


def test_reject_488_is_resent_until_ack_then_absorbed() -> None:
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    t0 = net.clock.now()
    offered(net, handler)
    handler.calls[0].reject(488)
    final = net.sent[-1]
    assert final.status == 488 and "tag=" in (final.header("to") or "")
    assert handler.ended == [("call-1", EndReason.REJECTED)] and net.endpoint.active_calls == 0
    out = net.advance(4.0)
    assert [round(s.at - t0, 1) for s in out] == [0.5, 1.5, 3.5]
    assert all(s.data == final.data for s in out)
    assert [s.data for s in net.inject(invite())] == [final.data]  # retransmitted INVITE absorbed
    assert net.inject(sip_request("ACK", to_tag="x")) == []  # same branch: matches the transaction
    assert net.advance(4.9) == []  # Timer I absorbs, sends nothing
    net.advance(0.2)
    assert net.endpoint.tracked_transactions == 0


def test_non_2xx_without_ack_stops_after_timer_h() -> None:
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    offered(net, handler)
    handler.calls[0].reject(503, headers={"Retry-After": "30"})
    assert net.sent[-1].header("retry-after") == "30"
    out = net.advance(40.0)
    assert len(out) == 10  # G at 0.5, 1.5, 3.5, 7.5, then every T2 until H at 32 s
    assert net.endpoint.tracked_transactions == 0


def test_redirect_sends_302_with_contact() -> None:
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    offered(net, handler)
    handler.calls[0].redirect("sip:operator@127.0.0.9")
    final = net.sent[-1]
    assert final.status == 302 and final.header("contact") == "<sip:operator@127.0.0.9>"


def test_cancel_before_answer_gets_200_and_the_invite_487_until_ack() -> None:
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    t0 = net.clock.now()
    offered(net, handler)
    handler.calls[0].ringing()
    out = net.inject(sip_request("CANCEL"))
    assert [s.summary() for s in out] == ["200 CANCEL", "487 INVITE"]
    assert handler.ended == [("call-1", EndReason.CANCELLED)]
    assert net.endpoint.active_calls == 0
    with pytest.raises(SipStateError):
        handler.calls[0].answer(ANSWER_SDP)  # too late
    resent = net.advance(2.0)
    assert [s.summary() for s in resent] == ["487 INVITE", "487 INVITE"]
    assert [round(s.at - t0, 1) for s in resent] == [0.5, 1.5]
    assert [s.summary() for s in net.inject(sip_request("CANCEL"))] == ["200 CANCEL"]  # retransmitted
    net.inject(sip_request("ACK", to_tag=handler.calls[0].local_tag))
    assert net.advance(3.0) == []
    net.advance(40.0)
    assert net.endpoint.tracked_transactions == 0


def test_cancel_for_unknown_transaction_gets_481() -> None:
    net = FakeSipNetwork(RecordingHandler())
    assert [s.summary() for s in net.inject(sip_request("CANCEL"))] == ["481 CANCEL"]


def test_caller_bye_gets_200_and_a_retransmitted_bye_the_same_200() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    net.inject(invite())
    tag = handler.calls[0].local_tag
    net.inject(sip_request("ACK", branch="z9hG4bK-ack", to_tag=tag))
    bye = sip_request("BYE", branch="z9hG4bK-bye", cseq=2, to_tag=tag)
    first = net.inject(bye)
    assert [s.summary() for s in first] == ["200 BYE"]
    assert handler.ended == [("call-1", EndReason.CALLER_HANGUP)]
    assert net.endpoint.active_calls == 0
    net.advance(5.0)
    again = net.inject(bye)
    assert [s.data for s in again] == [first[0].data]
    net.advance(40.0)
    assert net.endpoint.tracked_transactions == 0 and net.endpoint.active_calls == 0


def test_bye_before_ack_stops_2xx_retransmission() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    net.inject(invite())
    tag = handler.calls[0].local_tag
    net.inject(sip_request("BYE", branch="z9hG4bK-bye", cseq=2, to_tag=tag))
    assert handler.ended == [("call-1", EndReason.CALLER_HANGUP)]
    assert [s.status for s in net.advance(40.0)] == []  # neither 2xx nor BYE from us


def _response_to(request: bytes, status: int) -> bytes:
    """The caller's response to a request we sent (copies Via/From/To/Call-ID/CSeq)."""
    from aiosipua.message import SipMessage, SipRequest

    from tui_engine.sip.message import build_response

    msg = SipMessage.parse(request)
    assert isinstance(msg, SipRequest)
    return build_response(msg, status, to_tag=None)


def test_timer_events_carry_their_own_calls_call_id_whatever_the_context_holds() -> None:
    """A 488 never ACKed times out (Timer H) under its own call_id, not the one the loop's
    context last had bound (the application binds the newest call's)."""
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    net.inject(sip_request("INVITE", call_id="call-a", branch="z9hG4bK-a"))
    handler.calls[0].reject(488)
    net.inject(sip_request("INVITE", call_id="call-b", branch="z9hG4bK-b"))
    bind_contextvars(call_id="call-b")  # what a handler leaves bound in the loop's context
    try:
        with capture_logs(processors=[merge_contextvars]) as logs:
            net.advance(40.0)
    finally:
        unbind_contextvars("call_id")
    timeouts = [e for e in logs if e["event"] == "sip.ack_timeout"]
    assert [e["call_id"] for e in timeouts] == ["call-a"]
