"""Sans-I/O SIP transactions (RFC 3261 §17) with absolute deadlines.

Each transaction holds one ``deadline`` (or ``None``); the endpoint keeps them in a heap and
calls :meth:`on_timer` when ``now`` passes it. Nothing here reads a clock or touches a socket:
messages leave through :class:`TxEnv.send` and the end of a transaction is reported with
:meth:`TxEnv.finished`, so the endpoint can drop it from its table (no leaks, gap 4 of
sip-foundation.md).

Implemented: INVITE server (§17.2.1 with RFC 6026's Accepted state), non-INVITE server
(§17.2.2) and non-INVITE client (§17.1.2, used for our BYE, REFER). We never send INVITE.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol

from tui_engine.obs.logging import get_logger
from tui_engine.sip.message import Addr
from tui_engine.sip.timers import SipTimers

log = get_logger("tui_engine.sip")


class Timed(Protocol):
    """Something with one absolute deadline that the endpoint's heap wakes."""

    deadline: float | None

    @property
    def call_id(self) -> str | None:
        """Bound to the log lines of its timer: one heap runs the timers of every call."""

    def on_timer(self, now: float) -> None: ...


class TxEnv(Protocol):
    """What a transaction needs from the endpoint that owns it."""

    timers: SipTimers

    def send(self, data: bytes, addr: Addr, transport: str) -> None: ...

    def schedule(self, item: Timed) -> None: ...

    def finished(self, tx: ServerTx | ClientTx) -> None: ...


class TxState(enum.Enum):
    TRYING = "trying"  #: client: request sent, nothing heard yet
    PROCEEDING = "proceeding"  #: a provisional response was sent/received
    COMPLETED = "completed"  #: final response sent/received; absorbing retransmissions
    CONFIRMED = "confirmed"  #: INVITE server: ACK for a non-2xx arrived (Timer I running)
    ACCEPTED = "accepted"  #: INVITE server: 2xx sent, absorbing INVITE retransmissions (RFC 6026 §7.1)
    TERMINATED = "terminated"  #: gone from the table


class ServerTx:
    """Common part of server transactions: the last response, resent on a retransmitted request."""

    __slots__ = (
        "_env", "call_id", "deadline", "key", "last_response", "repeated", "reply_addr", "state", "transport",
    )

    def __init__(
        self, env: TxEnv, key: tuple[str, str], reply_addr: Addr, transport: str, call_id: str | None = None
    ) -> None:
        self._env = env
        self.call_id = call_id
        self.key = key
        self.reply_addr = reply_addr
        self.transport = transport
        self.state = TxState.TRYING
        self.last_response: bytes | None = None
        self.deadline: float | None = None
        self.repeated = False  #: the peer has repeated its request at least once

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"

    def _send(self, data: bytes) -> None:
        self._env.send(data, self.reply_addr, self.transport)

    def retransmission(self) -> bool:
        """The peer repeated its request: repeat our last response, if any (§17.2.1, §17.2.2).
        True the first time only (the overload signal counts a transaction once, not each copy)."""
        first, self.repeated = not self.repeated, True
        self._resend()
        return first

    def _resend(self) -> None:
        if self.last_response is not None and self.state is not TxState.TERMINATED:
            self._send(self.last_response)

    def _arm(self, when: float) -> None:
        self.deadline = when
        self._env.schedule(self)

    def _terminate(self) -> None:
        if self.state is not TxState.TERMINATED:
            self.state = TxState.TERMINATED
            self.deadline = None
            self._env.finished(self)

    def on_timer(self, now: float) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class InviteServerTx(ServerTx):
    """§17.2.1: provisional → final; non-2xx resent on Timer G until ACK or Timer H."""

    __slots__ = ("_give_up", "_interval")

    def __init__(
        self, env: TxEnv, key: tuple[str, str], reply_addr: Addr, transport: str, call_id: str | None = None
    ) -> None:
        super().__init__(env, key, reply_addr, transport, call_id)
        self.state = TxState.PROCEEDING
        self._interval = env.timers.t1
        self._give_up = 0.0

    def respond(self, data: bytes, status: int, now: float) -> None:
        """Send a response; its class decides the next state (§17.2.1 figure 7, RFC 6026 figure 5)."""
        if self.state not in (TxState.PROCEEDING,):
            return
        self.last_response = data
        self._send(data)
        timers = self._env.timers
        if status < 200:
            return
        if status < 300:
            self.state = TxState.ACCEPTED
            self._arm(now + timers.transaction_timeout)  # Timer L
            return
        self.state = TxState.COMPLETED
        self._give_up = now + timers.transaction_timeout  # Timer H
        self._arm(self._give_up if self.reliable else min(now + self._interval, self._give_up))

    def ack(self, now: float) -> bool:
        """An ACK matched this transaction; True when it confirmed a non-2xx final."""
        if self.state is not TxState.COMPLETED:
            return False
        self.state = TxState.CONFIRMED
        if self.reliable:
            self._terminate()
        else:
            self._arm(now + self._env.timers.t4)  # Timer I
        return True

    def on_timer(self, now: float) -> None:
        if self.state is TxState.COMPLETED:
            if now >= self._give_up:
                log.info("sip.ack_timeout", transaction="invite-server", branch=self.key[0])
                self._terminate()
                return
            self._resend()  # Timer G
            self._interval = self._env.timers.next_interval(self._interval)
            self._arm(min(now + self._interval, self._give_up))
        elif self.state in (TxState.CONFIRMED, TxState.ACCEPTED):
            self._terminate()


