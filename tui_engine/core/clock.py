"""A tiny injected clock (after trio's ``MockClock``).

The core never reads time itself; drivers read ``Clock.now()`` and pass the value in.
``MonotonicClock`` shares its epoch with ``asyncio``'s ``loop.time()`` so absolute
deadlines returned by the core can be handed to ``loop.call_at`` unchanged.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic clock; only differences are meaningful."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic()``, the same one ``loop.time()`` uses."""

    def now(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock for tests: starts at ``start`` and moves only when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError(f"FakeClock.advance({seconds}): time never goes backwards")
        self._now += seconds
        return self._now

    def set(self, when: float) -> float:
        """Jump to the absolute time ``when`` (never backwards)."""
        if when < self._now:
            raise ValueError(f"FakeClock.set({when}): before now ({self._now})")
        self._now = when
        return self._now
