"""Requests inside an existing dialog (RFC 3261 §12.2.2): one function per method, one table.

Each takes the UAS core, the call the dialog belongs to, the request and ``now``. The endpoint
has already matched the dialog (else 481) and checked the CSeq order (else 500).
"""

from __future__ import annotations

from collections.abc import Callable

from tui_engine.obs.logging import get_logger
from tui_engine.sip.call import CallState, EndReason, ServerCall
from tui_engine.sip.message import INFO_ACCEPT, Incoming
from tui_engine.sip.refresh import peer_refresh
from tui_engine.sip.session_timer import Negotiated, TooSmall
from tui_engine.sip.uas import UasCore

log = get_logger("tui_engine.sip")


def bye(core: UasCore, call: ServerCall, inc: Incoming, now: float) -> None:
    """§15.1.2: 200 to BYE; an unanswered INVITE gets 487 (early-dialog BYE)."""
    core.reply(inc, 200, now, to_tag=call.local_tag)
    if call.state in (CallState.OFFERED, CallState.RINGING):
        core.respond_invite(call, 487, "", None, now)
    call.deadline = None  # a BYE also ends any 2xx retransmission
    log.debug("sip.bye_received")
    core.end_call(call, EndReason.CALLER_HANGUP)
    core.forget_when_idle(call)


def info(core: UasCore, call: ServerCall, inc: Incoming, now: float) -> None:
    """RFC 6086: the app reads the body first and its verdict is the answer: 200, 400 for a body
    it cannot read, 415 (+ Accept) for a type it does not take (§21.4.13); 500 if it raised."""
    content_type = inc.msg.headers.get_first("content-type") or ""
    try:
        status = core.handler.call_info(call, content_type, inc.msg.body)
    except Exception:
        log.exception("sip.handler_error")
        status = 500
    headers = [("Accept", INFO_ACCEPT)] if status == 415 else []
    core.reply(inc, status, now, to_tag=call.local_tag, headers=headers)


def options(core: UasCore, call: ServerCall, inc: Incoming, now: float) -> None:
    core.options_reply(inc, now, to_tag=call.local_tag)


def reoffer(core: UasCore, call: ServerCall, inc: Incoming, now: float) -> None:
    """re-INVITE (§14.2) or UPDATE (RFC 3311): the app answers the new offer."""
    if inc.method == "INVITE" and (call.state is not CallState.CONFIRMED or call.deadline is not None):
        # §14.2: an INVITE while an earlier one is unfinished gets 500 + Retry-After.
        core.reply(inc, 500, now, to_tag=call.local_tag, headers=[("Retry-After", "1")])
        return
    session = peer_refresh(core, call, inc)
    if isinstance(session, TooSmall):  # RFC 4028 §9 holds for refreshes too
        core.reply(inc, 422, now, to_tag=call.local_tag, headers=session.response_headers())
        return
    headers = [*core.caps(call), *(session.response_headers() if session is not None else [])]
    offer = inc.msg.text if inc.msg.body else None
    if offer is None and inc.method == "UPDATE":
        core.reply(inc, 200, now, to_tag=call.local_tag, headers=headers)
        _refreshed(core, call, session, now)
        return
    try:
        answer = core.handler.call_reoffer(call, offer)
    except Exception:
        log.exception("sip.handler_error")
        answer = None
    if answer is None:
        core.reply(inc, 488, now, to_tag=call.local_tag)
        return
    tx = core.reply(inc, 200, now, to_tag=call.local_tag, headers=headers,
                    body=answer.encode(), content_type="application/sdp")
    call.local_sdp = answer
    if inc.method == "INVITE" and tx.last_response is not None:
        core.start_2xx(call, tx.last_response, inc.cseq, now)
    _refreshed(core, call, session, now)


def _refreshed(core: UasCore, call: ServerCall, session: Negotiated | None, now: float) -> None:
    """RFC 4028 §10: a 2xx to the caller's re-INVITE/UPDATE renews the lease."""
    if session is not None and call.state is CallState.CONFIRMED:
        log.info("sip.session_refreshed", by="peer", interval=session.interval, refresher=session.refresher)
        core.start_session_timer(call, session, now)


def notify(core: UasCore, call: ServerCall, inc: Incoming, now: float) -> None:
    """RFC 3515 §2.4.5: NOTIFYs about our REFER carry a sipfrag; success there → BYE."""
    core.reply(inc, 200, now, to_tag=call.local_tag)
    if not call.refer_pending:
        return
    frag = inc.msg.text.split(None, 2)
    status = int(frag[1]) if len(frag) > 1 and frag[1].isdigit() else 0
    if 200 <= status < 300:
        call.refer_pending = call.refer_wanted = False
        log.info("sip.transferred", status=status)
        core.send_bye(call, EndReason.TRANSFERRED, now)
    elif status >= 300:
        log.warning("sip.refer_failed", status=status)
        core.transfer_failed(call, status)


InDialogHandler = Callable[[UasCore, ServerCall, Incoming, float], None]

IN_DIALOG: dict[str, InDialogHandler] = {
    "BYE": bye, "INFO": info, "OPTIONS": options, "INVITE": reoffer, "UPDATE": reoffer, "NOTIFY": notify,
}
