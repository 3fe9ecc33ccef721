"""Overload control at the SIP endpoint (FakeClock, fake network): 503 + Retry-After before any
SDP or RTP work, and a retransmitted INVITE of a refused call absorbed by its transaction.

Every test runs twice: with the admission hook alone (the full parse of each INVITE), and with
the shedding hook too, as the telephony component wires it (refusals read from a quick look at
the headers, ``sip/shed.py``): the caller must not be able to tell them apart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from structlog.testing import capture_logs

import tui_engine.sip.endpoint as endpoint_module
from tui_engine.core.clock import FakeClock
from tui_engine.core.overload import BACKLOG_LIMIT, BACKLOG_WINDOW, MIN_RATE, OverloadDetector, OverloadPolicy
from tui_engine.sip import EndReason, ServerCall
from tui_engine.sip.session_timer import SessionTimerPolicy
from tui_engine.testing.sip_fake import ANSWER_SDP, OFFER_SDP, FakeSipNetwork, RecordingHandler, sip_request
from tui_engine.tui.admission import CallAdmission


@dataclass
class SetupTracking(RecordingHandler):
    """Keeps ``admission.in_setup`` as the telephony component does: in at INVITE, out at ACK or end."""

    admission: CallAdmission | None = None
    ports: list[int] = field(default_factory=lambda: [10])
    queued: list[int] = field(default_factory=lambda: [0])  #: bytes unread in the SIP socket
    clock: FakeClock = field(default_factory=lambda: FakeClock(0.0))  #: the network's (overloadable)

    def incoming_call(self, call: ServerCall) -> None:
        assert self.admission is not None
        self.admission.admit(call.call_id, self.clock.now())
        super().incoming_call(call)

    def call_confirmed(self, call: ServerCall) -> None:
        assert self.admission is not None
        self.admission.in_setup.discard(call.call_id)
        super().call_confirmed(call)

    def call_ended(self, call: ServerCall, reason: EndReason) -> None:
        assert self.admission is not None
        self.admission.in_setup.discard(call.call_id)
        super().call_ended(call, reason)


Overloadable = tuple[FakeSipNetwork, SetupTracking, list[str]]
_QUICK = {"on": False}


@pytest.fixture(autouse=True, params=["full parse", "quick path"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    _QUICK["on"] = request.param == "quick path"
    yield request.param
    _QUICK["on"] = False


def overloadable(*, max_lag: float = 0.05, max_setup: int = 1) -> Overloadable:
    handler = SetupTracking(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    handler.clock = net.clock
    policy = OverloadPolicy(max_lag=max_lag, max_calls_in_setup=max_setup)
    detector = OverloadDetector(policy, now=net.clock.now())
    handler.admission = CallAdmission(detector, lambda: handler.ports[0], lambda: handler.queued[0])
    net.endpoint.admission = handler.admission
    if _QUICK["on"]:
        net.endpoint.shedding = handler.admission.shedding
    refused: list[str] = []
    net.endpoint.on_refused = refused.append
    return net, handler, refused


def invite(call_id: str) -> bytes:
    return sip_request("INVITE", call_id=call_id, branch=f"z9hG4bK-{call_id}", body=OFFER_SDP,
                       content_type="application/sdp")


def ack(call_id: str, to_tag: str) -> bytes:
    return sip_request("ACK", call_id=call_id, branch=f"z9hG4bK-{call_id}", to_tag=to_tag)


def to_tag(sent: object) -> str:
    header = sent.header("to")  # type: ignore[attr-defined]
    assert header is not None
    return str(header).split("tag=")[1]


def test_calls_in_setup_limit_refuses_with_503_before_the_application_sees_the_call() -> None:
    net, handler, refused = overloadable(max_setup=1)
    first = net.inject(invite("a"))
    assert [s.summary() for s in first] == ["100 INVITE", "200 INVITE"]
    with capture_logs() as logs:
        out = net.inject(invite("b"))
    assert [s.status for s in out] == [503]  # no 100 Trying: no work started
    assert out[0].header("retry-after") == "5"
    assert [c.call_id for c in handler.calls] == ["a"]  # the SDP of b was never looked at
    assert refused == ["calls-in-setup"]
    assert [e["reason"] for e in logs if e["event"] == "sip.rejected"] == ["calls-in-setup"]
    assert net.endpoint.active_calls == 1

    # a's ACK: it leaves set-up, and the next INVITE is taken
    assert net.inject(ack("a", to_tag(first[1]))) == []
    assert handler.admission is not None and handler.admission.in_setup == set()
    assert [s.summary() for s in net.inject(invite("c"))] == ["100 INVITE", "200 INVITE"]
    assert [c.call_id for c in handler.calls] == ["a", "c"]


def test_a_retransmitted_invite_of_a_refused_call_gets_the_same_503_and_no_new_work() -> None:
    net, handler, refused = overloadable(max_setup=1)
    net.inject(invite("a"))
    [refusal] = net.inject(invite("b"))
    with capture_logs() as logs:
        again = net.inject(invite("b"))  # the caller's Timer A fired (RFC 3261 §17.1.1.2)
        later = net.advance(0.4) + net.inject(invite("b"))
    assert [s.data for s in again] == [refusal.data]  # byte for byte, from the transaction
    assert refusal.data in [s.data for s in later]
    assert [c.call_id for c in handler.calls] == ["a"]
    assert refused == ["calls-in-setup"]  # counted once, not per retransmission
    assert not [e for e in logs if e["event"] in ("sip.rejected", "sip.invite")]
    # the caller's ACK of the 503 ends the retransmissions; Timer I then forgets the transaction
    net.take()
    assert net.inject(ack("b", to_tag(refusal))) == []
    net.advance(10.0)
    assert not [s for s in net.take() if s.data == refusal.data]
    assert ("z9hG4bK-b", "INVITE") not in net.endpoint.server_txs
    assert "b" not in net.endpoint.calls


def test_sustained_loop_lag_refuses_and_recovery_admits_again() -> None:
    net, handler, refused = overloadable(max_lag=0.05, max_setup=0)
    assert handler.admission is not None
    detector = handler.admission.detector
    for _ in range(5):  # the driver wakes the probe 200 ms late, five times
        deadline = detector.next_deadline()
        assert deadline is not None
        net.clock.set(deadline + 0.2)
        detector.poll(net.clock.now())
    assert [s.status for s in net.inject(invite("x"))] == [503]
    assert refused == ["loop-lag"]
    while detector.overloaded:  # the loop catches up
        deadline = detector.next_deadline()
        assert deadline is not None
        net.clock.set(deadline)
        detector.poll(net.clock.now())
    assert [s.status for s in net.inject(invite("y"))] == [100, 200]
    assert [c.call_id for c in handler.calls] == ["y"]


def test_no_free_rtp_port_refuses_before_answering() -> None:
    net, handler, refused = overloadable(max_setup=0)
    handler.ports[0] = 0
    assert [s.status for s in net.inject(invite("p"))] == [503]
    assert refused == ["rtp-ports"] and handler.calls == []
    handler.ports[0] = 1
    assert [s.status for s in net.inject(invite("q"))] == [100, 200]


def test_max_calls_is_counted_as_a_refusal_too() -> None:
    handler = RecordingHandler()
    net = FakeSipNetwork(handler, max_calls=1)
    refused: list[str] = []
    net.endpoint.on_refused = refused.append
    net.inject(invite("a"))
    assert [s.status for s in net.inject(invite("b"))] == [503]
    assert refused == ["max-calls"]


def test_retransmitted_invites_are_reported_and_shed_new_calls_as_late_answers() -> None:
    net, handler, refused = overloadable(max_lag=0.05, max_setup=0)
    assert handler.admission is not None
    net.endpoint.on_invite_retransmission = handler.admission.retransmitted_invite
    for n in range(10):  # ten calls, and each INVITE arrives twice: the caller heard us too late
        net.inject(invite(f"r{n}"))
        net.inject(invite(f"r{n}"))
    assert len(handler.calls) == 10  # retransmissions make no call
    detector = handler.admission.detector
    deadline = detector.next_deadline()
    assert deadline is not None
    net.clock.set(deadline)
    assert detector.poll(net.clock.now())  # the probe judges the interval
    assert [s.status for s in net.inject(invite("late"))] == [503]
    assert refused == ["late-answers"]


def _reads(monkeypatch: pytest.MonkeyPatch, name: str = "parse_datagram") -> list[bytes]:
    """The datagrams the endpoint gives its reader ``name`` from now on: its full parser
    (``parse_datagram``) or the quick read of ``sip/shed.py`` (``quick_request``)."""
    seen: list[bytes] = []
    reader = getattr(endpoint_module, name)

    def counting(data: bytes) -> object:
        seen.append(data)
        return reader(data)

    monkeypatch.setattr(endpoint_module, name, counting)
    return seen


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    return _reads(monkeypatch)


def test_under_overload_refusing_its_retransmission_and_its_ack_need_no_full_parse(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    net, handler, refused = overloadable(max_setup=1)
    net.inject(invite("a"))
    parsed = _parses(monkeypatch)
    [refusal] = net.inject(invite("b"))
    assert [s.data for s in net.inject(invite("b"))] == [refusal.data]
    net.take()
    assert net.inject(ack("b", to_tag(refusal))) == []
    net.advance(10.0)
    assert not [s for s in net.take() if s.data == refusal.data]  # the ACK stopped Timer G
    assert refused == ["calls-in-setup"] and [c.call_id for c in handler.calls] == ["a"]
    assert len(parsed) == (0 if path == "quick path" else 2)  # ACKs are always read quickly


def test_the_ack_of_a_2xx_confirms_the_call_without_a_full_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    net, handler, _ = overloadable(max_setup=5)
    [_, ok] = net.inject(invite("a"))
    net.take()
    parsed = _parses(monkeypatch)
    assert net.inject(ack("a", to_tag(ok))) == []
    assert [c.call_id for c in handler.confirmed] == ["a"] and parsed == []
    net.advance(5.0)
    assert not [s for s in net.take() if s.status == 200 and s.data == ok.data]  # no 2xx resent


def test_the_quick_refusal_is_the_full_paths_answer(path: str) -> None:
    """Same Vias (the top one stamped with received/rport, RFC 3581), From, To with a tag,
    Call-ID, CSeq, Retry-After and Server, sent to the same address."""
    net, _, _ = overloadable(max_setup=1)
    net.inject(invite("a"))
    [refusal] = net.inject(sip_request("INVITE", call_id="b", branch="z9hG4bK-b", body=OFFER_SDP,
                                       content_type="application/sdp", via_params=";rport;x=1"),
                           source=("127.0.0.1", 5999))
    assert refusal.status == 503 and refusal.addr == ("127.0.0.1", 5999)
    via = refusal.header("via")
    assert via is not None and "rport=5999" in via and "received=127.0.0.1" in via and ";x=1" in via
    assert refusal.header("retry-after") == "5" and refusal.header("server") == "tui-engine/0.1"
    assert refusal.header("call-id") == "b" and refusal.header("cseq") == "1 INVITE"
    assert "tag=caller-tag" in (refusal.header("from") or "") and to_tag(refusal)


def test_an_unusual_invite_under_overload_takes_the_full_path_and_is_refused_too(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    net, _, refused = overloadable(max_setup=1)
    net.inject(invite("a"))
    folded = invite("b").replace(b"\r\nCall-ID:", b"\r\nSubject: one\r\n two\r\nCall-ID:", 1)
    parsed = _parses(monkeypatch)
    assert [s.status for s in net.inject(folded)] == [503]
    assert refused == ["calls-in-setup"] and len(parsed) == 1


def test_a_backlog_in_the_socket_takes_calls_at_a_rate_and_refuses_the_rest_with_503() -> None:
    """Behind a backlog, with its window of calls in set-up, calls come in at the admission rate
    (the detector's token bucket, here at its floor: no call has left set-up yet); the rest get
    503. Below the window, or once the socket is read down, every call comes in."""
    net, handler, refused = overloadable(max_setup=0)
    assert handler.admission is not None
    handler.admission.in_setup.update(f"held-{i}" for i in range(BACKLOG_WINDOW))  # awaiting ACKs
    handler.queued[0] = BACKLOG_LIMIT + 1
    assert [s.status for s in net.inject(invite("a"))] == [100, 200]  # the bucket's one token
    [refusal] = net.inject(invite("b"))
    assert refusal.status == 503 and refusal.header("retry-after") == "5"
    assert refused == ["socket-backlog"] and [c.call_id for c in handler.calls] == ["a"]
    net.advance(1.01 / MIN_RATE)  # the next token of the floor rate
    assert [s.status for s in net.inject(invite("c"))] == [100, 200]
    assert [s.status for s in net.inject(invite("d"))] == [503]
    handler.admission.in_setup.difference_update({"held-0", "held-1", "held-2", "a", "c"})
    assert [s.status for s in net.inject(invite("e"))] == [100, 200]  # below the window
    handler.queued[0] = 0
    assert [s.status for s in net.inject(invite("f"))] == [100, 200]
    assert [c.call_id for c in handler.calls] == ["a", "c", "e", "f"]
    assert refused == ["socket-backlog"] * 2


def test_a_quick_refusal_is_stateless_never_resent_and_its_ack_is_not_read(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 3261 §8.2.7 on the quick path: no transaction and no timer for it; a retransmission
    gets the same 503; the ACK is ignored (found by its Via and Call-ID, not read). The full
    path (an INVITE of unusual shape) keeps its INVITE server transaction and Timer G."""
    quick = path == "quick path"
    net, handler, refused = overloadable(max_setup=1)
    net.inject(invite("a"))
    before = net.endpoint.tracked_transactions
    [refusal] = net.inject(invite("b"))
    assert refusal.status == 503
    assert net.endpoint.tracked_transactions == before + (0 if quick else 1)
    resent = [s for s in net.advance(5.0) if s.data == refusal.data]
    assert (resent == []) == quick  # no Timer G when stateless
    assert [s.data for s in net.inject(invite("b"))] == [refusal.data]
    reads = _reads(monkeypatch, "quick_request")
    assert net.inject(ack("b", to_tag(refusal))) == []
    assert (reads == []) == quick and len(net.endpoint.refusals) == 0
    assert refused == ["calls-in-setup"] and [c.call_id for c in handler.calls] == ["a"]


def test_a_refused_invite_repeated_once_the_overload_is_over_is_refused_again(path: str) -> None:
    net, handler, refused = overloadable(max_setup=1)
    [_, ok] = net.inject(invite("a"))
    [refusal] = net.inject(invite("b"))
    net.inject(ack("a", to_tag(ok)))  # a is confirmed: no call in set-up, no overload
    assert [s.data for s in net.inject(invite("b"))] == [refusal.data]  # not admitted now
    assert [c.call_id for c in handler.calls] == ["a"] and refused == ["calls-in-setup"]
    assert [s.status for s in net.inject(invite("c"))] == [100, 200]


def test_a_broken_request_with_a_refused_invites_via_and_call_id_gets_the_full_paths_answer(
    path: str,
) -> None:
    net, _, _ = overloadable(max_setup=1)
    net.inject(invite("a"))
    net.inject(invite("b"))
    broken = invite("b").replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE")
    assert [s.status for s in net.inject(broken)] == [400]


def test_a_flood_of_refusals_is_logged_once_then_summed_up_each_second(path: str) -> None:
    net, _, refused = overloadable(max_setup=1)
    net.inject(invite("a"))
    with capture_logs() as logs:
        for n in range(20):
            assert [s.status for s in net.inject(invite(f"f{n}"))] == [503]
        net.advance(1.0)
        net.advance(1.5)
        assert [s.status for s in net.inject(invite("later"))] == [503]
    assert refused == ["calls-in-setup"] * 21  # the metric counts every one
    rejected = [e for e in logs if e["event"] == "sip.rejected"]
    assert len(rejected) == 2  # the first, and the first after a quiet second: in full
    [summary] = [e for e in logs if e["event"] == "sip.rejected_summary"]
    assert summary["refused"] == 19 and summary["reasons"] == {"calls-in-setup": 19}


def test_under_a_backlog_the_socket_is_read_once_per_invite(path: str) -> None:
    net, handler, _ = overloadable(max_setup=0)
    assert handler.admission is not None
    handler.admission.in_setup.update(f"held-{i}" for i in range(BACKLOG_WINDOW))
    reads: list[int] = []
    handler.admission._queued = lambda: reads.append(1) or BACKLOG_LIMIT + 1  # type: ignore[misc]
    statuses = [[s.status for s in net.inject(invite(f"q{n}"))] for n in range(4)]
    assert statuses == [[100, 200], [503], [503], [503]]  # the admission rate's one token, then 503
    assert len(reads) == 4  # the endpoint's peek and its admission share one reading


def test_behind_a_backlog_an_invite_refused_with_422_takes_no_token() -> None:
    """Review 6: the admission took its token when it said yes, before the endpoint refused the
    INVITE for its own reasons (422, Session-Expires below our Min-SE): behind a backlog each such
    INVITE spent the token of a call that could come in (and counted as a call taken)."""
    net, handler, refused = overloadable(max_setup=0)
    net.endpoint.session_policy = SessionTimerPolicy(session_expires=1800, min_se=120)
    assert handler.admission is not None
    handler.admission.in_setup.update(f"held-{i}" for i in range(BACKLOG_WINDOW))  # awaiting ACKs
    handler.queued[0] = BACKLOG_LIMIT + 1
    short = sip_request("INVITE", call_id="short", branch="z9hG4bK-short", body=OFFER_SDP,
                        content_type="application/sdp",
                        headers=[("Supported", "timer"), ("Session-Expires", "100")])
    assert [s.status for s in net.inject(short)] == [422]
    assert [s.status for s in net.inject(invite("a"))] == [100, 200]  # the bucket's one token
    assert [s.status for s in net.inject(invite("b"))] == [503]
    assert refused == ["socket-backlog"] and [c.call_id for c in handler.calls] == ["a"]
