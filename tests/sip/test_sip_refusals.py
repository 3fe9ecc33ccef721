"""The stateless refusals of overload (``sip/refusals.py``, RFC 3261 §8.2.7): keyed by the top Via
and Call-ID as sent, a retransmission only when it is the same bytes, bounded in time and number,
one To tag per request; and the refusal log that sums a flood up once a second."""

from __future__ import annotations

from structlog.testing import capture_logs

from tui_engine.sip.refusals import RefusalLog, StatelessRefusals, refusal_key
from tui_engine.testing.sip_fake import ANSWER_SDP, OFFER_SDP, FakeSipNetwork, RecordingHandler, sip_request

INVITE = sip_request("INVITE", call_id="k1", branch="z9hG4bK-k1", body="v=0\r\n",
                     content_type="application/sdp")
ACK = sip_request("ACK", call_id="k1", branch="z9hG4bK-k1", to_tag="t1")
ADDR = ("127.0.0.1", 5062)


def test_an_invite_and_the_ack_of_its_refusal_have_one_key_other_transactions_another() -> None:
    key = refusal_key(INVITE)
    assert key is not None and key == refusal_key(ACK)
    assert b"z9hG4bK-k1" in key and key.endswith(b"\nk1")
    assert refusal_key(sip_request("INVITE", call_id="k1", branch="z9hG4bK-k2")) != key  # new branch
    assert refusal_key(sip_request("INVITE", call_id="k2", branch="z9hG4bK-k1")) != key  # reused branch


def test_other_spellings_have_no_key_and_keep_their_transaction() -> None:
    assert refusal_key(INVITE.replace(b"\r\nVia: ", b"\r\nv: ")) is None
    for top in (b"v: SIP/2.0/UDP p;branch=z9hG4bKp", b"VIA: SIP/2.0/UDP p;branch=z9hG4bKp"):
        assert refusal_key(INVITE.replace(b"\r\nVia: ", b"\r\n" + top + b"\r\nVia: ", 1)) is None
    assert refusal_key(INVITE.replace(b"\r\nCall-ID: ", b"\r\ni: ")) is None
    assert refusal_key(INVITE.replace(b"\r\nCall-ID: ", b"\r\nCALL-ID: ")) is None
    assert refusal_key(INVITE.split(b"\r\n\r\n")[0]) is None  # no end of the header block
    body_only = INVITE.replace(b"\r\nVia: ", b"\r\nX-Via: ") + b"\r\nVia: SIP/2.0/UDP x\r\n"
    assert refusal_key(body_only) is None  # a Via in the body is no Via


def test_a_retransmission_is_the_same_bytes_and_counted_as_repeated_once() -> None:
    refusals = StatelessRefusals(lifetime=32.0)
    key = refusal_key(INVITE)
    assert key is not None
    refusals.remember(key, INVITE, b"SIP/2.0 503", ADDR, "UDP", now=0.0)
    first = refusals.repeated(key, INVITE, now=0.5)
    assert first is not None and first.response == b"SIP/2.0 503" and first.addr == ADDR
    assert not first.repeated  # the first copy: the late-answers signal counts it
    again = refusals.repeated(key, INVITE, now=1.5)
    assert again is not None and again.repeated
    changed = INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE")  # same key, another request
    assert refusal_key(changed) == key and refusals.repeated(key, changed, now=1.5) is None


def test_the_ack_forgets_a_refusal_and_an_unknown_ack_is_not_one() -> None:
    refusals = StatelessRefusals()
    key = refusal_key(INVITE)
    assert key is not None
    assert not refusals.acked(key, now=0.0)
    refusals.remember(key, INVITE, b"503", ADDR, "UDP", now=0.0)
    assert refusals.acked(key, now=1.0) and len(refusals) == 0
    assert refusals.repeated(key, INVITE, now=0.1) is None


