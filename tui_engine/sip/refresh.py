"""RFC 4028 session refreshes in both directions: the one we send as refresher, and the peer's.

Ours (§7.4, §10): an UPDATE when the caller's INVITE listed it in ``Allow`` (RFC 3311; no SDP
needed, so no offer/answer to get wrong), else a re-INVITE offering our current SDP again,
unchanged. A 2xx renews the lease; 408, 481 or no answer at all means the caller is gone
(RFC 3261 §12.2.1.2): BYE with reason ``session-expired``. Any other refusal (491 glare, 500)
leaves the call up, and the lease runs out on its own unless the caller refreshes it.

The re-INVITE rides a non-INVITE client transaction (:class:`~tui_engine.sip.transaction.ClientTx`):
its retransmissions and Timer F have the INVITE client's schedule until a response arrives; after
a provisional it keeps resending every T2, which the peer absorbs. A non-2xx is ACKed on the
INVITE's own branch (§17.1.1.3). Our ACK for a 2xx is sent once; should it be lost the peer's 2xx
retransmissions find no transaction and the peer ends the call after 64*T1 (it sends BYE),
which is still an ended call, never a stuck one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiosipua.headers import CaseInsensitiveDict
from aiosipua.message import SipMessage, SipRequest

from tui_engine.obs.logging import get_logger
from tui_engine.sip.call import CallState, EndReason, ServerCall
from tui_engine.sip.message import ALLOW, Addr, Incoming
from tui_engine.sip.session_timer import TIMER_TAG, Negotiated, TooSmall, negotiate, tags_of

if TYPE_CHECKING:
    from tui_engine.sip.uas import UasCore

log = get_logger("tui_engine.sip")


def send_session_refresh(core: UasCore, call: ServerCall, now: float) -> None:
    """We are the refresher and half the interval has passed (§10)."""
    session = call.session
    if session is None:
        return
    method = "UPDATE" if "update" in tags_of(call.peer_allow) else "INVITE"
    headers = [
        ("Session-Expires", f"{session.interval};refresher=uas"),
        ("Min-SE", str(core.session_policy.min_se)),
        ("Supported", TIMER_TAG),
    ]
    offer = method == "INVITE" and bool(call.local_sdp)
    if offer:
        headers.append(("Allow", ALLOW))

    def final(status: int) -> None:
        call.open_client_txs -= 1
        later = core.clock.now()
        if method == "INVITE" and status >= 300:
            _ack_non_2xx(core, tx.request, tx.addr, call.transport)
        if 200 <= status < 300:
            if method == "INVITE":
                _ack_2xx(core, call, cseq)
            log.info("sip.session_refreshed", method=method, interval=session.interval)
            if call.state is CallState.CONFIRMED:
                core.start_session_timer(call, session, later)
        elif status in (408, 481):
            log.warning("sip.session_refresh_failed", method=method, status=status)
            if call.state is CallState.CONFIRMED:
                core.send_bye(call, EndReason.SESSION_EXPIRED, later)
        else:
            log.warning("sip.session_refresh_refused", method=method, status=status)
        core.forget_when_idle(call)

    def timeout() -> None:
        call.open_client_txs -= 1
        log.warning("sip.session_refresh_timeout", method=method)
        if call.state is CallState.CONFIRMED:
            core.send_bye(call, EndReason.SESSION_EXPIRED, core.clock.now())
        core.forget_when_idle(call)

    body = call.local_sdp.encode() if offer else b""
    tx = core.send_in_dialog(call, method, headers, final, timeout, now, body=body,
                             content_type="application/sdp" if offer else None)
    cseq = call.dialog.local_cseq
    log.info("sip.session_refresh", method=method)


def _ack_2xx(core: UasCore, call: ServerCall, cseq: int) -> None:
    """§13.2.2.4: the ACK of a 2xx is its own request, with the INVITE's CSeq number."""
    dialog = call.dialog
    latest = dialog.local_cseq
    dialog.local_cseq = cseq - 1  # build_request counts up by one: back to the INVITE's number
    data, _ = dialog.build_request("ACK", via_sent_by=f"{core.host}:{core.port}", transport=call.transport,
                                   contact=core.contact(call.transport))
    dialog.local_cseq = max(latest, cseq)
    core.send(data, core.dialog_addr(call), call.transport)


def _ack_non_2xx(core: UasCore, invite: bytes, addr: Addr, transport: str) -> None:
    """§17.1.1.3: the ACK of a non-2xx belongs to the INVITE's transaction: its Request-URI, top Via
    (same branch), Route, From, Call-ID and CSeq number; To as in the dialog (the response's To)."""
    msg = SipMessage.parse(invite)
    assert isinstance(msg, SipRequest)  # our own INVITE, as we serialized it
    out = CaseInsensitiveDict()
    out.append("Via", msg.headers.get("via")[0])
    out.append("Max-Forwards", "70")
    for route in msg.headers.get("route"):
        out.append("Route", route)
    for name in ("From", "To", "Call-ID"):
        out.append(name, msg.headers.get(name)[0])
    out.append("CSeq", f"{(msg.headers.get_first('cseq') or '0').split()[0]} ACK")
    core.send(bytes(SipRequest(headers=out, method="ACK", uri=msg.uri)), addr, transport)


def peer_refresh(core: UasCore, call: ServerCall, inc: Incoming) -> Negotiated | TooSmall | None:
    """The session timer a re-INVITE/UPDATE from the caller asks for (§9 applies to it again)."""
    session = negotiate(inc.msg, core.session_policy)
    return session if session is not None else call.session
