"""A transfer that fails is reported to the application, once, and the call stays up (RFC 3515)."""

from __future__ import annotations

from test_sip_dialog_scenarios import confirmed_call, in_dialog, reply_to

from tui_engine.sip import CallState
from tui_engine.testing.sip_fake import ANSWER_SDP, FakeSipNetwork, RecordingHandler


def refer(net: FakeSipNetwork, handler: RecordingHandler) -> tuple[object, object]:
    call = confirmed_call(net, handler)
    call.refer("sip:operator@127.0.0.9")
    return call, net.sent[-1]


def test_a_refer_answered_603_is_reported_and_the_call_stays_up() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call, sent = refer(net, handler)
    net.inject(reply_to(sent, 603))  # type: ignore[arg-type]
    assert handler.transfer_failures == [("call-1", 603)]
    assert call.state is CallState.CONFIRMED and handler.ended == []  # type: ignore[attr-defined]


def test_a_notify_sipfrag_486_is_reported_once_and_sends_no_bye() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call, sent = refer(net, handler)
    net.inject(reply_to(sent, 202))  # type: ignore[arg-type]
    busy = in_dialog("NOTIFY", call, 2, "z9hG4bK-n1", body="SIP/2.0 486 Busy Here\r\n",  # type: ignore[arg-type]
                     content_type="message/sipfrag", headers=[("Event", "refer")])
    assert [s.summary() for s in net.inject(busy)] == ["200 NOTIFY"]
    assert handler.transfer_failures == [("call-1", 486)]
    again = in_dialog("NOTIFY", call, 3, "z9hG4bK-n2", body="SIP/2.0 200 OK\r\n",  # type: ignore[arg-type]
                      content_type="message/sipfrag", headers=[("Event", "refer")])
    assert [s.summary() for s in net.inject(again)] == ["200 NOTIFY"]  # no BYE: the failure stands
    assert handler.transfer_failures == [("call-1", 486)] and handler.ended == []


def test_a_refer_without_any_answer_is_reported_408_after_timer_f() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    refer(net, handler)
    net.advance(40.0)  # 64*T1 = 32 s
    assert handler.transfer_failures == [("call-1", 408)] and handler.ended == []


def test_a_cancelled_transfer_ignores_a_late_success() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call, sent = refer(net, handler)
    net.inject(reply_to(sent, 202))  # type: ignore[arg-type]
    call.cancel_transfer()  # type: ignore[attr-defined]  # the application's transfer-timeout
    late = in_dialog("NOTIFY", call, 2, "z9hG4bK-n1", body="SIP/2.0 200 OK\r\n",  # type: ignore[arg-type]
                     content_type="message/sipfrag", headers=[("Event", "refer")])
    assert [s.summary() for s in net.inject(late)] == ["200 NOTIFY"]
    assert call.state is CallState.CONFIRMED and handler.transfer_failures == []  # type: ignore[attr-defined]


def test_the_call_ends_when_our_bye_leaves_not_when_timer_f_gives_up() -> None:
    """``duration`` is measured to ``bye_at``: an unanswered BYE must not add 32 s of Timer F."""
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    call = confirmed_call(net, handler)
    net.advance(3.0)
    sent_at = net.clock.now()
    call.hangup()
    net.advance(40.0)  # nobody answers the BYE
    assert handler.ended and call.bye_at == sent_at