def test_refusals_expire_after_their_lifetime_and_the_oldest_go_beyond_the_capacity() -> None:
    refusals = StatelessRefusals(capacity=3, lifetime=32.0)
    keys = [f"via-{n}\ncall".encode() for n in range(5)]
    for n, key in enumerate(keys[:4]):
        refusals.remember(key, INVITE + key, b"503", ADDR, "UDP", now=float(n))
    assert len(refusals) == 3
    assert refusals.repeated(keys[0], INVITE + keys[0], now=4.0) is None  # the oldest went first
    assert refusals.repeated(keys[1], INVITE + keys[1], now=4.0) is not None
    assert refusals.repeated(keys[3], INVITE + keys[3], now=35.5) is None  # 32 s after it: gone
    refusals.remember(keys[4], INVITE + keys[4], b"503", ADDR, "UDP", now=40.0)
    assert len(refusals) == 1  # the expired ones are dropped as new ones come


def test_the_to_tag_is_the_same_for_the_same_request_and_unpredictable_across_processes() -> None:
    one, other = StatelessRefusals(secret=b"a" * 16), StatelessRefusals(secret=b"b" * 16)
    key = refusal_key(INVITE)
    assert key is not None
    tag = one.tag(key)
    assert tag == one.tag(key) and len(tag) == 16 and int(tag, 16) >= 0
    assert one.tag(key + b"x") != tag and other.tag(key) != tag


def test_a_flood_of_refusals_is_one_line_then_one_summary_a_second() -> None:
    lines: list[tuple[dict[str, int], float]] = []
    scheduled: list[float | None] = []
    log = RefusalLog(lambda counts, seconds: lines.append((counts, seconds)),
                     lambda item: scheduled.append(item.deadline))
    assert log.refused("socket-backlog", 10.0)  # the first: logged in full
    assert scheduled == [11.0]
    assert not any([log.refused("socket-backlog", 10.1 + n / 100) for n in range(30)])
    assert not log.refused("max-calls", 10.9)
    log.on_timer(11.0)
    assert lines == [({"socket-backlog": 30, "max-calls": 1}, 1.0)] and scheduled == [11.0, 12.0]
    assert not log.refused("loop-lag", 11.5)  # the flood goes on: counted
    log.on_timer(12.0)
    assert lines[-1] == ({"loop-lag": 1}, 1.0)
    log.on_timer(13.0)  # a second with no refusal: no line, and the next is logged in full again
    assert len(lines) == 2 and log.deadline is None
    assert log.refused("loop-lag", 20.0) and scheduled[-1] == 21.0


def test_with_no_room_nothing_is_remembered() -> None:
    refusals = StatelessRefusals(capacity=0)
    refusals.remember(b"via\ncall", INVITE, b"503", ADDR, "UDP", now=0.0)
    assert len(refusals) == 0 and refusals.repeated(b"via\ncall", INVITE, now=0.0) is None


def _endpoint(overloaded: list[bool]) -> tuple[FakeSipNetwork, RecordingHandler]:
    """An endpoint that sheds (as the telephony component wires it) while ``overloaded[0]``."""
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    net.endpoint.admission = lambda now: "loop-lag" if overloaded[0] else None
    net.endpoint.shedding = net.endpoint.admission
    return net, handler


def _request(method: str, cseq: int, *, top: str = "", to_tag: str | None = None) -> bytes:
    """A request of call ``r1`` that keeps one branch (a client that breaks §8.1.1.7, as SIPp's
    and old clients' ACKs of a 2xx do); ``top``: a proxy's Via line above the caller's."""
    data = sip_request(method, call_id="r1", branch="z9hG4bK-r1", cseq=cseq, to_tag=to_tag,
                       body=OFFER_SDP if method == "INVITE" else "",
                       content_type="application/sdp" if method == "INVITE" else None)
    return data.replace(b"\r\nVia: ", f"\r\n{top}\r\nVia: ".encode(), 1) if top else data


