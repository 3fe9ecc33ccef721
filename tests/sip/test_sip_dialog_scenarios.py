"""In-dialog behaviour on a FakeClock: our BYE (§15.1.1, §17.1.2), INFO, re-INVITE, REFER, CSeq."""

from __future__ import annotations

import pytest
from aiosipua.message import SipMessage, SipRequest
from structlog.testing import capture_logs

from tui_engine.sip import CallState, EndReason, ServerCall
from tui_engine.sip.message import build_response
from tui_engine.testing.sip_fake import (
    ANSWER_SDP,
    CALLER,
    OFFER_SDP,
    FakeSipNetwork,
    RecordingHandler,
    Sent,
    sip_request,
)


def confirmed_call(net: FakeSipNetwork, handler: RecordingHandler, **kw: object) -> ServerCall:
    net.inject(sip_request("INVITE", body=OFFER_SDP, content_type="application/sdp", **kw))  # type: ignore[arg-type]
    call = handler.calls[-1]
    net.inject(sip_request("ACK", branch="z9hG4bK-ack", to_tag=call.local_tag))
    assert call.state is CallState.CONFIRMED
    net.take()
    return call


def reply_to(sent: Sent, status: int, body: str = "") -> bytes:
    msg = SipMessage.parse(sent.data)
    assert isinstance(msg, SipRequest)
    return build_response(msg, status, body=body.encode())


def in_dialog(method: str, call: ServerCall, cseq: int, branch: str, **kw: object) -> bytes:
    return sip_request(method, branch=branch, cseq=cseq, to_tag=call.local_tag, **kw)  # type: ignore[arg-type]


def test_hangup_bye_follows_the_route_set_and_is_retransmitted_until_answered() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    rr = [("Record-Route", "<sip:127.0.0.5:5080;lr>"), ("Record-Route", "<sip:127.0.0.6;lr>")]
    call = confirmed_call(net, handler, headers=rr)
    t0 = net.clock.now()
    call.hangup()
    bye = net.sent[-1]
    msg = bye.msg
    assert isinstance(msg, SipRequest) and msg.method == "BYE"
    assert msg.uri == f"sip:alice@{CALLER[0]}:{CALLER[1]}"  # remote target = the INVITE's Contact
    assert msg.headers.get("route") == ["<sip:127.0.0.5:5080;lr>", "<sip:127.0.0.6;lr>"]
    assert bye.addr == ("127.0.0.5", 5080)  # first hop of the route set (§12.2.1.1)
    assert f"tag={call.local_tag}" in (msg.headers.get_first("from") or "")
    assert "tag=caller-tag" in (msg.headers.get_first("to") or "")
    assert call.state is CallState.ENDING and handler.ended == []
    again = net.advance(2.0)
    assert [round(s.at - t0, 1) for s in again] == [0.5, 1.5]  # Timer E
    assert all(s.data == bye.data for s in again)
    net.inject(reply_to(bye, 200))
    assert handler.ended == [("call-1", EndReason.LOCAL_HANGUP)]
    assert net.endpoint.active_calls == 0
    assert net.advance(40.0) == []  # Timers K (BYE) and L (INVITE) run out silently
    assert net.endpoint.tracked_transactions == 0


def test_a_maddr_host_name_in_the_route_is_not_resolved_the_bye_goes_where_the_invite_came_from() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    route = ("Record-Route", "<sip:127.0.0.5:5080;lr;maddr=nowhere.invalid>")
    call = confirmed_call(net, handler, headers=[route])
    call.hangup()
    bye = net.sent[-1]
    assert bye.method == "BYE"
    assert bye.addr == CALLER  # not ("nowhere.invalid", 5080): sendto would resolve it, blocking


def test_unanswered_bye_gives_up_after_timer_f_and_cleans_up() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    t0 = net.clock.now()
    call.hangup()
    with capture_logs() as logs:
        out = net.advance(40.0)
    assert [round(s.at - t0, 1) for s in out] == [
        0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5,
    ]
    assert handler.ended == [("call-1", EndReason.BYE_TIMEOUT)]
    assert any(e["event"] == "sip.bye_timeout" for e in logs)
    assert net.endpoint.active_calls == 0 and net.endpoint.tracked_transactions == 0


def test_bye_with_provisional_response_is_resent_every_t2() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    t0 = net.clock.now()
    call.hangup()
    net.inject(reply_to(net.sent[-1], 100))
    out = net.advance(9.0)
    assert [round(s.at - t0, 1) for s in out] == [0.5, 4.5, 8.5]


def test_hangup_before_ack_waits_for_the_ack() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    net.inject(sip_request("INVITE", body=OFFER_SDP, content_type="application/sdp"))
    call = handler.calls[0]
    call.hangup()
    assert net.sent[-1].status == 200  # no BYE yet (§15)
    out = net.inject(sip_request("ACK", branch="z9hG4bK-ack", to_tag=call.local_tag))
    assert [s.method for s in out] == ["BYE"]


def test_info_is_answered_and_its_body_handed_to_the_app() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    info = in_dialog("INFO", call, 2, "z9hG4bK-info", body="Signal=5\r\nDuration=160\r\n",
                     content_type="application/dtmf-relay")
    out = net.inject(info)
    assert [s.summary() for s in out] == ["200 INFO"]
    assert handler.infos == [("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n")]
    assert [s.data for s in net.inject(info)] == [out[0].data]  # retransmission: same 200
    assert len(handler.infos) == 1


