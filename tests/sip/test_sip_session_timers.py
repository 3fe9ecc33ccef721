"""RFC 4028 session timers as UAS, step by step on a FakeClock.

Before issue 9, ``Session-Expires`` was ignored and ``Require: timer`` got 420: a caller that
vanished without BYE kept its call until the engine stopped.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiosipua.message import SipMessage, SipRequest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from tui_engine.sip import CallState, EndReason, ServerCall
from tui_engine.sip.message import build_response
from tui_engine.sip.session_timer import SessionTimerPolicy, TooSmall, negotiate
from tui_engine.testing.sip_fake import (
    ANSWER_SDP,
    OFFER_SDP,
    FakeSipNetwork,
    RecordingHandler,
    Sent,
    sip_request,
)

TIMER = [("Supported", "timer")]
ALLOW_UPDATE = [("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE")]


def answered(
    headers: Sequence[tuple[str, str]], *, policy: SessionTimerPolicy | None = None
) -> tuple[FakeSipNetwork, RecordingHandler, Sent]:
    """An INVITE with ``headers``, answered at once; returns the 200."""
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler, session_policy=policy)
    out = net.inject(sip_request("INVITE", headers=headers, body=OFFER_SDP, content_type="application/sdp"))
    assert [s.status for s in out] == [100, 200]
    return net, handler, out[1]


def confirm(net: FakeSipNetwork, handler: RecordingHandler) -> ServerCall:
    call = handler.calls[0]
    net.inject(sip_request("ACK", branch="z9hG4bK-ack", to_tag=call.local_tag))
    assert call.state is CallState.CONFIRMED
    return call


def peer_request(call: ServerCall, method: str, cseq: int, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    return sip_request(method, branch=f"z9hG4bK-{method}-{cseq}", cseq=cseq, to_tag=call.local_tag,
                       headers=headers)


def first_bye_at(sent: list[Sent]) -> float | None:
    """When the (one) BYE transaction started; its Timer E retransmissions share its Via."""
    byes = [s for s in sent if s.method == "BYE"]
    assert len({s.header("via") for s in byes}) <= 1
    return byes[0].at if byes else None


def answer(net: FakeSipNetwork, request: Sent, status: int) -> list[Sent]:
    msg = request.msg
    assert isinstance(msg, SipRequest)
    return net.inject(build_response(msg, status))


def test_the_callers_interval_and_refresher_are_copied_into_the_200_with_require_timer() -> None:
    _, _, ok = answered([*TIMER, ("Session-Expires", "300;refresher=uac")])
    assert ok.header("session-expires") == "300;refresher=uac"
    assert ok.header("require") == "timer"
    assert "timer" in (ok.header("supported") or "")


def test_require_timer_is_accepted_not_420() -> None:
    _, _, ok = answered([("Require", "timer"), ("Session-Expires", "600")])
    assert ok.header("session-expires") == "600;refresher=uas"  # no refresher asked: we refresh
    assert ok.header("require") == "timer"


def test_an_interval_below_our_min_se_gets_422_with_min_se() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler, session_policy=SessionTimerPolicy(session_expires=1800, min_se=120))
    with capture_logs() as logs:
        out = net.inject(sip_request("INVITE", headers=[*TIMER, ("Session-Expires", "100")], body=OFFER_SDP))
    assert [s.status for s in out] == [422]
    assert out[0].header("min-se") == "120"
    assert handler.calls == [] and net.endpoint.active_calls == 0
    assert any(e["event"] == "sip.rejected" and e["status"] == 422 for e in logs)
    # The caller retries with the interval we asked for (§7.3) and is answered.
    out = net.inject(sip_request("INVITE", branch="z9hG4bK-2", cseq=2, body=OFFER_SDP,
                                 headers=[*TIMER, ("Session-Expires", "120"), ("Min-SE", "120")]))
    assert [s.status for s in out] == [100, 200]
    assert out[1].header("session-expires") == "120;refresher=uas"


def test_a_caller_without_timer_support_gets_our_default_and_we_refresh() -> None:
    _, _, ok = answered([])
    assert ok.header("session-expires") == "1800;refresher=uas"
    assert ok.header("require") is None  # §9: the UAC does not support it, Require would fail it


def test_the_request_min_se_raises_our_interval() -> None:
    _, _, ok = answered([*TIMER, ("Min-SE", "2400")])
    assert ok.header("session-expires") == "2400;refresher=uas"


def test_disabled_timers_add_nothing_to_the_200() -> None:
    _, _, ok = answered([], policy=SessionTimerPolicy(session_expires=0))
    assert ok.header("session-expires") is None


def test_a_caller_that_refreshes_keeps_the_call_then_vanishes_and_gets_bye_session_expired() -> None:
    net, handler, _ = answered([*TIMER, ("Session-Expires", "120;refresher=uac")])
    call = confirm(net, handler)
    net.advance(60.0)
    out = net.inject(peer_request(call, "UPDATE", 2, [*TIMER, ("Session-Expires", "120;refresher=uac")]))
    assert [(s.status, s.header("session-expires")) for s in out] == [(200, "120;refresher=uac")]
    # 120 s after the refresh less min(32, 120/3) = 88 s: nothing before that, then our BYE.
    assert [s for s in net.advance(87.9) if s.method == "BYE"] == []
    byes = [s for s in net.advance(0.2) if s.method == "BYE"]
    assert len(byes) == 1 and byes[0].at == 1000.0 + 60.0 + 88.0
    answer(net, byes[0], 200)
    assert handler.ended == [("call-1", EndReason.SESSION_EXPIRED)]
    assert net.endpoint.active_calls == 0


def test_a_reinvite_from_the_caller_also_refreshes() -> None:
    net, handler, _ = answered([*TIMER, ("Session-Expires", "90;refresher=uac")])
    call = confirm(net, handler)
    net.advance(50.0)
    asked = [*TIMER, ("Session-Expires", "90;refresher=uac")]
    reinvite = sip_request("INVITE", branch="z9hG4bK-re", cseq=2, to_tag=call.local_tag, body=OFFER_SDP,
                           content_type="application/sdp", headers=asked)
    ok = net.inject(reinvite)[-1]
    assert (ok.status, ok.header("session-expires")) == (200, "90;refresher=uac")
    net.inject(sip_request("ACK", branch="z9hG4bK-ack2", cseq=2, to_tag=call.local_tag))
    assert [s for s in net.advance(59.0) if s.method == "BYE"] == []  # the old lease would be over
    assert first_bye_at(net.advance(2.0)) == 1000.0 + 50.0 + 60.0  # 90 s after the refresh, less 30


def test_as_refresher_we_send_update_at_half_the_interval_and_bye_when_it_is_unanswered() -> None:
    net, handler, _ = answered([*TIMER, *ALLOW_UPDATE, ("Session-Expires", "200")])
    call = confirm(net, handler)
    assert net.advance(99.0) == []
    (update,) = net.advance(1.0)
    assert update.method == "UPDATE" and update.at == 1100.0
    assert update.header("session-expires") == "200;refresher=uas"
    assert update.msg.body == b""  # RFC 3311: an UPDATE refresh needs no offer
    answer(net, update, 200)
    assert call.state is CallState.CONFIRMED
    # The next refresh is due 100 s after that answer; the caller is gone now: Timer F, then BYE.
    sent = net.advance(100.0 + 32.0)
    assert [s.method for s in sent if s.at == 1200.0] == ["UPDATE"]
    assert sent[-1].method == "BYE"
    net.advance(40.0)  # the BYE goes unanswered too
    assert handler.ended == [("call-1", EndReason.SESSION_EXPIRED)]
    assert net.endpoint.active_calls == 0 and net.endpoint.tracked_transactions == 0


def test_the_invite_is_let_go_at_the_ack_and_its_allow_still_picks_the_refresh() -> None:
    """A confirmed call keeps no parsed INVITE (the largest thing a call held: ~3.5 KiB of
    the ~15 KiB per call in flight), yet the caller's Allow still says UPDATE."""
    net, handler, _ = answered([*TIMER, ("Allow", "INVITE, ACK"), ("Allow", "BYE, update"),
                                ("Session-Expires", "200")])
    call = handler.calls[0]
    assert call.invite is not None  # answerable until the ACK
    confirm(net, handler)
    assert call.invite is None and call.ok_response is None
    (update,) = net.advance(100.0)
    assert update.method == "UPDATE"


