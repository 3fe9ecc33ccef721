"""Property: whatever a caller and the application do, in any order, the tables end up empty.

Random interleavings of caller messages (retransmissions, ACK, CANCEL, BYE, INFO, garbage),
application actions and time steps; then silence for longer than every timer. Afterwards no
call and no transaction may remain, ``call_ended`` came exactly once, and nothing raised.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tui_engine.sip import SipStateError
from tui_engine.testing.sip_fake import ANSWER_SDP, OFFER_SDP, FakeSipNetwork, RecordingHandler, sip_request

STEPS = st.lists(
    st.one_of(
        st.sampled_from([
            "invite-again", "ack", "ack-other-tag", "cancel", "bye", "bye-again", "info", "garbage",
            "ring", "answer", "reject", "redirect", "hangup", "refer", "answer-our-request",
        ]),
        st.floats(min_value=0.0, max_value=40.0).map(lambda s: f"wait:{s}"),
    ),
    max_size=25,
)


def _tag(handler: RecordingHandler) -> str:
    return handler.calls[0].local_tag if handler.calls else "none"


def _caller(net: FakeSipNetwork, handler: RecordingHandler, step: str) -> None:
    tag = _tag(handler)
    messages = {
        "invite-again": sip_request("INVITE", body=OFFER_SDP),
        "ack": sip_request("ACK", branch="z9hG4bK-ack", to_tag=tag),
        "ack-other-tag": sip_request("ACK", branch="z9hG4bK-ack2", to_tag="other"),
        "cancel": sip_request("CANCEL"),
        "bye": sip_request("BYE", branch="z9hG4bK-bye", cseq=5, to_tag=tag),
        "bye-again": sip_request("BYE", branch="z9hG4bK-bye", cseq=5, to_tag=tag),
        "info": sip_request("INFO", branch="z9hG4bK-info", cseq=3, to_tag=tag, body="Signal=1"),
        "garbage": b"\x00INVITE garbage\r\n\r\n",
    }
    net.inject(messages[step])


def _answer_our_request(net: FakeSipNetwork) -> None:
    from aiosipua.message import SipMessage, SipRequest

    from tui_engine.sip.message import build_response

    for sent in reversed(net.sent):
        msg = SipMessage.parse(sent.data)
        if isinstance(msg, SipRequest):
            net.inject(build_response(msg, 202 if msg.method == "REFER" else 200))
            return


def _app(net: FakeSipNetwork, handler: RecordingHandler, step: str) -> None:
    call = handler.calls[0]
    actions = {
        "ring": call.ringing, "answer": lambda: call.answer(ANSWER_SDP), "reject": lambda: call.reject(486),
        "redirect": lambda: call.redirect("sip:x@127.0.0.9"), "hangup": call.hangup,
        "refer": lambda: call.refer("sip:op@127.0.0.9"),
    }
    try:
        actions[step]()
    except SipStateError:
        pass  # e.g. answer after CANCEL: refused, state unchanged


@settings(max_examples=300, deadline=None)
@given(steps=STEPS)
def test_every_interleaving_ends_with_empty_tables(steps: list[str]) -> None:
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    net.inject(sip_request("INVITE", body=OFFER_SDP))
    for step in steps:
        if step.startswith("wait:"):
            net.advance(float(step[5:]))
        elif step == "answer-our-request":
            _answer_our_request(net)
        elif step in ("ring", "answer", "reject", "redirect", "hangup", "refer"):
            _app(net, handler, step)
        else:
            _caller(net, handler, step)
    for call in handler.calls:  # a late INVITE after every timer ran out is a new call
        call.hangup()  # the application always ends what is still up
    net.advance(200.0)
    assert net.endpoint.active_calls == 0
    assert net.endpoint.tracked_transactions == 0
    assert len(handler.ended) == len(handler.calls)  # call_ended exactly once per call
    assert net.endpoint.next_deadline() is None
