"""The sans-I/O SIP user-agent server: datagrams and ``now`` in, datagrams and callbacks out.

It owns the call table, the transaction tables and one deadline heap. The asyncio driver
(:mod:`tui_engine.sip.server`) feeds :meth:`SipEndpoint.receive` and :meth:`SipEndpoint.poll`
and arms a single timer at :meth:`SipEndpoint.next_deadline`. Tests drive it the same way with
a ``FakeClock`` and a fake sender.

Application actions (``ServerCall.answer()`` and friends) carry no ``now``: the endpoint reads
its injected :class:`~tui_engine.core.clock.Clock`, which is ``FakeClock`` in tests. Those
actions and the call clean-up live in :mod:`tui_engine.sip.uas`; in-dialog requests in
:mod:`tui_engine.sip.in_dialog`; this module receives, validates and routes.
"""

from __future__ import annotations

from collections.abc import Callable

from aiosipua.message import SipResponse

from tui_engine.core.clock import Clock
from tui_engine.obs.context import call_context
from tui_engine.obs.logging import get_logger
from tui_engine.sip.call import CallHandler, CallState, EndReason, ServerCall
from tui_engine.sip.in_dialog import IN_DIALOG
from tui_engine.sip.limits import Limits, TrustCache
from tui_engine.sip.message import (
    ALLOW,
    ALLOWED_METHODS,
    KNOWN_METHODS,
    Addr,
    Incoming,
    build_response,
    build_salvaged_response,
    message_label,
    new_tag,
    parse_datagram,
    salvage_headers,
    salvaged_method,
    salvaged_reply_addr,
    stamped_via,
    validate_request,
)
from tui_engine.sip.negotiation import offer_refusal
from tui_engine.sip.refusals import RefusalLog, StatelessRefusals, refusal_key
from tui_engine.sip.scheduler import DeadlineHeap
from tui_engine.sip.session_timer import TIMER_TAG, SessionTimerPolicy, TooSmall, option_tags
from tui_engine.sip.session_timer import negotiate as negotiate_session_timer
from tui_engine.sip.shed import quick_request, quick_response
from tui_engine.sip.syntax import SipParseError
from tui_engine.sip.timers import SipTimers
from tui_engine.sip.transaction import ClientTx, InviteServerTx, ServerTx
from tui_engine.sip.uas import RETRY_AFTER, Sender, SipStateError, UasCore

__all__ = ["Sender", "SipEndpoint", "SipStateError"]

log = get_logger("tui_engine.sip")


