"""No ghost calls: an INVITE that fails while it is set up leaves no call, slot or timer behind,
and shutdown ends every call with reason ``shutdown`` even when some of them cannot be reached.

Issue 9, "Ghost slots": a Via port outside 0-65535 made the 100 Trying fail after the call was in
the table; it stayed there, held a ``max-calls`` slot and broke the SIGTERM that came later.
"""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from tui_engine.sip import CallState, EndReason
from tui_engine.sip.message import Addr
from tui_engine.testing.sip_fake import (
    ANSWER_SDP,
    CALLER,
    OFFER_SDP,
    FakeSipNetwork,
    RecordingHandler,
    sip_request,
)


def invite(call_id: str, *, via_port: int | None = None, rport: bool = False) -> bytes:
    raw = sip_request(
        "INVITE",
        call_id=call_id,
        branch=f"z9hG4bK-{call_id}",
        body=OFFER_SDP,
        content_type="application/sdp",
        via_params=";rport" if rport else "",
    )
    if via_port is not None:  # the Via says one port, the datagram comes from 5070
        raw = raw.replace(b"UDP 127.0.0.1:5070", f"UDP 127.0.0.1:{via_port}".encode(), 1)
    return raw


class RefusingNetwork(FakeSipNetwork):
    """Like a real socket: ``sendto`` to some destinations raises (unreachable, EPERM...)."""

    refuse: frozenset[Addr] = frozenset()

    def send(self, data: bytes, addr: Addr, transport: str) -> None:
        if addr in self.refuse:
            raise OSError(101, "Network is unreachable")
        super().send(data, addr, transport)


def test_an_invite_whose_via_port_is_out_of_range_leaves_no_call_and_no_slot() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler, max_calls=1)
    with capture_logs() as logs:
        out = net.inject(invite("ghost", via_port=70000))
    assert out == []  # nothing can reach port 70000; nothing is handed to the socket either
    assert net.endpoint.active_calls == 0 and net.endpoint.tracked_transactions == 0
    assert handler.calls == [] and handler.ended == []
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "sip.send_failed",
        "sip.invite_setup_failed",
    ]
    assert net.endpoint.next_deadline() is None
    # The only slot is free: a real call is answered, not refused with 503.
    out = net.inject(invite("real"))
    assert [s.summary() for s in out] == ["100 INVITE", "200 INVITE"]
    assert net.endpoint.active_calls == 1


def test_five_ghosts_do_not_fill_max_calls() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler, max_calls=6)
    for n in range(5):
        net.inject(invite(f"ghost-{n}", via_port=65536 + n))
    assert net.endpoint.active_calls == 0
    for n in range(6):
        assert [s.status for s in net.inject(invite(f"real-{n}"))] == [100, 200]
    assert [s.status for s in net.inject(invite("one-too-many"))] == [503]


def test_a_via_port_out_of_range_with_rport_is_answered_at_the_source() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    out = net.inject(invite("rport", via_port=70000, rport=True))
    assert [(s.status, s.addr) for s in out] == [(100, ("127.0.0.1", 5070)), (200, ("127.0.0.1", 5070))]
    assert net.endpoint.active_calls == 1


def test_a_socket_error_on_the_100_releases_the_call() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = RefusingNetwork(handler, max_calls=1)
    net.refuse = frozenset({CALLER})
    assert net.inject(invite("unreachable")) == []
    assert net.endpoint.active_calls == 0 and handler.calls == []


def confirmed_call(net: FakeSipNetwork, handler: RecordingHandler, call_id: str, port: int) -> None:
    source = ("127.0.0.1", port)
    raw = sip_request(
        "INVITE",
        call_id=call_id,
        branch=f"z9hG4bK-{call_id}",
        source=source,
        body=OFFER_SDP,
        content_type="application/sdp",
    )
    ok = net.inject(raw, source=source)[-1]
    assert ok.status == 200
    to_tag = (ok.header("to") or "").split("tag=")[1]
    net.inject(
        sip_request("ACK", call_id=call_id, branch=f"z9hG4bK-ack-{call_id}", source=source, to_tag=to_tag),
        source=source,
    )
    assert handler.calls[-1].state is CallState.CONFIRMED


