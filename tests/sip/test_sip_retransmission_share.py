"""The "late answers" overload signal (INVITE retransmissions) cannot be driven by one peer.

A retransmission says the caller heard nothing from us within T1. A stranger (only ever 403) or a
single caller resending one INVITE at line rate says nothing about our load, yet each copy was
counted: ten copies in a probe interval refused every other caller with 503 (late-answers), for
as long as the copies kept coming. Each transaction now counts once, and only from a source
whose calls we take.
"""

from __future__ import annotations

import pytest

from tui_engine.core.overload import OverloadDetector, OverloadPolicy
from tui_engine.testing.sip_fake import CALLER, OFFER_SDP, FakeSipNetwork, RecordingHandler, sip_request
from tui_engine.tui.admission import CallAdmission

STRANGER = ("192.0.2.7", 5060)


def invite(call_id: str) -> bytes:
    return sip_request("INVITE", call_id=call_id, branch=f"z9hG4bK-{call_id}", body=OFFER_SDP,
                       content_type="application/sdp")


@pytest.mark.parametrize("source", [STRANGER, CALLER], ids=["stranger", "one ringing caller"])
def test_one_peer_resending_one_invite_does_not_shed_everyone_else(source: tuple[str, int]) -> None:
    handler = RecordingHandler()  # calls are left ringing: their INVITE transactions stay open
    net = FakeSipNetwork(handler)
    detector = OverloadDetector(OverloadPolicy(max_lag=0.05, max_calls_in_setup=0), now=net.clock.now())
    admission = CallAdmission(detector, lambda: 10)
    net.endpoint.admission = admission
    net.endpoint.on_invite_retransmission = admission.retransmitted_invite
    net.inject(invite("flood"), source)
    for _ in range(50):  # the same INVITE, again and again, within one probe interval
        net.inject(invite("flood"), source)
    deadline = detector.next_deadline()
    assert deadline is not None
    net.clock.set(deadline)
    detector.poll(net.clock.now())
    assert [s.status for s in net.inject(invite("someone-else"))] == [100]