def test_a_refresh_answered_481_ends_the_call() -> None:
    net, handler, _ = answered([*TIMER, *ALLOW_UPDATE, ("Session-Expires", "90")])
    confirm(net, handler)
    (update,) = net.advance(45.0)
    out = answer(net, update, 481)
    assert [s.method for s in out] == ["BYE"]
    answer(net, out[0], 481)
    assert handler.ended == [("call-1", EndReason.SESSION_EXPIRED)]


def test_a_refused_refresh_is_not_fatal_but_the_lease_still_runs_out() -> None:
    net, handler, _ = answered([*TIMER, *ALLOW_UPDATE, ("Session-Expires", "90")])
    call = confirm(net, handler)
    (update,) = net.advance(45.0)
    assert answer(net, update, 491) == []  # glare: the call goes on
    assert call.state is CallState.CONFIRMED
    assert first_bye_at(net.advance(20.0)) == 1000.0 + 90.0 - 30.0


def test_without_update_in_allow_we_refresh_with_a_reinvite_and_ack_its_200() -> None:
    net, handler, _ = answered([*TIMER, ("Session-Expires", "90")])
    confirm(net, handler)
    (reinvite,) = net.advance(45.0)
    assert reinvite.method == "INVITE" and reinvite.msg.text == ANSWER_SDP  # our SDP again, unchanged
    assert reinvite.header("content-type") == "application/sdp"
    (ack,) = answer(net, reinvite, 200)
    assert ack.method == "ACK"
    assert (ack.header("cseq") or "").split()[0] == (reinvite.header("cseq") or "").split()[0]
    assert (ack.header("via") or "") != (reinvite.header("via") or "")  # a new transaction (§13.2.2.4)
    assert [s for s in net.advance(44.0) if s.method == "BYE"] == []
    assert [s.method for s in net.advance(1.0)] == ["INVITE"]  # the next refresh, 45 s later


