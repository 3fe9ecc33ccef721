"""Server transaction matching, RFC 3261 §17.2.3: branch + sent-by + method, the ACK and CANCEL
rules, and the RFC 2543 fallback for branches without the magic cookie (sans-I/O, FakeClock)."""

from __future__ import annotations

from tui_engine.sip import EndReason
from tui_engine.testing.sip_fake import OFFER_SDP, FakeSipNetwork, RecordingHandler, sip_request

ALICE = ("127.0.0.1", 5070)
BOB = ("127.0.0.2", 5080)


def net_and_handler() -> tuple[FakeSipNetwork, RecordingHandler]:
    handler = RecordingHandler()
    return FakeSipNetwork(handler), handler


def test_same_branch_from_two_sent_bys_is_two_transactions_each_answered_to_its_sender() -> None:
    """Before: Bob's OPTIONS was taken for a retransmission of Alice's and her 200 went to her again."""
    net, _ = net_and_handler()
    first = net.inject(sip_request("OPTIONS", branch="z9hG4bKsame", source=ALICE), source=ALICE)
    second = net.inject(sip_request("OPTIONS", branch="z9hG4bKsame", source=BOB), source=BOB)
    assert [(s.status, s.addr) for s in first] == [(200, ALICE)]
    assert [(s.status, s.addr) for s in second] == [(200, BOB)]
    assert BOB[0] in (second[0].header("via") or "")
    assert net.endpoint.tracked_transactions == 2


def test_a_retransmission_from_the_same_sent_by_is_absorbed() -> None:
    net, _ = net_and_handler()
    first = net.inject(sip_request("OPTIONS", branch="z9hG4bKsame"))
    again = net.inject(sip_request("OPTIONS", branch="z9hG4bKsame"))
    assert [s.data for s in again] == [first[0].data]
    assert net.endpoint.tracked_transactions == 1


def test_same_branch_and_sent_by_but_another_method_is_another_transaction() -> None:
    net, handler = net_and_handler()
    net.inject(sip_request("INVITE", body=OFFER_SDP, content_type="application/sdp"))
    out = net.inject(sip_request("OPTIONS", call_id="call-1", cseq=2))  # same default branch
    assert [s.summary() for s in out] == ["200 OPTIONS"]
    assert len(handler.calls) == 1


def test_cancel_from_another_sent_by_does_not_cancel_the_invite() -> None:
    net, handler = net_and_handler()
    net.inject(sip_request("INVITE", body=OFFER_SDP, content_type="application/sdp"))
    handler.calls[0].ringing()
    stranger = net.inject(sip_request("CANCEL", source=BOB), source=BOB)
    assert [s.summary() for s in stranger] == ["481 CANCEL"]
    assert handler.ended == []
    own = net.inject(sip_request("CANCEL"))
    assert [s.summary() for s in own] == ["200 CANCEL", "487 INVITE"]


def test_ack_from_another_sent_by_does_not_stop_the_non_2xx_retransmission() -> None:
    net, handler = net_and_handler()
    net.inject(sip_request("INVITE", body=OFFER_SDP, content_type="application/sdp"))
    handler.calls[0].reject(486)
    tag = handler.calls[0].local_tag
    assert net.inject(sip_request("ACK", source=BOB, to_tag=tag), source=BOB) == []
    assert [s.status for s in net.advance(0.6)] == [486]  # Timer G still runs
    net.inject(sip_request("ACK", to_tag=tag))
    assert net.advance(10.0) == []


def rfc2543(method: str, **kw: object) -> bytes:
    """A request of an RFC 2543 client: no branch at all in its Via."""
    return sip_request(method, via_params="", **kw).replace(b";branch=z9hG4bK-1", b"")  # type: ignore[arg-type]


def test_rfc2543_invite_retransmission_cancel_and_ack_match_by_the_fallback_fields() -> None:
    net, handler = net_and_handler()
    invite = rfc2543("INVITE", body=OFFER_SDP, content_type="application/sdp")
    assert b"branch" not in invite
    assert [s.status for s in net.inject(invite)] == [100]
    assert [s.status for s in net.inject(invite)] == [100]  # a retransmission, not a second call
    handler.calls[0].ringing()
    cancel = net.inject(rfc2543("CANCEL"))
    assert [s.summary() for s in cancel] == ["200 CANCEL", "487 INVITE"]
    assert handler.ended == [("call-1", EndReason.CANCELLED)]
    net.inject(rfc2543("ACK", to_tag=handler.calls[0].local_tag))
    assert net.advance(10.0) == []  # the ACK matched: no more 487s


def test_rfc2543_requests_that_differ_in_a_fallback_field_are_different_transactions() -> None:
    net, handler = net_and_handler()
    net.inject(rfc2543("INVITE", body=OFFER_SDP, content_type="application/sdp"))
    handler.calls[0].ringing()
    other_uri = net.inject(rfc2543("CANCEL", uri="sip:999@127.0.0.1:5060"))
    other_cseq = net.inject(rfc2543("CANCEL", cseq=7))
    assert [s.summary() for s in other_uri + other_cseq] == ["481 CANCEL", "481 CANCEL"]
    assert handler.ended == []