@pytest.mark.parametrize(
    ("verdict", "accept"), [(415, "application/dtmf-relay, application/dtmf"), (400, None)]
)
def test_info_is_answered_with_the_apps_verdict_on_its_body(verdict: int, accept: str | None) -> None:
    """Before: 200 first, whatever the body; now the answer depends on the body's parse."""
    handler = RecordingHandler(auto_answer=ANSWER_SDP, info_status=verdict)
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    out = net.inject(in_dialog("INFO", call, 2, "z9hG4bK-info", body="hello", content_type="text/plain"))
    assert [s.summary() for s in out] == [f"{verdict} INFO"]
    assert ", ".join(out[0].msg.headers.get("accept")) == (accept or "")
    assert "tag=" + call.local_tag in (out[0].header("to") or "")


def test_an_info_handler_that_raises_gets_500_and_the_call_goes_on() -> None:
    class Broken(RecordingHandler):
        def call_info(self, call: ServerCall, content_type: str, body: bytes) -> int:
            raise RuntimeError("bug")

    handler = Broken(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    assert [s.summary() for s in net.inject(in_dialog("INFO", call, 2, "z9hG4bK-i"))] == ["500 INFO"]
    assert handler.ended == []


def test_cseq_going_backwards_in_the_dialog_gets_500() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    net.inject(in_dialog("INFO", call, 5, "z9hG4bK-i5"))
    out = net.inject(in_dialog("INFO", call, 4, "z9hG4bK-i4"))
    assert [s.summary() for s in out] == ["500 INFO"]
    assert len(handler.infos) == 1


def test_reinvite_is_answered_by_the_hook_and_its_2xx_resent_until_ack() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP, reoffer_answer="v=0\r\ns=hold\r\n")
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    reinvite = in_dialog("INVITE", call, 2, "z9hG4bK-re", body="v=0\r\na=sendonly\r\n",
                         content_type="application/sdp")
    out = net.inject(reinvite)
    assert [s.summary() for s in out] == ["200 INVITE"]
    assert out[0].msg.text == "v=0\r\ns=hold\r\n"
    assert handler.reoffers == ["v=0\r\na=sendonly\r\n"]
    assert len(net.advance(0.6)) == 1  # resent once at T1
    net.inject(sip_request("ACK", branch="z9hG4bK-ack2", cseq=2, to_tag=call.local_tag))
    assert net.advance(10.0) == []
    assert handler.confirmed == [call]  # the re-INVITE's ACK is absorbed, not a new confirmation


def test_reinvite_refused_by_the_app_gets_488_and_the_call_goes_on() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP, reoffer_answer=None)
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    reinvite = in_dialog("INVITE", call, 2, "z9hG4bK-re", body="v=0\r\n", content_type="application/sdp")
    out = net.inject(reinvite)
    assert [s.summary() for s in out] == ["488 INVITE"]
    assert call.state is CallState.CONFIRMED


def test_options_in_dialog_and_update_without_body_get_200() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    assert [s.summary() for s in net.inject(in_dialog("OPTIONS", call, 2, "z9hG4bK-o"))] == ["200 OPTIONS"]
    assert [s.summary() for s in net.inject(in_dialog("UPDATE", call, 3, "z9hG4bK-u"))] == ["200 UPDATE"]


def test_refer_then_notify_success_sends_bye_and_ends_transferred() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    call.refer("sip:operator@127.0.0.9")
    refer = net.sent[-1]
    assert refer.method == "REFER" and refer.header("refer-to") == "<sip:operator@127.0.0.9>"
    net.inject(reply_to(refer, 202))
    notify = in_dialog("NOTIFY", call, 2, "z9hG4bK-n1", body="SIP/2.0 100 Trying\r\n",
                       content_type="message/sipfrag", headers=[("Event", "refer")])
    assert [s.summary() for s in net.inject(notify)] == ["200 NOTIFY"]
    assert call.state is CallState.CONFIRMED
    final = in_dialog("NOTIFY", call, 3, "z9hG4bK-n2", body="SIP/2.0 200 OK\r\n",
                      content_type="message/sipfrag", headers=[("Event", "refer")])
    out = net.inject(final)
    assert [s.summary() for s in out] == ["200 NOTIFY", "BYE"]
    net.inject(reply_to(out[1], 200))
    assert handler.ended == [("call-1", EndReason.TRANSFERRED)]
    net.advance(40.0)
    assert net.endpoint.active_calls == 0 and net.endpoint.tracked_transactions == 0


def test_requests_for_unknown_dialogs_get_481() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    assert [s.summary() for s in net.inject(sip_request("BYE", call_id="nope", to_tag="x"))] == ["481 BYE"]
    assert [s.summary() for s in net.inject(sip_request("INFO", call_id="nope"))] == ["481 INFO"]
    wrong_tag = sip_request("BYE", branch="z9hG4bK-wt", cseq=9, to_tag="not-ours")
    assert [s.summary() for s in net.inject(wrong_tag)] == ["481 BYE"]
    assert call.state is CallState.CONFIRMED and net.endpoint.active_calls == 1
