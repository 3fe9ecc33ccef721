"""The one timer driver: schedules any sans-I/O object that offers ``next_deadline()`` / ``poll(now)``.

Every deadline of the engine goes through here: an idle session (:class:`IdleTimer`), a call
(``tui.call.CallSession``), the SIP endpoint's timer heap (``sip.server.SipServer``), the SIP
streams that owe a message (``sip.transport.Transports``) and each portal session
(``web.sessions``). Only the media clock schedules ``call_at`` itself (its 20 ms grid is not a
deadline that moves).

The rule, written once: after any event that may have moved the deadline, call :meth:`arm`.
It keeps the one pending handle while that handle is due no later than the new deadline
(:class:`LazyTimer`), so activity costs no ``call_at``. When the handle fires, the driver reads
the loop's clock, calls ``poll(now)``, and re-arms at ``next_deadline()``; a wake that found
nothing due (``poll`` returned something falsy: woke early, or uvloop's half-millisecond) re-arms
no sooner than :data:`MIN_REARM` later. The re-arm happens even when ``poll`` raised (the loop's
exception handler reports it): a failing handler never leaves its owner without a deadline.
"""

from __future__ import annotations

import contextvars
from typing import Protocol

from tui_engine.runtime.lazy_timer import MIN_REARM, LazyTimer, TimerLoop


class Pollable(Protocol):
    """A sans-I/O object with deadlines: when it next needs ``poll``, and the poll itself."""

    def next_deadline(self) -> float | None: ...

    def poll(self, now: float) -> object:
        """Act on what is due at ``now``; a truthy result means something was due."""


class DeadlineDriver:
    """At most one pending ``call_at`` for one :class:`Pollable` (see the module docstring)."""

    __slots__ = ("_loop", "_target", "timer")

    def __init__(
        self, loop: TimerLoop, target: Pollable, *, context: contextvars.Context | None = None
    ) -> None:
        self._loop = loop
        self._target: Pollable | None = target
        # The handle runs in ``context`` (call_id / session_id bound for the log lines).
        #: the one lazily re-armed handle (its ``armed_at`` is the deadline it was scheduled for,
        #: still readable inside ``poll``: what the wake was for).
        self.timer = LazyTimer(loop, self._fire, context=context)

    def arm(self, *, not_before: float | None = None) -> None:
        """The target's deadline may have moved: make sure a handle wakes it in time."""
        if self._target is not None:
            self.timer.ensure(self._target.next_deadline(), not_before=not_before)

    def cancel(self) -> None:
        """Drop the pending handle; a later :meth:`arm` schedules again."""
        self.timer.cancel()

    def close(self) -> None:
        """Cancel for good and let go of the target (breaks the owner ↔ driver cycle)."""
        self.timer.close()
        self._target = None

    def _fire(self) -> None:
        target = self._target
        if target is None:
            return
        now = self._loop.time()
        due = False
        try:
            due = bool(target.poll(now))
        finally:
            self.arm(not_before=None if due else now + MIN_REARM)