class NonInviteServerTx(ServerTx):
    """§17.2.2: one final response, resent for each retransmitted request until Timer J."""

    __slots__ = ()

    def respond(self, data: bytes, now: float) -> None:
        if self.state is TxState.TERMINATED or self.last_response is not None:
            return
        self.last_response = data
        self.state = TxState.COMPLETED
        self._send(data)
        if self.reliable:
            self._terminate()  # Timer J = 0 on reliable transports
        else:
            self._arm(now + self._env.timers.transaction_timeout)

    def on_timer(self, now: float) -> None:
        self._terminate()


FinalHandler = Callable[[int], None]


class ClientTx:
    """§17.1.2: our non-INVITE request, resent on Timer E until a final response or Timer F."""

    __slots__ = (
        "_env", "_give_up", "_interval", "addr", "branch", "call_id", "deadline", "method", "on_final",
        "on_timeout", "request", "state", "transport",
    )

    def __init__(
        self, env: TxEnv, *, branch: str, method: str, request: bytes, addr: Addr, transport: str,
        on_final: FinalHandler, on_timeout: Callable[[], None], call_id: str | None = None,
    ) -> None:
        self._env = env
        self.call_id = call_id
        self.branch = branch
        self.method = method
        self.request = request
        self.addr = addr
        self.transport = transport
        self.on_final = on_final
        self.on_timeout = on_timeout
        self.state = TxState.TRYING
        self.deadline: float | None = None
        self._interval = env.timers.t1
        self._give_up = 0.0

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"

    def start(self, now: float) -> None:
        self._env.send(self.request, self.addr, self.transport)
        self._give_up = now + self._env.timers.transaction_timeout  # Timer F
        self._arm(self._give_up if self.reliable else min(now + self._interval, self._give_up))

    def _arm(self, when: float) -> None:
        self.deadline = when
        self._env.schedule(self)

    def response(self, status: int, now: float) -> None:
        """A response whose top Via carries our branch (§17.1.3)."""
        if self.state in (TxState.COMPLETED, TxState.TERMINATED):
            return
        if status < 200:
            self.state = TxState.PROCEEDING
            self._interval = self._env.timers.t2  # §17.1.2.2: in Proceeding, retransmit every T2
            return
        self.state = TxState.COMPLETED
        self.on_final(status)
        if self.reliable:
            self._terminate()
        else:
            self._arm(now + self._env.timers.t4)  # Timer K

    def on_timer(self, now: float) -> None:
        if self.state is TxState.COMPLETED:
            self._terminate()
            return
        if self.state is TxState.TERMINATED:
            return
        if now >= self._give_up:
            self._terminate()
            self.on_timeout()
            return
        self._env.send(self.request, self.addr, self.transport)  # Timer E
        if self.state is TxState.TRYING:
            self._interval = self._env.timers.next_interval(self._interval)
        self._arm(min(now + self._interval, self._give_up))

    def _terminate(self) -> None:
        if self.state is not TxState.TERMINATED:
            self.state = TxState.TERMINATED
            self.deadline = None
            self._env.finished(self)
