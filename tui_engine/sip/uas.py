"""The UAS core (RFC 3261 §13-§15): answering, ending and transferring calls, and the 2xx timer.

:class:`UasCore` holds everything a call needs once it exists: building responses through
server transactions, the application's actions on a :class:`ServerCall` (ringing, answer,
reject, hangup, refer), the §13.3.1.4 2xx retransmission, our BYE/REFER client transactions
and the clean-up that empties the call table. :class:`~tui_engine.sip.endpoint.SipEndpoint`
adds the receiving side on top.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from tui_engine.core.clock import Clock
from tui_engine.core.errors import LocalError
from tui_engine.obs.context import call_context
from tui_engine.obs.logging import get_logger
from tui_engine.sip.call import ACTION_STATES, CallHandler, CallState, EndReason, ServerCall
from tui_engine.sip.dialog import uri_address
from tui_engine.sip.message import (
    ACCEPT,
    Addr,
    Incoming,
    build_response,
    capability_headers,
    message_label,
    new_tag,
)
from tui_engine.sip.refresh import send_session_refresh
from tui_engine.sip.scheduler import DeadlineHeap
from tui_engine.sip.session_timer import Negotiated, SessionTimer, SessionTimerPolicy
from tui_engine.sip.timers import SipTimers
from tui_engine.sip.transaction import ClientTx, InviteServerTx, NonInviteServerTx, ServerTx, Timed

log = get_logger("tui_engine.sip")

RETRY_AFTER = "5"  # seconds a caller should wait after our 503 (RFC 3261 §20.33)


class SipStateError(LocalError):
    """The application asked a call for something its state does not allow (e.g. answer twice)."""


class Sender(Protocol):
    """Where the endpoint's datagrams go: the real transports, or a test's fake."""

    def send(self, data: bytes, addr: Addr, transport: str) -> None: ...


class _Acting:
    """The call's logging context and the time, for one application action (a class, not a
    ``@contextmanager`` generator: one per answer, ring, hang-up; see :mod:`tui_engine.obs.context`)."""

    __slots__ = ("_clock", "_context")

    def __init__(self, call_id: str, clock: Clock) -> None:
        self._context = call_context(call_id)
        self._clock = clock

    def __enter__(self) -> float:
        self._context.__enter__()
        return self._clock.now()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._context.__exit__(exc_type, exc, tb)


class UasCore:
    """State and behaviour shared by every call of one endpoint; see the module docstring."""

    handler: CallHandler
    sender: Sender
    clock: Clock
    timers: SipTimers
    host: str
    port: int
    calls: dict[str, ServerCall]
    server_txs: dict[tuple[str, str], ServerTx]
    client_txs: dict[str, ClientTx]
    heap: DeadlineHeap
    session_policy: SessionTimerPolicy
    #: called whenever the call table becomes empty (the driver's ``stop()`` waits on it)
    on_idle: Callable[[], None] | None
    #: ``(direction, method)`` per message in and out: ``sip_messages_total`` (see ``message_label``)
    count_message: Callable[[str, str], None] | None

    #: sends that could not leave (bad port, socket error); ``_new_call`` reads it around its 100
    send_failures = 0

    # ----- TxEnv -----

    def send(self, data: bytes, addr: Addr, transport: str) -> None:
        """Hand ``data`` to the sender; an address it cannot reach counts as a lost datagram.

        Never raises: a send that fails must not leave a call half set up in the table, and
        retransmission timers end what cannot be reached. The port is checked here because
        asyncio's UDP transport treats the ``OverflowError`` of a port outside 0-65535 (a Via
        ``sent-by`` of ``:70000``) as fatal and closes the listening socket for every call.
        """
        if not 0 < addr[1] <= 0xFFFF:
            self._send_failed(addr, "port out of range")
            return
        try:
            self.sender.send(data, addr, transport)
        except (OSError, ValueError, TypeError, OverflowError) as exc:
            self._send_failed(addr, str(exc))
            return
        if self.count_message is not None:
            self.count_message("out", message_label(data))

    def _send_failed(self, addr: Addr, why: str) -> None:
        self.send_failures += 1
        log.warning("sip.send_failed", dest=f"{addr[0]}:{addr[1]}", error=why)

    def schedule(self, item: Timed) -> None:
        self.heap.push(item)

    def finished(self, tx: ServerTx | ClientTx) -> None:
        if isinstance(tx, ClientTx):
            self.client_txs.pop(tx.branch, None)
        elif self.server_txs.get(tx.key) is tx:
            del self.server_txs[tx.key]

    # ----- responding -----

    def reply(
        self, inc: Incoming, status: int, now: float, *, reason: str = "", to_tag: str | None = None,
        headers: list[tuple[str, str]] | None = None, body: bytes = b"", content_type: str | None = None,
    ) -> ServerTx:
        """Answer ``inc`` through a new server transaction, so retransmissions get the same answer."""
        tag = to_tag if to_tag is not None else (None if status == 100 else new_tag())
        data = build_response(inc.msg, status, reason=reason, to_tag=tag, headers=headers or (),
                              body=body, content_type=content_type)
        key = (inc.tx_id, inc.method)
        if inc.method == "INVITE":
            itx = InviteServerTx(self, key, inc.reply_addr, inc.transport, inc.call_id)
            self.server_txs[key] = itx
            itx.respond(data, status, now)
            return itx
        ntx = NonInviteServerTx(self, key, inc.reply_addr, inc.transport, inc.call_id)
        self.server_txs[key] = ntx
        ntx.respond(data, now)
        return ntx

    def contact(self, transport: str) -> str:
        suffix = ";transport=tcp" if transport == "TCP" else ""
        return f"<sip:{self.host}:{self.port}{suffix}>"

    def options_reply(self, inc: Incoming, now: float, *, to_tag: str | None) -> None:
        """§11.2: 200 with what we support; our Contact too, so a prober learns where we are."""
        headers = [*capability_headers(self.contact(inc.transport)), ("Accept", ACCEPT)]
        self.reply(inc, 200, now, to_tag=to_tag, headers=headers)

    def hand_to_app(self, call: ServerCall, action: Callable[[ServerCall], None]) -> None:
        try:
            action(call)
        except Exception:
            log.exception("sip.handler_error")
            if call.state in (CallState.OFFERED, CallState.RINGING):
                self.fail_setup(call)

    def fail_setup(self, call: ServerCall) -> None:
        """500 to an INVITE we cannot go on with; if even that cannot be built, forget the call
        and its transaction at once. Either way it ends (``ERROR``) and frees its slot."""
        try:
            self.final(call, 500, "", None, EndReason.ERROR)
        except Exception:
            log.exception("sip.internal_error")
            call.deadline = None
            self.end_call(call, EndReason.ERROR)
            self.finished(call.invite_tx)
            self.forget_when_idle(call)

    # ----- call actions (from ServerCall) -----

    def _acting(self, call: ServerCall, what: str) -> _Acting:
        """``with self._acting(call, what) as now:``: refused in a state that does not allow
        ``what``; the call's context bound inside."""
        if call.state not in ACTION_STATES[what]:
            raise SipStateError(f"cannot {what} a call in state {call.state.value}")
        return _Acting(call.call_id, self.clock)

    def call_ringing(self, call: ServerCall) -> None:
        with self._acting(call, "ring") as now:
            call.state = CallState.RINGING
            try:
                self.respond_invite(call, 180, "", None, now)
            except Exception:  # as for the 200: never a call left unanswered with no timer
                log.exception("sip.internal_error")
                self.fail_setup(call)
                return
            log.debug("sip.ringing")

    def call_answer(self, call: ServerCall, sdp: str) -> None:
        with self._acting(call, "answer") as now:
            try:
                self._answer(call, sdp, now)
            except Exception:  # never a call left OFFERED with no timer: it ends, the app is told
                log.exception("sip.internal_error")
                call.state = CallState.OFFERED
                self.fail_setup(call)

    def _answer(self, call: ServerCall, sdp: str, now: float) -> None:
        body = sdp.encode()
        session = call.session.response_headers() if call.session is not None else []
        invite = call.invite_request()
        data = build_response(
            invite.msg, 200, to_tag=call.local_tag, body=body, content_type="application/sdp",
            headers=[*self.dialog_headers(call), *session],
        )
        call.state = CallState.ANSWERED
        call.local_sdp = sdp
        call.invite_tx.respond(data, 200, now)
        self.start_2xx(call, data, invite.cseq, now)
        if call.session is not None:
            self.start_session_timer(call, call.session, now)
        log.debug("sip.answered")

    def call_reject(self, call: ServerCall, status: int, reason: str, headers: dict[str, str] | None) -> None:
        if not 300 <= status <= 699:
            raise SipStateError(f"reject needs a 3xx-6xx status, got {status}")
        with self._acting(call, "reject"):
            log.info("sip.rejected", status=status, reason="application")
            try:
                self.final(call, status, reason, headers, EndReason.REJECTED)
            except Exception:  # as for the 180 and the 200: never a call left unanswered, no timer
                log.exception("sip.internal_error")
                self.fail_setup(call)

    def call_hangup(self, call: ServerCall) -> None:
        if call.state in (CallState.ENDING, CallState.ENDED):
            return
        with self._acting(call, "hang up") as now:
            if call.state in (CallState.OFFERED, CallState.RINGING):
                self.final(call, 480, "", None, EndReason.LOCAL_HANGUP)
            elif call.state is CallState.ANSWERED:
                call.hangup_after_ack = True  # §15: no BYE before the ACK (or its timeout)
            else:
                self.send_bye(call, EndReason.LOCAL_HANGUP, now)

    def call_refer(self, call: ServerCall, target_uri: str) -> None:
        with self._acting(call, "transfer") as now:
            call.refer_wanted = True

            def final(status: int) -> None:
                call.open_client_txs -= 1
                call.refer_pending = call.refer_wanted and 200 <= status < 300
                if not 200 <= status < 300:
                    log.warning("sip.refer_failed", status=status)
                    self.transfer_failed(call, status)
                self.forget_when_idle(call)

            def timeout() -> None:
                call.open_client_txs -= 1
                log.warning("sip.refer_timeout")
                self.transfer_failed(call, 408)
                self.forget_when_idle(call)

            self.send_in_dialog(call, "REFER", [("Refer-To", f"<{target_uri}>")], final, timeout, now)

    # ----- call internals -----

    def caps(self, call: ServerCall) -> list[tuple[str, str]]:
        return capability_headers(self.contact(call.transport))

    def dialog_headers(self, call: ServerCall) -> list[tuple[str, str]]:
        """§12.1.1: Record-Route copied into dialog-creating responses, plus our Contact."""
        rr = [("Record-Route", v) for v in call.invite_request().msg.headers.get("record-route")]
        return [*rr, *capability_headers(self.contact(call.transport))]

    def respond_invite(
        self, call: ServerCall, status: int, reason: str, headers: dict[str, str] | None, now: float
    ) -> None:
        extra = self.dialog_headers(call) if status < 300 else []
        extra += list((headers or {}).items())
        data = build_response(call.invite_request().msg, status, reason=reason, to_tag=call.local_tag,
                              headers=extra)
        call.invite_tx.respond(data, status, now)

    def final(
        self, call: ServerCall, status: int, reason: str, headers: dict[str, str] | None, end: EndReason
    ) -> None:
        """A non-2xx final to the INVITE; its transaction resends it until the ACK (§17.2.1)."""
        self.respond_invite(call, status, reason, headers, self.clock.now())
        self.end_call(call, end)
        self.forget_when_idle(call)

    def start_2xx(self, call: ServerCall, data: bytes, cseq: int, now: float) -> None:
        call.ok_response = data
        call.ok_cseq = cseq
        call.ok_interval = self.timers.t1
        call.ok_give_up = now + self.timers.transaction_timeout
        call.deadline = now + call.ok_interval
        self.heap.push(call)

    def call_timer(self, call: ServerCall, now: float) -> None:
        """§13.3.1.4: resend the 2xx on T1 doubling to T2; no ACK by 64*T1 → BYE and end."""
        with call_context(call.call_id):
            if now >= call.ok_give_up:
                call.deadline = None
                log.warning("sip.ack_timeout", cseq=call.ok_cseq)
                self.end_call(call, EndReason.ACK_TIMEOUT)
                self.send_bye(call, EndReason.ACK_TIMEOUT, now)
                return
            if call.ok_response is not None:
                self.send(call.ok_response, call.invite_tx.reply_addr, call.transport)
            call.ok_interval = self.timers.next_interval(call.ok_interval)
            call.deadline = min(now + call.ok_interval, call.ok_give_up)
            self.heap.push(call)

    def send_bye(self, call: ServerCall, reason: EndReason, now: float) -> None:
        """§15.1.1: BYE as a client transaction; its final response or Timer F ends the call."""
        call.state = CallState.ENDING
        call.bye_reason = reason
        call.bye_at = now

        def final(status: int) -> None:
            call.open_client_txs -= 1
            log.debug("sip.bye_answered", status=status)
            self.end_call(call, reason)
            self.forget_when_idle(call)

        def timeout() -> None:
            call.open_client_txs -= 1
            log.warning("sip.bye_timeout")
            self.end_call(call, EndReason.BYE_TIMEOUT if reason is EndReason.LOCAL_HANGUP else reason)
            self.forget_when_idle(call)

        self.send_in_dialog(call, "BYE", [], final, timeout, now)

    def send_in_dialog(
        self, call: ServerCall, method: str, headers: list[tuple[str, str]],
        on_final: Callable[[int], None], on_timeout: Callable[[], None], now: float,
        *, body: bytes = b"", content_type: str | None = None,
    ) -> ClientTx:
        data, branch = call.dialog.build_request(
            method, via_sent_by=f"{self.host}:{self.port}", transport=call.transport,
            contact=self.contact(call.transport), headers=headers, body=body, content_type=content_type,
        )
        tx = ClientTx(self, branch=branch, method=method, request=data, addr=self.dialog_addr(call),
                      transport=call.transport, on_final=on_final, on_timeout=on_timeout,
                      call_id=call.call_id)
        self.client_txs[branch] = tx
        call.open_client_txs += 1
        tx.start(now)
        return tx

    def transfer_failed(self, call: ServerCall, status: int) -> None:
        """Tell the application once that its transfer failed (the call goes on)."""
        if not call.refer_wanted or call.ended_reported:
            return
        call.refer_wanted = call.refer_pending = False
        try:
            self.handler.call_transfer_failed(call, status)
        except Exception:
            log.exception("sip.handler_error")

    def dialog_addr(self, call: ServerCall) -> Addr:
        """Over TCP we reuse the caller's connection; over UDP we follow the route set (§12.2.1.1)."""
        addr = call.remote_addr if call.transport != "UDP" else uri_address(call.dialog.next_hop_uri())
        return addr or call.remote_addr

    # ----- RFC 4028 session timers -----

    def start_session_timer(self, call: ServerCall, session: Negotiated, now: float) -> None:
        """(Re)start the dialog's lease: at our 2xx to the INVITE, or to the peer's refresh (§10)."""
        timer = call.session_timer
        if timer is None:
            timer = call.session_timer = SessionTimer(call.call_id, self.session_timer_fired)
        call.session = session
        timer.start(session, now)
        self.heap.push(timer)

    def session_timer_fired(self, call_id: str, now: float, refresh_due: bool) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.CONFIRMED or call.session_timer is None:
            return  # ended, ending, or not confirmed yet (the ACK timeout ends that one)
        with call_context(call_id):
            if refresh_due:
                self.heap.push(call.session_timer)  # the expiry point stays armed meanwhile
                send_session_refresh(self, call, now)
                return
            log.warning("sip.session_expired", interval=call.session.interval if call.session else None)
            self.send_bye(call, EndReason.SESSION_EXPIRED, now)

    def end_call(self, call: ServerCall, reason: EndReason) -> None:
        if call.ended_reported:
            return
        call.ended_reported = True
        if call.session_timer is not None:
            call.session_timer.stop()
        log.debug("sip.call_ended", reason=reason.value)
        try:
            self.handler.call_ended(call, reason)
        except Exception:
            log.exception("sip.handler_error")

    def forget_when_idle(self, call: ServerCall) -> None:
        """Drop the call once it is over and no request of ours is in flight (gap 4 of sip-foundation.md)."""
        if not call.ended_reported or call.open_client_txs > 0:
            return
        call.state = CallState.ENDED
        call.deadline = None
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]
            if not self.calls and self.on_idle is not None:
                self.on_idle()
