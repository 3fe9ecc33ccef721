"""The endpoint's one deadline heap: stale entries of ended calls do not pile up.

Every call's RFC 4028 lease is due at half the session interval (15 min by default); a call that
ends stops it, and its heap entry used to stay until then (90 000 of them at 100 calls/s)."""

from __future__ import annotations

import pytest

from tui_engine.sip import scheduler
from tui_engine.sip.scheduler import DeadlineHeap
from tui_engine.testing.sip_fake import ANSWER_SDP, OFFER_SDP, FakeSipNetwork, RecordingHandler, sip_request


class _Item:
    def __init__(self, deadline: float) -> None:
        self.deadline: float | None = deadline
        self.call_id = None
        self.fired: list[float] = []

    def on_timer(self, now: float) -> None:
        self.fired.append(now)


def test_stopped_deadlines_far_ahead_leave_the_heap_and_live_ones_still_fire_in_order() -> None:
    heap = DeadlineHeap()
    compact_after = getattr(scheduler, "COMPACT_AFTER", 1024)
    live = [_Item(10_000.0 + i) for i in range(100)]
    for item in live:
        heap.push(item)
    for i in range(20 * compact_after):  # calls that end: their lease stopped, due much later
        item = _Item(900.0 + i)
        heap.push(item)
        item.deadline = None
        assert len(heap) <= 2 * (len(live) + compact_after)
    moved = live[0]
    moved.deadline = 5.0  # a live one moved earlier: both of its entries are there, one stale
    heap.push(moved)
    assert heap.next_deadline() == 5.0
    due = heap.pop_due(20_000.0)
    assert due == [moved, *live[1:]]


def test_ended_calls_do_not_keep_their_session_timers_in_the_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler, "COMPACT_AFTER", 16, raising=False)
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)  # the default policy: 1800 s, we refresh at 900 s
    for i in range(40):  # a call every 10 s: the newest ones' transactions are always ahead
        call_id = f"call-{i}"
        net.inject(sip_request("INVITE", call_id=call_id, branch=f"z9hG4bK-i{i}", body=OFFER_SDP,
                               content_type="application/sdp"))
        tag = handler.calls[-1].local_tag
        net.inject(sip_request("ACK", call_id=call_id, branch=f"z9hG4bK-a{i}", to_tag=tag))
        net.inject(sip_request("BYE", call_id=call_id, branch=f"z9hG4bK-b{i}", cseq=2, to_tag=tag))
        net.advance(10.0)
    assert len(handler.ended) == 40 and net.endpoint.active_calls == 0
    entries = net.endpoint.heap._heap
    stale = [item for when, _, item in entries if item.deadline != when]
    assert len(stale) <= 16  # before: 40 stopped leases, each kept until its 900 s
