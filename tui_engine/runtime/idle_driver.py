"""Drive one :class:`IdleSession` on an asyncio loop through the one timer driver.

After aiohttp's keep-alive handling (:class:`~tui_engine.runtime.DeadlineDriver`): activity
only moves the deadline stored in the core; the single ``TimerHandle`` is left alone while it
is due no later than the new deadline, and when it wakes early it finds nothing due and re-arms
itself. A keypress or heartbeat therefore costs a few attribute writes, never a cancel + ``call_at``.

Every decision is logged as ``idle.<kind>`` with the attempt and the lateness in ms
(``loop.time()`` at firing minus the deadline, never negative), and handed to
``on_decision``. Handlers may call back into the timer (start a progress for a re-played
prompt, ``stop()`` on the final decision): once a handler stops the session, the rest of
that wake's decisions are dropped.
If a handler raises, the loop's exception handler reports it and the timer stays armed, so a
failing reprompt never leaves a caller without a bound on silence.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Protocol, TypeVarTuple

from tui_engine.core import (
    Activity,
    Decision,
    Disconnect,
    IdlePolicy,
    IdleSession,
    IdleState,
    Lock,
    PolicyChanged,
    ProgressFinished,
    ProgressStarted,
    Reprompt,
    Resumed,
    Started,
    Stopped,
    Warn,
)
from tui_engine.obs.logging import get_logger
from tui_engine.runtime.deadline_driver import DeadlineDriver
from tui_engine.runtime.lazy_timer import LazyTimer, TimerLoop

log = get_logger("tui_engine.idle")
_Ts = TypeVarTuple("_Ts")

DecisionHandler = Callable[[Decision, float], None]
"""Called with each decision and its lateness in seconds."""


class LatenessSink(Protocol):
    def observe_lateness(self, kind: str, seconds: float) -> None: ...





_KIND: dict[type, str] = {Reprompt: "reprompt", Warn: "warn", Lock: "lock", Disconnect: "disconnect"}


def decision_kind(decision: Decision) -> str:
    """``reprompt`` / ``warn`` / ``lock`` / ``disconnect``."""
    return _KIND[type(decision)]


class IdleTimer:
    """Owns an :class:`IdleSession` and the one timer that wakes it."""

    __slots__ = ("_driver", "_loop", "_on_decision", "_sink", "session")

    def __init__(
        self,
        policy: IdlePolicy,
        on_decision: DecisionHandler,
        *,
        loop: TimerLoop | None = None,
        sink: LatenessSink | None = None,
    ) -> None:
        self.session = IdleSession(policy)
        self._loop: TimerLoop = loop or asyncio.get_running_loop()
        self._on_decision = on_decision
        self._sink = sink
        # Timer callbacks run in the context of the creator, so call_id/session_id
        # bound with structlog.contextvars stay on the idle.* log events.
        self._driver = DeadlineDriver(self._loop, self, context=contextvars.copy_context())

    @property
    def timer(self) -> LazyTimer:
        """The one handle (for tests and benchmarks that count re-arms)."""
        return self._driver.timer

    # -- events: read the loop's clock, feed the core, re-arm if needed ---------------
    def start(self) -> None:
        self.session.send(Started(now=self._loop.time()))
        self._arm()

    def activity(self) -> None:
        if self.session.state in (IdleState.WAITING, IdleState.SUSPENDED, IdleState.EXPIRED):
            self.session.send(Activity(now=self._loop.time()))
            self._arm()

    def progress_started(self) -> None:
        if self.session.state is not IdleState.STOPPED:
            self.session.send(ProgressStarted(now=self._loop.time()))

    def progress_finished(self) -> None:
        if self.session.state is not IdleState.STOPPED and self.session.progress_open:
            self.session.send(ProgressFinished(now=self._loop.time()))
            self._arm()

    def change_policy(self, policy: IdlePolicy) -> None:
        if self.session.state is not IdleState.STOPPED:
            self.session.send(PolicyChanged(now=self._loop.time(), policy=policy))
            self._arm()

    def resume(self) -> None:
        self.session.send(Resumed(now=self._loop.time()))
        self._arm()

    def stop(self) -> None:
        self.session.send(Stopped(now=self._loop.time()))
        self._driver.cancel()

    def seconds_left(self) -> float | None:
        """Seconds until the current silent period ends (for dashboards)."""
        expiry = self.session.expiry_at()
        return None if expiry is None else max(0.0, expiry - self._loop.time())

    # -- the driver's side (Pollable) ---------------------------------------------------
    def _arm(self) -> None:
        self._driver.arm()

    def next_deadline(self) -> float | None:
        return None if self.session.state is IdleState.STOPPED else self.session.next_deadline()

    def poll(self, now: float) -> bool:
        """Deliver what is due; True when something was (the driver re-arms either way)."""
        delivered = False
        for decision in self.session.poll(now):
            if self.session.state is IdleState.STOPPED:
                break  # a handler stopped the session: later decisions are moot
            delivered = True
            self._deliver(decision, now - decision.due)
        return delivered

    def _deliver(self, decision: Decision, lateness: float) -> None:
        kind = decision_kind(decision)
        if self._sink is not None:
            self._sink.observe_lateness(kind, lateness)
        log.info(
            f"idle.{kind}",
            attempt=getattr(decision, "attempt", getattr(decision, "attempts", None)),
            of=self.session.policy.max_attempts,
            lateness_ms=round(lateness * 1000, 3),
        )
        self._on_decision(decision, lateness)
