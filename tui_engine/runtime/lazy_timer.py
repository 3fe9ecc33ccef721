"""One long-lived timer, re-armed lazily (after aiohttp's keep-alive handling).

Whoever owns a deadline that moves often (a caller pressing keys, a web user clicking)
calls :meth:`LazyTimer.ensure` with the new deadline. A handle already due no later than
that is left alone: it wakes early, the owner finds nothing due and calls ``ensure`` again
(with ``not_before`` = now + :data:`MIN_REARM`). So activity never costs a cancel and a new
``call_at``; only a deadline that moved *earlier* replaces the handle.

The armed deadline is stored here, not read back from the handle: uvloop's ``call_at``
returns a plain ``Handle`` without ``when()`` for deadlines less than 0.5 ms away.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Protocol, TypeVarTuple

MIN_REARM = 0.001
"""After a wake that found nothing due, never re-arm sooner than this (seconds).

libuv (uvloop) timers have millisecond resolution: ``call_at`` rounds the delay to the
nearest millisecond and runs one under half a millisecond at once, so a handle can run up to
0.5 ms before its deadline. Re-arming the same deadline would then spin through the loop
until the clock caught up; waiting one tick instead costs one extra handle and at most about
a millisecond of lateness, and a decision is still never delivered before it is due.
"""


_Ts = TypeVarTuple("_Ts")


class TimerHandleLike(Protocol):
    """What a scheduled handle must offer (``asyncio.TimerHandle`` and uvloop's do)."""

    def cancel(self) -> None: ...
    def cancelled(self) -> bool: ...


class TimerLoop(Protocol):
    """The two loop methods timers use.

    Every asyncio loop (uvloop too) has them; so does :class:`tui_engine.testing.FakeLoop`,
    which lets tests move virtual time instead of sleeping.
    """

    def time(self) -> float: ...
    def call_at(
        self,
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> TimerHandleLike: ...


class LazyTimer:
    """At most one pending ``call_at`` for one owner; ``callback`` runs in ``context``."""

    __slots__ = ("_callback", "_ctx", "_loop", "armed_at", "handle")

    def __init__(
        self,
        loop: TimerLoop,
        callback: Callable[[], object],
        *,
        context: contextvars.Context | None = None,
    ) -> None:
        self._loop = loop
        self._callback = callback
        self._ctx = context
        #: the pending handle, or None.
        self.handle: TimerHandleLike | None = None
        #: the deadline ``handle`` was scheduled for (meaningful while ``handle`` is set).
        self.armed_at = 0.0

    def ensure(self, deadline: float | None, *, not_before: float | None = None) -> None:
        """Make sure the callback runs at or soon after ``deadline`` (None: nothing to wait for)."""
        if deadline is None:
            return  # a pending handle will wake, find nothing, and not re-arm
        if not_before is not None and deadline < not_before:
            deadline = not_before
        if self.handle is not None:
            if self.armed_at <= deadline:
                return  # wakes early, then re-arms: no churn on every keypress
            self.handle.cancel()
        if self._callback is _closed:
            return
        self.armed_at = deadline
        self.handle = self._loop.call_at(deadline, self._fire, context=self._ctx)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def close(self) -> None:
        """Cancel, and let go of the callback and context for good.

        The callback is usually a bound method of the owner, which holds this timer: a
        reference cycle that only a full garbage collection would free. Closing breaks it, so
        the owner is freed by reference counting the moment it is dropped (see
        ``tui_engine.runtime.gc_policy``). A closed timer never arms again.
        """
        self.cancel()
        self._callback = _closed
        self._ctx = None

    def _fire(self) -> None:
        self.handle = None
        self._callback()


def _closed() -> None:
    """The callback of a closed timer."""