def test_a_refresh_below_min_se_gets_422_and_the_lease_is_unchanged() -> None:
    net, handler, _ = answered([*TIMER, ("Session-Expires", "120;refresher=uac")])
    call = confirm(net, handler)
    out = net.inject(peer_request(call, "UPDATE", 2, [*TIMER, ("Session-Expires", "30")]))
    assert [(s.status, s.header("min-se")) for s in out] == [(422, "90")]
    assert first_bye_at(net.advance(100.0)) == 1000.0 + 88.0


def test_an_ended_call_leaves_its_session_timer_harmless() -> None:
    net, handler, _ = answered([*TIMER, ("Session-Expires", "90;refresher=uac")])
    call = confirm(net, handler)
    net.inject(peer_request(call, "BYE", 2))
    assert handler.ended == [("call-1", EndReason.CALLER_HANGUP)]
    assert net.advance(200.0) == []
    assert net.endpoint.next_deadline() is None


@given(
    asked=st.one_of(st.none(), st.integers(min_value=0, max_value=100_000)),
    request_min_se=st.one_of(st.none(), st.integers(min_value=0, max_value=100_000)),
    refresher=st.sampled_from(["", ";refresher=uac", ";refresher=uas", ";refresher=bogus"]),
    supports=st.booleans(),
    ours=st.sampled_from([0, 90, 1800, 7200]),
    our_min=st.sampled_from([90, 120, 600]),
)
def test_negotiation_never_breaks_the_rfc_bounds(
    asked: int | None, request_min_se: int | None, refresher: str, supports: bool, ours: int, our_min: int
) -> None:
    headers = [("Supported", "timer")] if supports else []
    if asked is not None:
        headers.append(("Session-Expires", f"{asked}{refresher}"))
    if request_min_se is not None:
        headers.append(("Min-SE", str(request_min_se)))
    msg = SipMessage.parse(sip_request("INVITE", headers=headers))
    result = negotiate(msg, SessionTimerPolicy(session_expires=ours, min_se=our_min))
    floor = max(90, our_min, request_min_se or 0)
    if isinstance(result, TooSmall):  # only to a UAC that can retry, and only for a too-small ask
        assert supports and asked is not None and asked < floor and result.min_se == floor
    elif result is None:
        assert ours == 0 and asked is None
    else:
        assert result.interval >= floor  # §4/§9: never below any Min-SE nor 90 s
        if asked is not None and asked >= floor:
            assert result.interval == asked  # §9: copied, never increased
        if not supports:
            assert result.refresher == "uas" and ("Require", "timer") not in result.response_headers()


def test_a_refused_reinvite_refresh_is_acked_on_its_own_transaction() -> None:
    net, handler, _ = answered([*TIMER, ("Session-Expires", "90")])
    confirm(net, handler)
    (reinvite,) = net.advance(45.0)
    (ack,) = answer(net, reinvite, 491)
    assert ack.method == "ACK" and ack.header("via") == reinvite.header("via")  # §17.1.1.3: same branch
    assert (ack.header("cseq") or "").split() == [(reinvite.header("cseq") or "").split()[0], "ACK"]
    assert ack.msg.uri == reinvite.msg.uri and ack.header("to") == reinvite.header("to")
