"""The idle policy: how long a session may stay silent and what happens then."""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass

from tui_engine.core.errors import LocalError


class FinalAction(enum.Enum):
    """What the core decides when the last attempt expires."""

    #: end the call (phone menus): a goodbye prompt, then BYE.
    DISCONNECT = "disconnect"
    #: lock the session (web portal): content hidden, re-login required.
    LOCK = "lock"


@dataclass(frozen=True, kw_only=True, slots=True)
class IdlePolicy:
    """``timeout`` seconds of silence per attempt, ``max_attempts`` attempts, then ``final``.

    ``timeout == 0`` disables the policy: nothing ever fires. ``warn_before`` (seconds,
    optional) asks for one :class:`~tui_engine.core.decisions.Warn` that long before the
    final decision; when it is as long as the timeout itself, the warning comes at the
    start of the last silent period.
    """

    timeout: float
    max_attempts: int = 1
    final: FinalAction = FinalAction.DISCONNECT
    warn_before: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.timeout) or self.timeout < 0:
            raise LocalError(f"timeout must be a finite number of seconds >= 0, got {self.timeout!r}")
        if self.max_attempts < 1:
            raise LocalError(f"max_attempts must be >= 1, got {self.max_attempts!r}")
        if self.warn_before is not None and (
            not math.isfinite(self.warn_before) or self.warn_before <= 0
        ):
            raise LocalError(f"warn_before must be > 0 seconds or None, got {self.warn_before!r}")

    @property
    def enabled(self) -> bool:
        return self.timeout > 0

    @property
    def total_silence(self) -> float:
        """Silence from the first wait to the final decision: ``timeout * max_attempts``."""
        return self.timeout * self.max_attempts


@functools.lru_cache(maxsize=256, typed=True)
def call_policy(no_input_timeout: float, max_attempts: int) -> IdlePolicy:
    """Phone menus: ``max_attempts`` silent periods of ``no_input_timeout``, then disconnect
    (goodbye + BYE). Also the shape of a call-wide guard (one period, no re-prompt).

    Cached: each call asks for four (its start menu's and its guards'), from a handful of
    configured values, and an :class:`IdlePolicy` is frozen, so one object serves them all
    (a value it refuses raises each time: exceptions are not cached)."""
    return IdlePolicy(timeout=no_input_timeout, max_attempts=max_attempts, final=FinalAction.DISCONNECT)


def portal_policy(inactivity_timeout: float, warning: float | None) -> IdlePolicy:
    """Web sessions: one period of ``inactivity_timeout``, then lock; warned ``warning`` before
    (``None`` or 0: no warning). ``inactivity_timeout == 0`` never locks."""
    return IdlePolicy(
        timeout=inactivity_timeout,
        max_attempts=1,
        final=FinalAction.LOCK,
        warn_before=warning if warning is not None and warning > 0 else None,
    )