def test_shutdown_byes_every_call_with_reason_shutdown_even_when_one_cannot_be_reached() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = RefusingNetwork(handler)
    for n, port in enumerate((5071, 5072, 5073)):
        confirmed_call(net, handler, f"up-{n}", port)
    net.refuse = frozenset({("127.0.0.1", 5072)})  # the second caller's network went away
    net.take()
    net.endpoint.shutdown()  # must not raise
    byes = [s for s in net.take() if s.method == "BYE"]
    assert sorted(s.addr[1] for s in byes) == [5071, 5073]
    assert {c.state for c in handler.calls} == {CallState.ENDING}
    # Unanswered BYEs end on Timer F, still as shutdown (not bye-timeout, not completed).
    net.advance(40.0)
    assert sorted(handler.ended) == [(f"up-{n}", EndReason.SHUTDOWN) for n in range(3)]
    assert net.endpoint.active_calls == 0


def test_abandon_after_shutdown_reports_shutdown_for_calls_still_waiting() -> None:
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    net.inject(invite("ringing"))
    handler.calls[0].ringing()
    net.endpoint.shutdown()
    assert net.sent[-1].status == 503
    assert handler.ended == [("ringing", EndReason.SHUTDOWN)]
    net.endpoint.abandon()
    assert net.endpoint.active_calls == 0 and handler.ended == [("ringing", EndReason.SHUTDOWN)]


def test_a_malformed_request_whose_headers_cannot_be_echoed_is_dropped_not_an_internal_error() -> None:
    """Found by the chaos test: a bare CR inside CSeq made building the 400 raise."""
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    raw = sip_request("INVITE").replace(b"CSeq: 1 INVITE", b"CSeq: 1 \rINV\x00ITE")
    raw = raw.replace(b"Max-Forwards: 70", b"Max")
    with capture_logs() as logs:
        out = net.inject(raw)
    assert out == []
    assert [e["event"] for e in logs] == ["sip.malformed"] and logs[0]["status"] is None
    assert net.endpoint.active_calls == 0


def test_an_answer_that_cannot_be_built_ends_the_call_instead_of_leaving_it_offered() -> None:
    handler = RecordingHandler(auto_answer="v=0\r\n\udcff")  # not encodable: building the 200 raises
    net = FakeSipNetwork(handler, max_calls=1)
    with capture_logs() as logs:
        out = net.inject(invite("broken"))
    assert [s.status for s in out] == [100, 500]
    assert handler.ended == [("broken", EndReason.ERROR)]
    assert net.endpoint.active_calls == 0
    assert "sip.internal_error" in [e["event"] for e in logs]
    handler.auto_answer = ANSWER_SDP
    assert [s.status for s in net.inject(invite("next"))] == [100, 200]  # the slot is free


def test_a_ringing_that_cannot_be_sent_ends_the_call_instead_of_leaving_it_offered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No input builds a 180 that raises today; a fault there (a future header, a bug) must still
    end the call: 500, its slot free, as when the 200 cannot be built."""
    handler = RecordingHandler()
    net = FakeSipNetwork(handler, max_calls=1)
    net.inject(invite("ring-fault"))
    real = net.endpoint.respond_invite

    def respond(call: Any, status: int, *args: Any) -> None:
        if status == 180:
            raise RuntimeError("injected fault")
        real(call, status, *args)

    monkeypatch.setattr(net.endpoint, "respond_invite", respond)
    with capture_logs() as logs:
        handler.calls[0].ringing()
    assert net.sent[-1].status == 500
    assert handler.ended == [("ring-fault", EndReason.ERROR)]
    assert net.endpoint.active_calls == 0
    assert "sip.internal_error" in [e["event"] for e in logs]


@pytest.mark.parametrize("action", ["reject", "redirect"])
def test_a_rejection_that_cannot_be_built_ends_the_call_instead_of_leaving_it_offered(action: str) -> None:
    """Review 6: ``call.reject`` (the 488/503 the TUI sends when the media cannot be set up) and
    ``redirect`` had no guard, unlike the 180 and the 200: a final that raised while being built
    escaped to the application and left the call OFFERED with no timer, holding its max-calls slot
    (and the TUI's in-set-up entry and call info) for ever."""
    handler = RecordingHandler()
    net = FakeSipNetwork(handler, max_calls=1)
    net.inject(invite("reject-fault"))
    call = handler.calls[0]
    with capture_logs() as logs:
        if action == "reject":
            call.reject(486, "Busy \udcff")  # not encodable: building the 486 raises
        else:
            call.redirect("sip:\udcff@example.com")
    assert net.sent[-1].status == 500
    assert handler.ended == [("reject-fault", EndReason.ERROR)]
    assert net.endpoint.active_calls == 0
    assert "sip.internal_error" in [e["event"] for e in logs]
    handler.auto_answer = ANSWER_SDP
    assert [s.status for s in net.inject(invite("next"))] == [100, 200]  # the slot is free