class SipEndpoint(UasCore):
    """All signalling of one listening address; see the module docstring."""

    def __init__(
        self, handler: CallHandler, sender: Sender, *, clock: Clock, host: str, port: int,
        limits: Limits, timers: SipTimers | None = None, session_policy: SessionTimerPolicy | None = None,
    ) -> None:
        self.handler = handler
        self.sender = sender
        self.clock = clock
        self.timers = timers or SipTimers()
        self.limits = limits
        self.session_policy = session_policy or SessionTimerPolicy()
        self._trust = TrustCache(limits)
        self.host = host
        self.port = port
        self.calls: dict[str, ServerCall] = {}
        self.server_txs: dict[tuple[str, str], ServerTx] = {}
        self.client_txs: dict[str, ClientTx] = {}
        self.heap = DeadlineHeap()
        #: called whenever the call table becomes empty (the driver's ``stop()`` waits on it)
        self.on_idle: Callable[[], None] | None = None
        #: asked before a new INVITE is taken, ahead of any SDP or RTP work: the reason to refuse
        #: it (answered 503 + Retry-After, RFC 3261 §21.5.4) or None (the overload guard)
        self.admission: Callable[[float], str | None] | None = None
        #: told the reason of each new call refused with 503 (the refusal metric)
        self.on_refused: Callable[[str], None] | None = None
        #: told of each retransmitted INVITE absorbed (callers waited a T1 for us: overload)
        self.on_invite_retransmission: Callable[[], None] | None = None
        #: ``(now) -> reason | None`` with no side effect: while it gives a reason (or max-calls
        #: is reached), INVITEs are read quickly (:mod:`.shed`): new ones refused before the full
        #: parse, retransmissions absorbed. (ACKs are always read that way first.)
        self.shedding: Callable[[float], str | None] | None = None
        self.count_message: Callable[[str, str], None] | None = None
        #: set by :meth:`shutdown`: new calls and OPTIONS probes get 503, so a dispatcher in front
        #: (Kamailio) fails the call over and marks this engine down while its calls get their BYE.
        self.draining = False
        #: the 503s of the quick path, sent without a transaction (§8.2.7, :mod:`.refusals`)
        self.refusals = StatelessRefusals(lifetime=self.timers.transaction_timeout)
        #: overload refusals logged one in full, then summed up once a second (:mod:`.refusals`)
        self.refusal_log = RefusalLog(_summarize, self.heap.push)

    # ----- counters, limits, time -----

    @property
    def active_calls(self) -> int:
        return len(self.calls)

    @property
    def tracked_transactions(self) -> int:
        return len(self.server_txs) + len(self.client_txs)

    def update_limits(self, limits: Limits) -> None:
        """Takes effect for the next request; calls in progress are never cut."""
        self.limits = limits
        self._trust = TrustCache(limits)

    def next_deadline(self) -> float | None:
        return self.heap.next_deadline()

    def poll(self, now: float) -> bool:
        """Run every timer due at ``now`` (Timers E, F, G, H, I, J, K, L and the 2xx schedule).

        True when something was due (the driver's :class:`~tui_engine.runtime.Pollable` contract:
        only a wake that found nothing waits ``MIN_REARM`` before re-arming).
        """
        due = self.heap.pop_due(now)
        for item in due:
            deadline = item.deadline
            if deadline is not None and deadline <= now:
                with call_context(item.call_id):  # its own call, whatever the loop's context holds
                    self._guarded(item.on_timer, now)
        return bool(due)

    # ----- input -----

    def receive(self, data: bytes, source: Addr, transport: str, now: float) -> None:
        """One datagram (UDP) or one framed message (TCP). Never raises."""
        try:
            self._receive(data, source, transport, now)
        except Exception:
            log.exception("sip.internal_error", source=f"{source[0]}:{source[1]}")

    def receive_unframed(self, head: bytes, source: Addr, transport: str, reason: str) -> None:
        """A stream message whose body cannot be delimited (§18.3): 400 if addressable. Never raises."""
        try:
            self._malformed(head, source, transport, SipParseError(reason, status=400))
        except Exception:
            log.exception("sip.internal_error", source=f"{source[0]}:{source[1]}")

    def _receive(self, data: bytes, source: Addr, transport: str, now: float) -> None:
        if not data or (data[0] in _BLANK and not data.strip()):
            return  # RFC 5626 §3.5.1 keep-alive (CRLF) or empty datagram
        if self.count_message is not None:
            self.count_message("in", message_label(data))
        if data.startswith(b"ACK "):
            if self._refusal_acked(data, now) or self._quick_ack(data, now):
                return
        elif self.shedding is not None and data.startswith(b"INVITE "):
            if self._shed(data, source, transport, now):
                return
        try:
            msg = parse_datagram(data)
            if isinstance(msg, SipResponse):
                self._response(msg, now)
                return
            inc = validate_request(data, msg, source, transport)
        except SipParseError as exc:
            self._malformed(data, source, transport, exc)
            return
        with call_context(inc.call_id):
            self._request(inc, now)

    def _quick_ack(self, data: bytes, now: float) -> bool:
        """An ACK read quickly (:mod:`.shed`): one per call, and it is never answered, so the full
        parse buys it nothing; True when it matched (an unusual or unmatched one goes the full way)."""
        req = quick_request(data)
        if req is None:
            return False
        with call_context(req.call_id):
            return self._ack_of(req.tx_id, req.call_id, req.cseq, req.to_tag, now)

    def _refusal_acked(self, data: bytes, now: float) -> bool:
        """The ACK of a 503 sent statelessly (:mod:`.refusals`): ignored, as §8.2.7 says, and
        read no further than its top Via and Call-ID."""
        if not self.refusals:
            return False
        key = refusal_key(data)
        return key is not None and self.refusals.acked(key, now)

    def _shed(self, data: bytes, source: Addr, transport: str, now: float) -> bool:
        """An INVITE while overloaded (``shedding`` gives a reason, or max-calls is reached):
        refused from a quick read (:mod:`.shed`) and answered statelessly (:mod:`.refusals`), a
        retransmission of one refused so answered again. False: the full path is to handle it."""
        key = refusal_key(data) if self.refusals else None
        if key is not None and (repeated := self.refusals.repeated(key, data, now)) is not None:
            self.send(repeated.response, repeated.addr, repeated.transport)  # as the first time
            if not repeated.repeated:
                self._late_answer(source)
            return True
        why: dict[str, object] = {}
        if len(self.calls) >= self.limits.max_calls:
            reason: str | None = "max-calls"
            why["max_calls"] = self.limits.max_calls
        elif self.shedding is None or self.shedding(now) is None:
            return False
        else:
            reason = None  # asked below, once the INVITE is known to be a new call
        req = quick_request(data)
        if req is None:
            return False
        tx = self.server_txs.get((req.tx_id, "INVITE"))
        if tx is not None:  # as in _request: absorbed, the last response repeated
            if tx.retransmission():
                self._late_answer(source)
            return True
        if req.to_tag is not None or self.draining or req.call_id in self.calls:
            return False  # a re-INVITE, a stopping engine, a loop: the full path's answers
        if not self._trust.trusts(source[0]):
            return False
        if reason is None:
            if self.admission is None:
                return False
            reason = self.admission(now)  # counts the INVITE, as the full path would
            if reason is None:
                return False
        top_via, reply_addr = stamped_via(req.via, source)
        to = reply_addr if transport == "UDP" else source
        if key is None:
            key = refusal_key(data)
        tag = new_tag() if key is None else self.refusals.tag(key)
        answer = quick_response(req, 503, top_via=top_via or req.headers["via"][0], to_tag=tag,
                                headers=[("Retry-After", RETRY_AFTER)])
        if key is None:  # an unusual spelling: a transaction absorbs its retransmissions and ACK
            tx_key = (req.tx_id, "INVITE")
            itx = self.server_txs[tx_key] = InviteServerTx(self, tx_key, to, transport, req.call_id)
            itx.respond(answer, 503, now)
        else:
            self.refusals.remember(key, data, answer, to, transport, now)
            self.send(answer, to, transport)
        self._refused(reason, req.call_id, now, why)
        return True

    def _refused(self, reason: str, call_id: str, now: float, why: dict[str, object]) -> None:
        """Log (in summary under a flood, :class:`.refusals.RefusalLog`) and count a 503 refusal."""
        if self.refusal_log.refused(reason, now):
            with call_context(call_id):
                log.info("sip.rejected", status=503, reason=reason, **why)
        if self.on_refused is not None:
            self.on_refused(reason)

    def _late_answer(self, source: Addr) -> None:
        """The overload detector's "late answers": once per INVITE transaction, and only from a
        source whose calls we take. Each copy counted let one peer (a stranger answered 403, a
        caller whose call rings) resend one INVITE until every other caller got 503."""
        if self.on_invite_retransmission is not None and self._trust.trusts(source[0]):
            self.on_invite_retransmission()

    def _malformed(self, data: bytes, source: Addr, transport: str, exc: SipParseError) -> None:
        found = None if data.startswith(b"SIP/") else salvage_headers(data)
        answer: bytes | None = None
        if found is not None and salvaged_method(data, found) != "ACK":  # §17.1.1.3
            try:
                answer = build_salvaged_response(found, exc.status)
            except ValueError:  # a value aiosipua will not serialize: drop by rule
                answer = None
        log.warning("sip.malformed", source=f"{source[0]}:{source[1]}", error=str(exc),
                    status=exc.status if answer is not None else None, size=len(data))
        if found is not None and answer is not None:
            self.send(answer, salvaged_reply_addr(found, source, transport), transport)

    def _response(self, msg: SipResponse, now: float) -> None:
        vias = msg.headers.get("via")
        branch = _branch_param(vias[0]) if vias else None
        tx = self.client_txs.get(branch or "")
        if tx is None:
            log.debug("sip.stray_response", status=msg.status_code)
            return
        with call_context(msg.call_id):
            tx.response(msg.status_code, now)

    def _request(self, inc: Incoming, now: float) -> None:
        method = inc.method
        if method == "ACK":
            self._ack(inc, now)
            return
        tx = self.server_txs.get((inc.tx_id, method))
        if tx is not None:
            # §17.2.1 / §17.2.2: absorbed, the last response repeated
            if tx.retransmission() and method == "INVITE":
                self._late_answer(inc.source)
            return
        if not self._trust.trusts(inc.source[0]):
            log.info("sip.rejected", status=403, reason="untrusted-source", source=inc.source[0])
            self.reply(inc, 403, now)
        elif method not in ALLOWED_METHODS:
            # §8.2.1 comes first: 405 + Allow for a method we know, 501 for one we do not.
            self.reply(inc, 405 if method in KNOWN_METHODS else 501, now, headers=[("Allow", ALLOW)])
        elif method == "CANCEL":
            self._cancel(inc, now)
        elif unsupported := [t for t in option_tags(inc.msg, "require") if t != TIMER_TAG]:
            # §8.2.2.3: a Require of an extension we lack gets 420 naming it (we have only timer).
            self.reply(inc, 420, now, headers=[("Unsupported", ", ".join(unsupported))])
        elif inc.to_tag is None:
            self._out_of_dialog(inc, now)
        else:
            self._in_dialog(inc, now)

    # ----- out of dialog -----

    def _out_of_dialog(self, inc: Incoming, now: float) -> None:
        if self.draining and inc.method in ("INVITE", "OPTIONS"):
            log.info("sip.rejected", status=503, reason="stopping", method=inc.method)
            self.reply(inc, 503, now, reason="Stopping", headers=[("Retry-After", RETRY_AFTER)])
        elif inc.method == "INVITE":
            self._new_call(inc, now)
        elif inc.method == "OPTIONS":
            self.options_reply(inc, now, to_tag=None)
        else:
            self.reply(inc, 481, now)  # BYE/INFO/UPDATE/NOTIFY need a dialog (§12.2.2)

    def _new_call(self, inc: Incoming, now: float) -> None:
        if inc.call_id in self.calls:
            self.reply(inc, 482, now)  # same Call-ID, new branch: a loop or a fork (§8.2.2.2)
            return
        if refusal := offer_refusal(inc.msg):  # §8.2.3: 415 / 406 before any call exists
            self.reply(inc, refusal.status, now, headers=refusal.headers)
            return
        if len(self.calls) >= self.limits.max_calls:
            self._refuse(inc, "max-calls", now, max_calls=self.limits.max_calls)
            return
        if self.admission is not None and (reason := self.admission(now)) is not None:
            self._refuse(inc, reason, now)
            return
        session = negotiate_session_timer(inc.msg, self.session_policy)
        if isinstance(session, TooSmall):
            log.info("sip.rejected", status=422, reason="session-interval-too-small", min_se=session.min_se)
            self.reply(inc, 422, now, headers=session.response_headers())
            return
        tx = InviteServerTx(self, (inc.tx_id, "INVITE"), inc.reply_addr, inc.transport, inc.call_id)
        failures = self.send_failures
        try:
            call = ServerCall(self, inc, tx, new_tag())
            call.session = session
            self.server_txs[tx.key] = tx
            self.calls[inc.call_id] = call
            tx.respond(build_response(inc.msg, 100), 100, now)  # §17.2.1: at once, no To-tag
            if self.send_failures != failures:
                raise SipParseError(f"responses cannot reach {inc.reply_addr}", status=400)
        except Exception as exc:
            self._release_setup(inc, tx, exc)
            return
        # The SIP layer's per-message lines (sip.invite, .answered, .confirmed, .bye_received,
        # .bye_answered, .call_ended) are at debug: at info a call's own lines are call.started and
        # call.ended (tui), which say the same, and each JSON line rendered cost as much as reading
        # an INVITE (CPU_COUNTS_LOG_LEVEL=info python -m bench._cpu_counts calls).
        log.debug("sip.invite", source=f"{inc.source[0]}:{inc.source[1]}", user=call.request_user)
        self.hand_to_app(call, self.handler.incoming_call)

    def _refuse(self, inc: Incoming, reason: str, now: float, **why: object) -> None:
        """503 + Retry-After through a server transaction: a retransmitted INVITE gets the same
        503 again (§17.2.1) and is never processed as a new call."""
        self.reply(inc, 503, now, headers=[("Retry-After", RETRY_AFTER)])
        self._refused(reason, inc.call_id, now, why)

    def _release_setup(self, inc: Incoming, tx: InviteServerTx, exc: Exception) -> None:
        """An INVITE that failed before the application saw it leaves no call, slot or timer behind."""
        log.warning("sip.invite_setup_failed", error=str(exc), error_type=type(exc).__name__)
        self.calls.pop(inc.call_id, None)
        if self.server_txs.get(tx.key) is tx:
            del self.server_txs[tx.key]
        tx.deadline = None  # a heap entry left behind finds nothing due
        if not self.calls and self.on_idle is not None:
            self.on_idle()

    # ----- in dialog -----

    def _dialog_of(self, inc: Incoming) -> ServerCall | None:
        call = self.calls.get(inc.call_id)
        if call is None or call.local_tag != inc.to_tag or call.dialog.remote_tag != inc.from_tag:
            return None
        return call

    def _in_dialog(self, inc: Incoming, now: float) -> None:
        call = self._dialog_of(inc)
        if call is None:
            self.reply(inc, 481, now)
            return
        if not call.dialog.accept_remote_cseq(inc.cseq):
            self.reply(inc, 500, now, to_tag=call.local_tag, reason="CSeq Out of Order")
            return
        handler = IN_DIALOG.get(inc.method)
        if handler is None:
            self.reply(inc, 405, now, to_tag=call.local_tag, headers=[("Allow", ALLOW)])
            return
        handler(self, call, inc, now)

    # ----- ACK and CANCEL -----

    def _ack(self, inc: Incoming, now: float) -> None:
        self._ack_of(inc.tx_id, inc.call_id, inc.cseq, inc.to_tag, now)

    def _ack_of(self, tx_id: str, call_id: str, cseq: int, to_tag: str | None, now: float) -> bool:
        """ACK of a non-2xx: its INVITE transaction (§17.2.1); ACK of a 2xx: the dialog (§13.3.1.4).

        True when it was one of those; any other ACK (retransmitted, stray) is never answered.
        """
        tx = self.server_txs.get((tx_id, "INVITE"))
        if isinstance(tx, InviteServerTx) and tx.ack(now):
            return True
        call = self.calls.get(call_id)
        if call is None or call.deadline is None or call.ok_cseq != cseq:
            return False  # a retransmitted or stray ACK: never answered
        if to_tag != call.local_tag:
            # pyVoIP invents a new To-tag in its ACK; Call-ID + CSeq still identify our 2xx.
            log.warning("sip.ack_mismatched_tag", expected=call.local_tag, got=to_tag)
        call.deadline = None
        if call.state is CallState.ANSWERED:
            call.confirmed()
            log.debug("sip.confirmed")
            self.hand_to_app(call, self.handler.call_confirmed)
            if call.hangup_after_ack:
                self.send_bye(call, EndReason.LOCAL_HANGUP, now)
        return True

    def _cancel(self, inc: Incoming, now: float) -> None:
        """§9.2: CANCEL matches the INVITE transaction by branch; 200 to it, 487 to the INVITE."""
        tx = self.server_txs.get((inc.tx_id, "INVITE"))
        call = self.calls.get(inc.call_id)
        if tx is None:
            self.reply(inc, 481, now)
            return
        tag = call.local_tag if call is not None and call.invite_tx is tx else None
        self.reply(inc, 200, now, to_tag=tag)
        if call is not None and call.invite_tx is tx and call.state in (CallState.OFFERED, CallState.RINGING):
            log.info("sip.cancelled")
            self.final(call, 487, "", None, EndReason.CANCELLED)

    # ----- shutdown -----

    def shutdown(self) -> None:
        """End every call with reason ``shutdown``: 503 to unanswered INVITEs, BYE to the rest.

        The BYE does not wait for a missing ACK. One call that fails here is logged and ended;
        it never keeps the others from their BYE (nor the engine from stopping). From here on
        new INVITEs and OPTIONS get 503 + Retry-After (see ``draining``).
        """
        self.draining = True
        now = self.clock.now()
        for call in list(self.calls.values()):
            with call_context(call.call_id):
                try:
                    self._shut(call, now)
                except Exception:
                    log.exception("sip.internal_error")
                    self.end_call(call, EndReason.SHUTDOWN)

    def _shut(self, call: ServerCall, now: float) -> None:
        if call.state in (CallState.OFFERED, CallState.RINGING):
            self.final(call, 503, "", {"Retry-After": RETRY_AFTER}, EndReason.SHUTDOWN)
        elif call.state in (CallState.ANSWERED, CallState.CONFIRMED):
            call.deadline = None
            self.send_bye(call, EndReason.SHUTDOWN, now)

    def abandon(self) -> None:
        """Forget everything (after ``shutdown`` had its chance); reports SHUTDOWN where unreported."""
        for call in list(self.calls.values()):
            self.end_call(call, EndReason.SHUTDOWN)
        self.calls.clear()
        self.server_txs.clear()
        self.client_txs.clear()
        self.heap.clear()
        self.refusal_log.flush(self.clock.now())  # its timer went with the heap: the last summary now

    def _guarded(self, fn: Callable[[float], None], now: float) -> None:
        try:
            fn(now)
        except Exception:
            log.exception("sip.internal_error")


_BLANK = frozenset(b" \t\r\n\x0b\x0c")  #: what ``bytes.strip`` strips


def _summarize(counts: dict[str, int], seconds: float) -> None:
    log.info("sip.rejected_summary", status=503, refused=sum(counts.values()), reasons=counts,
             seconds=seconds)


def _branch_param(via: str) -> str | None:
    for part in via.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "branch":
            return value.strip()
    return None