def test_the_ack_of_a_call_taken_is_never_absorbed_as_the_ack_of_an_earlier_refusal() -> None:
    """A 503 sent statelessly whose ACK was lost leaves its entry; a new INVITE with the same top
    Via and Call-ID (another CSeq: the caller retrying, or a proxy failing over to us again
    with a new branch of its own above the caller's Via) is taken once the overload is over.
    The ACK of its 2xx, with that same Via, must confirm the call, not be dropped as the ACK of
    the old 503 (it was, and the call waited for the next 2xx retransmission or lost its ACK)."""
    for first, second in ((_request("INVITE", 1), _request("INVITE", 2)),
                          (_request("INVITE", 1, top="v: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKp1"),
                           _request("INVITE", 1, top="v: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKp2"))):
        overloaded = [True]
        net, handler = _endpoint(overloaded)
        assert [s.status for s in net.inject(first)] == [503]  # stateless; its ACK never comes
        overloaded[0] = False
        net.advance(1.0)
        answer = net.inject(second)
        assert [s.status for s in answer] == [100, 200]
        tag = str(answer[1].header("to")).split("tag=")[1]
        cseq = int(second.split(b"CSeq: ")[1].split(b" ")[0])
        ack = _request("ACK", cseq, to_tag=tag)
        if b"\r\nv: " in second:
            ack = ack.replace(b"\r\nVia: ", b"\r\nv: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKp3\r\nVia: ", 1)
        net.inject(ack)
        assert [c.call_id for c in handler.confirmed] == ["r1"]


def test_a_refusal_past_its_lifetime_absorbs_no_ack() -> None:
    refusals = StatelessRefusals(lifetime=32.0)
    key = refusal_key(INVITE)
    assert key is not None
    refusals.remember(key, INVITE, b"503", ADDR, "UDP", now=0.0)
    assert not refusals.acked(key, now=32.0) and len(refusals) == 0


def test_a_request_with_a_refusals_key_but_other_bytes_replaces_it() -> None:
    refusals = StatelessRefusals()
    key = refusal_key(INVITE)
    assert key is not None
    refusals.remember(key, INVITE, b"503", ADDR, "UDP", now=0.0)
    other = INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 2 INVITE")
    assert refusals.repeated(key, other, now=1.0) is None
    assert not refusals.acked(key, now=1.0)  # the new request decides; the old refusal is gone


def test_the_refusals_of_the_last_second_are_summed_up_when_the_endpoint_stops() -> None:
    """``SipServer.stop`` ends with ``abandon()``, which drops the heap and the summary's timer
    with it: the refusals held back in that last second were never logged."""
    net, _ = _endpoint([True])
    with capture_logs() as logs:
        for n in range(3):
            invite = sip_request("INVITE", call_id=f"s{n}", branch=f"z9hG4bK-s{n}", body=OFFER_SDP,
                                 content_type="application/sdp")
            assert [s.status for s in net.inject(invite)] == [503]
        net.advance(0.5)
        net.endpoint.shutdown()
        net.endpoint.abandon()
    assert [e["event"] for e in logs if e["event"].startswith("sip.rejected")] == [
        "sip.rejected", "sip.rejected_summary"]
    [summary] = [e for e in logs if e["event"] == "sip.rejected_summary"]
    assert summary["refused"] == 2 and summary["reasons"] == {"loop-lag": 2}
    assert net.endpoint.refusal_log.deadline is None  # the next refusal is logged in full again


def test_large_invites_are_remembered_within_a_byte_budget_too() -> None:
    """8 192 refusals of 64 KiB INVITEs (and their 503s, which echo the large headers) held a
    gigabyte: the count alone bounded them, not their size."""
    refusals = StatelessRefusals()
    big = INVITE.replace(b"\r\nCall-ID:", b"\r\nSubject: " + b"x" * 60_000 + b"\r\nCall-ID:")
    for n in range(400):
        key = f"via-{n}\ncall".encode()
        refusals.remember(key, big + key, b"503 " + b"y" * 30_000, ADDR, "UDP", now=n / 100)
    assert 0 < len(refusals) * (len(big) + 30_000) <= 16 * 1024 * 1024
    assert refusals.repeated(b"via-399\ncall", big + b"via-399\ncall", now=4.0) is not None  # the newest stay
    for n in range(400):
        refusals.acked(f"via-{n}\ncall".encode(), now=4.0)
    assert len(refusals) == 0 and refusals.nbytes == 0
