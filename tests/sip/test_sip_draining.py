"""A stopping engine drains: its calls get their BYE, new INVITEs and OPTIONS probes get 503.

Behind Kamailio's dispatcher that is what moves traffic away at once: a 503 to the INVITE fails
the call over to another engine, a 503 to the OPTIONS probe marks this one down.
"""

from __future__ import annotations

from tui_engine.testing.sip_fake import ANSWER_SDP, OFFER_SDP, FakeSipNetwork, RecordingHandler, sip_request


def test_after_shutdown_live_calls_get_bye_and_new_invites_and_probes_get_503() -> None:
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    net.inject(sip_request("INVITE", body=OFFER_SDP, content_type="application/sdp"))
    handler.calls[0].answer(ANSWER_SDP)
    net.take()
    net.endpoint.shutdown()
    assert [s.method for s in net.take()] == ["BYE"]

    invite = sip_request(
        "INVITE", call_id="call-2", branch="z9hG4bK-2", body=OFFER_SDP, content_type="application/sdp"
    )
    out = net.inject(invite)
    assert [s.status for s in out] == [503]
    assert out[0].header("retry-after") == "5"
    assert len(handler.calls) == 1, "no new call is offered to the application while stopping"

    probe = net.inject(sip_request("OPTIONS", call_id="probe", branch="z9hG4bK-3"))
    assert [s.status for s in probe] == [503]
