"""One inbound call as the application sees it: :class:`ServerCall`, its states and end reasons.

A ``ServerCall`` is a thin handle: its methods ask the owning endpoint to act, which keeps all
transaction and timer logic in one place (:mod:`tui_engine.sip.uas`). The call is also the
RFC 3261 §13.3.1.4 "UAS core" timer for its 2xx: retransmit on T1 doubling to T2 until the ACK,
give up after 64*T1.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Protocol

from tui_engine.sip.dialog import Dialog
from tui_engine.sip.message import Addr, Incoming, user_of

if TYPE_CHECKING:
    from tui_engine.sip.session_timer import Negotiated, SessionTimer
    from tui_engine.sip.transaction import InviteServerTx
    from tui_engine.sip.uas import UasCore


class EndReason(enum.Enum):
    CALLER_HANGUP = "caller-hangup"  #: the caller sent BYE (or CANCEL-less BYE in an early dialog)
    CANCELLED = "cancelled"  #: CANCEL before we answered
    ACK_TIMEOUT = "ack-timeout"  #: no ACK for our 2xx within 64*T1 (§13.3.1.4); we sent BYE
    LOCAL_HANGUP = "local-hangup"  #: the application hung up and the BYE got a final response
    BYE_TIMEOUT = "bye-timeout"  #: our BYE got no final response within Timer F (§17.1.2.2)
    TRANSFERRED = "transferred"  #: REFER accepted, NOTIFY reported success, we sent BYE
    REJECTED = "rejected"  #: the application rejected or redirected the INVITE
    SHUTDOWN = "shutdown"  #: the engine stopped (SIGTERM): 503 to an unanswered INVITE, BYE otherwise
    SESSION_EXPIRED = "session-expired"  #: the refresher let the session timer run out (RFC 4028 §10)
    ERROR = "error"  #: the handler raised, or the INVITE could not be set up


class CallState(enum.Enum):
    OFFERED = "offered"  #: INVITE received, 100 Trying sent, the application decides
    RINGING = "ringing"  #: 180 Ringing sent
    ANSWERED = "answered"  #: 200 OK sent, waiting for the ACK
    CONFIRMED = "confirmed"  #: ACK received; media flows
    ENDING = "ending"  #: our BYE is in flight
    ENDED = "ended"  #: gone from the call table


_UNANSWERED = frozenset({CallState.OFFERED, CallState.RINGING})

#: The one table of which application action is legal in which call state; any other pair
#: raises ``SipStateError`` and changes nothing (after h11's "Rule 1"). ``hang up`` on an
#: ending or ended call is a no-op handled before this table is consulted.
ACTION_STATES: dict[str, frozenset[CallState]] = {
    "ring": _UNANSWERED,
    "answer": _UNANSWERED,
    "reject": _UNANSWERED,  # also redirect (3xx)
    "hang up": _UNANSWERED | {CallState.ANSWERED, CallState.CONFIRMED},  # before answer: 480
    "transfer": frozenset({CallState.CONFIRMED}),
}


class CallHandler(Protocol):
    """The application side; every method is called on the event loop and must not block."""

    def incoming_call(self, call: ServerCall) -> None:
        """Decide: ``answer`` / ``reject`` / ``redirect``, now or later."""

    def call_confirmed(self, call: ServerCall) -> None:
        """The ACK for our 2xx arrived."""

    def call_info(self, call: ServerCall, content_type: str, body: bytes) -> int:
        """An in-dialog INFO (e.g. application/dtmf-relay); returns the status to answer it with
        (200; 400 for a body that cannot be read; 415 for a type not taken)."""

    def call_reoffer(self, call: ServerCall, sdp: str | None) -> str | None:
        """A re-INVITE or UPDATE offer; return the SDP answer, or ``None`` to refuse (488)."""

    def call_transfer_failed(self, call: ServerCall, status: int) -> None:
        """Our REFER failed: its final ``status`` was not 2xx (408 when it timed out), or a
        NOTIFY sipfrag reported ``status`` >= 300 (RFC 3515 §2.4.5). The call is still up."""

    def call_ended(self, call: ServerCall, reason: EndReason) -> None:
        """Called exactly once per call handed to :meth:`incoming_call`."""


class ServerCall:
    """One inbound INVITE and the dialog it creates."""

    __slots__ = (
        "_ep", "bye_at", "bye_reason", "call_id", "deadline", "dialog", "ended_reported", "from_uri",
        "from_user", "hangup_after_ack", "invite", "invite_tx", "local_sdp", "offer_sdp", "ok_cseq",
        "ok_give_up", "ok_interval", "ok_response", "open_client_txs", "peer_allow", "refer_pending",
        "refer_wanted",
        "remote_addr", "request_user", "session", "session_timer", "state", "to_uri", "transport",
    )

    def __init__(
        self, endpoint: UasCore, inc: Incoming, invite_tx: InviteServerTx, local_tag: str
    ) -> None:
        msg = inc.msg
        self._ep = endpoint
        #: the INVITE while it may still be answered; let go at the ACK (:meth:`confirmed`)
        self.invite: Incoming | None = inc
        #: the caller's ``Allow`` values, kept past the INVITE (a session refresh picks UPDATE by them)
        self.peer_allow: list[str] = msg.headers.get("allow")
        self.invite_tx = invite_tx
        self.call_id = inc.call_id
        self.dialog = Dialog(inc, local_tag)
        self.from_uri = self.dialog.remote_uri
        self.from_user = user_of(_bare(self.from_uri))
        self.to_uri = msg.headers.get("to")[0]
        self.request_user = user_of(msg.uri)
        self.remote_addr: Addr = inc.source
        self.transport = inc.transport
        self.offer_sdp: str | None = msg.text if msg.body else None
        self.state = CallState.OFFERED
        self.deadline: float | None = None  # 2xx retransmission / ACK give-up (§13.3.1.4)
        self.ok_response: bytes | None = None
        self.ok_cseq = 0
        self.ok_interval = 0.0
        self.ok_give_up = 0.0
        self.open_client_txs = 0
        self.hangup_after_ack = False
        self.refer_pending = False  # REFER accepted (2xx): a NOTIFY sipfrag is awaited
        self.refer_wanted = False  # the application still waits for this transfer's outcome
        self.ended_reported = False
        self.bye_reason = EndReason.LOCAL_HANGUP
        #: when our BYE left (clock time): the call's end, however long its transaction then takes
        self.bye_at: float | None = None
        self.local_sdp = ""  #: our latest SDP (a re-INVITE refresh offers it again, RFC 4028 §7.4)
        #: the RFC 4028 timer as negotiated from the INVITE (None: no session timer)
        self.session: Negotiated | None = None
        self.session_timer: SessionTimer | None = None

    def __repr__(self) -> str:
        return f"<ServerCall {self.call_id} {self.state.value}>"

    @property
    def local_tag(self) -> str:
        return self.dialog.local_tag

    def invite_request(self) -> Incoming:
        """The INVITE, to answer it (180, 200, a final): only before :meth:`confirmed`."""
        if self.invite is None:
            raise RuntimeError(f"the INVITE of call {self.call_id} was let go at its ACK")
        return self.invite

    def confirmed(self) -> None:
        """The ACK of our 2xx came: the INVITE is answered for good, so its parsed text (the
        largest thing a call holds, ~3.5 KiB) is let go; the dialog keeps what it needs."""
        self.state = CallState.CONFIRMED
        self.invite = None
        self.ok_response = None  # no more 2xx retransmissions (the transaction keeps its copy)

    def ringing(self) -> None:
        """180 Ringing (it carries our To-tag, so an early dialog exists)."""
        self._ep.call_ringing(self)

    def answer(self, sdp: str) -> None:
        """200 OK with ``sdp``; retransmitted until the ACK (§13.3.1.4)."""
        self._ep.call_answer(self, sdp)

    def reject(self, status: int, reason: str = "", headers: dict[str, str] | None = None) -> None:
        """A final 3xx-6xx (e.g. 486, 488, 503 with ``{"Retry-After": "30"}``), resent until ACK."""
        self._ep.call_reject(self, status, reason, headers)

    def redirect(self, target_uri: str) -> None:
        """302 Moved Temporarily with ``Contact: <target_uri>`` (§8.3)."""
        self._ep.call_reject(self, 302, "", {"Contact": f"<{target_uri}>"})

    def hangup(self) -> None:
        """BYE (a client transaction, §15.1.1); before the answer it rejects with 480 instead."""
        self._ep.call_hangup(self)

    def refer(self, target_uri: str) -> None:
        """REFER to ``target_uri`` (RFC 3515); BYE follows the NOTIFY that reports success."""
        self._ep.call_refer(self, target_uri)

    def cancel_transfer(self) -> None:
        """The application gave up waiting (its ``transfer-timeout``): a late 2xx NOTIFY no
        longer ends the call, and no failure is reported for this REFER any more."""
        self.refer_wanted = False
        self.refer_pending = False

    # -- UAS core timer (driven by the endpoint's heap) --

    def on_timer(self, now: float) -> None:
        self._ep.call_timer(self, now)


def _bare(value: str) -> str:
    start = value.find("<")
    if start >= 0:
        return value[start + 1 : value.find(">", start)]
    return value.split(";", 1)[0]
