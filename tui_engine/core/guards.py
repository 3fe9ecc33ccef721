"""Call-wide guards: the deadlines that end a call whatever its menus do.

The no-input cycle bounds silence *per menu visit*; a dialplan whose no-input step sends the
caller to another menu (and back) would otherwise keep a silent call up for ever, and a caller
that vanished without a BYE would be served prompts for ever. So every call also carries:

* ``max-call-duration``: an absolute cap from the answer (an :class:`IdleSession` that no
  activity ever resets);
* ``max-silence-total``: a silence budget across all menus of the call. Silence is the time
  the no-input timer ran (prompts playing, digits being typed and PIN checks do not count);
* ``media-timeout``: no RTP from the caller for that long while the call is not on hold (an
  :class:`IdleSession` whose activity is each received packet, fed lazily: the driver reports
  the last arrival when the deadline comes, so packets cost nothing here). It starts counting
  at the caller's first packet: a caller that never sends RTP (SIPp's silent scenarios, a
  send-only test tool) proves nothing about being gone, and the other two guards bound it.

Each is disabled by 0. The first guard to expire gives one :class:`GuardExpired`; after that
nothing fires. Sans-I/O like the rest of the core: ``now`` comes in, deadlines go out.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from tui_engine.core.errors import LocalError
from tui_engine.core.events import Activity, PolicyChanged, ProgressFinished, ProgressStarted, Started
from tui_engine.core.machine import IdleSession, IdleState
from tui_engine.core.policy import call_policy


class Guard(enum.Enum):
    """Which guard ended the call; the value is the call's end reason."""

    #: the call reached ``max-call-duration``.
    MAX_CALL_DURATION = "max-call-duration"
    #: the no-input timer ran ``max-silence-total`` in all, across menus.
    MAX_SILENCE_TOTAL = "max-silence-total"
    #: no RTP from the caller for ``media-timeout`` (not on hold).
    MEDIA_TIMEOUT = "media-timeout"


@dataclass(frozen=True, kw_only=True, slots=True)
class CallLimits:
    """The three guards in seconds; 0 disables one. Defaults: see ``config/template.toml``."""

    max_call_duration: float = 3600.0
    max_silence_total: float = 300.0
    media_timeout: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_call_duration", "max_silence_total", "media_timeout"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise LocalError(f"{name} must be a finite number of seconds >= 0, got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class GuardExpired:
    """A call-wide guard expired at ``due``: goodbye, then BYE with ``guard.value`` as reason."""

    guard: Guard
    due: float
    limit: float


def _cap(seconds: float) -> IdleSession:
    """One silent period of ``seconds``, then disconnect: the idle core's shape of a guard
    (``seconds == 0``: a disabled policy, which a reload may enable later)."""
    return IdleSession(call_policy(seconds, 1))


class CallGuards:
    """The guards of one call (see the module docstring)."""

    __slots__ = (
        "_duration", "_expired", "_limits", "_media", "_media_at", "_silence_floor", "_silence_since",
        "_silence_used",
    )

    def __init__(self, limits: CallLimits, now: float) -> None:
        self._limits = limits
        self._duration = _cap(limits.max_call_duration)
        self._duration.send(Started(now=now))
        self._media = _cap(limits.media_timeout)  # started by the caller's first packet
        self._media_at: float | None = None
        self._silence_used = 0.0
        self._silence_since: float | None = None
        self._silence_floor = now  # nothing is due before the last change of the limits
        self._expired: GuardExpired | None = None

    @property
    def expired(self) -> GuardExpired | None:
        return self._expired

    @property
    def silence_used(self) -> float:
        """Silence counted so far (up to the last :meth:`silence` call)."""
        return self._silence_used

    # -- events ----------------------------------------------------------------------
    def silence(self, now: float, running: bool) -> None:
        """Whether the no-input timer runs from ``now`` on; the time since the last call is
        counted if it ran then. Call after every event that may start or stop it."""
        if self._silence_since is not None:
            self._silence_used += max(0.0, now - self._silence_since)
        self._silence_since = now if running else None

    def change_limits(self, limits: CallLimits, now: float) -> None:
        """A configuration reload: the new limits apply to this call at once, measured from the
        same starts (the answer, the silence used so far, the last packet), as the idle core
        applies a changed policy; nothing becomes due before ``now``."""
        if limits == self._limits or self._expired is not None:
            return
        self._limits = limits
        self._duration.send(PolicyChanged(now=now, policy=call_policy(limits.max_call_duration, 1)))
        self._media.send(PolicyChanged(now=now, policy=call_policy(limits.media_timeout, 1)))
        self._silence_floor = now

    def media_seen(self, at: float | None) -> None:
        """The caller's latest RTP packet arrived at ``at`` (``None``: none yet)."""
        media = self._media
        if at is None or (self._media_at is not None and at <= self._media_at):
            return
        self._media_at = at
        if media.state is IdleState.NEW:
            media.send(Started(now=at))
        elif media.state in (IdleState.WAITING, IdleState.SUSPENDED):
            media.send(Activity(now=at))

    def hold(self, now: float, on: bool) -> None:
        """The caller put the call on hold (``on``) or took it off: no RTP is expected on hold."""
        media = self._media
        if media.state in (IdleState.EXPIRED, IdleState.STOPPED):
            return
        if on and not media.progress_open:
            media.send(ProgressStarted(now=now))
        elif not on and media.progress_open:
            media.send(ProgressFinished(now=now))  # a fresh period from the end of the hold

    # -- deadlines -------------------------------------------------------------------
    def _silence_deadline(self) -> float | None:
        budget = self._limits.max_silence_total
        if budget <= 0 or self._silence_since is None:
            return None
        return max(self._silence_since + max(0.0, budget - self._silence_used), self._silence_floor)

    def next_deadline(self) -> float | None:
        if self._expired is not None:
            return None
        found = [
            d
            for d in (
                self._duration.next_deadline(),
                self._silence_deadline(),
                self._media.next_deadline(),
            )
            if d is not None
        ]
        return min(found) if found else None

    def poll(self, now: float) -> GuardExpired | None:
        """The first guard due at ``now`` (once per call), else ``None``; never before its deadline."""
        if self._expired is not None:
            return None
        limits = self._limits
        due = [
            g
            for g in (
                _polled(Guard.MAX_CALL_DURATION, self._duration, limits.max_call_duration, now),
                _polled(Guard.MEDIA_TIMEOUT, self._media, limits.media_timeout, now),
            )
            if g is not None
        ]
        silence_at = self._silence_deadline()
        if silence_at is not None and silence_at <= now:
            budget = limits.max_silence_total
            due.append(GuardExpired(guard=Guard.MAX_SILENCE_TOTAL, due=silence_at, limit=budget))
        if not due:
            return None
        self._expired = min(due, key=lambda g: g.due)
        return self._expired


def _polled(guard: Guard, session: IdleSession, limit: float, now: float) -> GuardExpired | None:
    """The guard's expiry if its one-period session decided ``Disconnect`` at ``now``."""
    decisions = session.poll(now)
    return GuardExpired(guard=guard, due=decisions[-1].due, limit=limit) if decisions else None
