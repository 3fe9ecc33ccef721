"""Events fed to :class:`~tui_engine.core.machine.IdleSession`; each carries ``now``."""

from __future__ import annotations

from dataclasses import dataclass

from tui_engine.core.policy import IdlePolicy


@dataclass(frozen=True, kw_only=True, slots=True)
class Started:
    """The session begins; the first silent period starts at ``now``."""

    now: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Activity:
    """Any input (a digit, a key press, a click): resets the timer and the attempt count."""

    now: float


@dataclass(frozen=True, kw_only=True, slots=True)
class ProgressStarted:
    """Something the user is watching began (a prompt playing, an export running).

    While at least one progress is open, the no-input timer does not run.
    """

    now: float


@dataclass(frozen=True, kw_only=True, slots=True)
class ProgressFinished:
    """One open progress ended; when none remain, a fresh silent period starts at ``now``.

    It is not input: the attempt count is kept (a re-played prompt is not an answer).
    """

    now: float


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyChanged:
    """The configuration changed for a running session (see ``IdleSession`` for the rule)."""

    now: float
    policy: IdlePolicy


@dataclass(frozen=True, kw_only=True, slots=True)
class Resumed:
    """A locked session was unlocked by its owner: a fresh start with all attempts."""

    now: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Stopped:
    """The session is over (hang-up, logout, close); nothing fires any more."""

    now: float


Event = Started | Activity | ProgressStarted | ProgressFinished | PolicyChanged | Resumed | Stopped
