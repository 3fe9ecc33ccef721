"""Decisions returned by :meth:`IdleSession.poll`; each says when it was ``due``.

``due`` is the absolute deadline; a driver computes lateness as ``now - due``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class Reprompt:
    """No input for one period: play the prompt again; this is attempt ``attempt`` of ``of``."""

    due: float
    attempt: int
    of: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Warn:
    """The final decision comes in ``time_left`` seconds (at ``final_at``) unless there is input."""

    due: float
    time_left: float
    final_at: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Lock:
    """Lock the session: hide it, ask for the owner's password."""

    due: float
    reason: str = "inactivity-timeout"
    attempts: int = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class Disconnect:
    """End the session (for calls: goodbye prompt, then BYE)."""

    due: float
    reason: str = "inactivity-timeout"
    attempts: int = 1


Decision = Reprompt | Warn | Lock | Disconnect
