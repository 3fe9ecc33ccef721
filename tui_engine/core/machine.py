"""The per-session idle state machine.

Rules (one place, as data: ``_TRANSITIONS``):

* The no-input timer runs only in ``WAITING``: while a progress is open (a prompt still
  playing, a long web task) the session is ``SUSPENDED`` and nothing can expire.
  "Watching the progress of an activity is not inactivity" (the feature description).
* Any :class:`Activity` resets both the timer and the attempt count.
* Each expiry of ``timeout`` without input uses one attempt; expiries before the last
  give :class:`Reprompt` (attempt n of N), the last gives the policy's final decision
  (:class:`Lock` or :class:`Disconnect`) exactly once; the session is then ``EXPIRED``.
* Silent periods chain on deadlines, not on when ``poll`` happened to run, so a late
  poll never stretches the next period.
* Nothing is ever decided before its deadline: ``poll(now)`` only returns decisions whose
  ``due <= now``.
* **Policy changes** (``PolicyChanged``) apply at once to the running session: the current
  silent period keeps its start, its deadline becomes ``start + new timeout`` and fires at
  the next poll if that is already past. Nothing becomes due before the change that moved
  it, though: such a decision is ``due`` at the time of the change (so lateness does not
  report a shortening as a slow timer, and ``due`` never goes backwards), and the next
  period is measured from there, so a shorter timeout never collapses several attempts
  into one poll. Attempts already used are kept, but never more than
  ``new max_attempts - 1``, so lowering ``max_attempts`` makes the next expiry the final
  one rather than firing a decision out of turn. A changed policy re-arms the warning, so
  a warning already shown is repeated with the new ``final_at`` instead of promising a
  time that no longer holds; an identical policy (a reload that did not touch this
  application) changes nothing. A policy with ``timeout == 0`` stops the timer;
  re-enabling it measures from the same start.
* A progress that finishes starts a new silent period with its own warning.
* ``Activity`` after the final decision is ignored (a digit racing the hang-up, a click on a
  locked page): only :class:`Resumed` (the owner unlocked) starts counting again.

An event that is illegal in the current state raises :class:`IdlePolicyError` and leaves
the state unchanged (after h11's ``_state.py``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

from tui_engine.core.decisions import Decision, Disconnect, Lock, Reprompt, Warn
from tui_engine.core.errors import IdlePolicyError
from tui_engine.core.events import (
    Activity,
    Event,
    PolicyChanged,
    ProgressFinished,
    ProgressStarted,
    Resumed,
    Started,
    Stopped,
)
from tui_engine.core.policy import FinalAction, IdlePolicy


class IdleState(enum.Enum):
    #: created, not started yet.
    NEW = "new"
    #: the no-input timer is running.
    WAITING = "waiting"
    #: a progress is open (prompt playing, long task): the timer is held.
    SUSPENDED = "suspended"
    #: the final decision (lock or disconnect) has fired.
    EXPIRED = "expired"
    #: the session is over; nothing fires any more.
    STOPPED = "stopped"


_Handler = Callable[["IdleSession", Event], IdleState]

N, W, S, E, X = (
    IdleState.NEW,
    IdleState.WAITING,
    IdleState.SUSPENDED,
    IdleState.EXPIRED,
    IdleState.STOPPED,
)


class IdleSession:
    """One caller's or one web user's idle state. Feed events, ``poll(now)``, schedule
    ``next_deadline()``."""

    __slots__ = ("_anchor", "_attempts_used", "_floor", "_open", "_policy", "_state", "_warned")

    def __init__(self, policy: IdlePolicy) -> None:
        self._policy = policy
        self._state = IdleState.NEW
        self._anchor = 0.0  # start of the current silent period
        self._floor = 0.0  # no period ends before this: the time of the last policy change
        self._attempts_used = 0  # expired periods since the last input
        self._open = 0  # open progresses
        self._warned = False

    # -- read-only views -------------------------------------------------------------
    @property
    def state(self) -> IdleState:
        return self._state

    @property
    def policy(self) -> IdlePolicy:
        return self._policy

    @property
    def attempt(self) -> int:
        """The attempt in progress, 1-based (the first prompt is attempt 1)."""
        return self._attempts_used + 1

    @property
    def progress_open(self) -> int:
        return self._open

    def expiry_at(self) -> float | None:
        """When the current silent period ends (never before the last policy change), or
        ``None`` when the timer is not running."""
        if self._state is not IdleState.WAITING or not self._policy.enabled:
            return None
        return max(self._anchor + self._policy.timeout, self._floor)

    def _warn_at(self, expiry: float) -> float | None:
        p = self._policy
        if p.warn_before is None or self._warned or self._attempts_used != p.max_attempts - 1:
            return None
        warn_at = expiry - p.warn_before
        if expiry - warn_at > p.warn_before:  # rounded one ulp early: the warning would promise more
            warn_at = math.nextafter(warn_at, math.inf)
        # Never before the period began, nor before a policy change that re-armed it.
        return max(self._anchor, self._floor, warn_at)

    def next_deadline(self) -> float | None:
        """The absolute time at which ``poll`` will next have something to say."""
        expiry = self.expiry_at()
        if expiry is None:
            return None
        warn_at = self._warn_at(expiry)
        return expiry if warn_at is None else warn_at

    # -- events ----------------------------------------------------------------------
    def send(self, event: Event) -> IdleState:
        """Apply ``event``; return the new state. Illegal pairs raise ``IdlePolicyError``."""
        handler = _TRANSITIONS.get((self._state, type(event)))
        if handler is None:
            raise IdlePolicyError(
                f"{type(event).__name__} is not allowed in state {self._state.value}"
            )
        self._state = handler(self, event)
        return self._state

    def _start(self, ev: Event) -> IdleState:
        self._anchor = ev.now
        return S if self._open else W

    def _activity(self, ev: Event) -> IdleState:
        self._anchor = ev.now
        self._attempts_used = 0
        self._warned = False
        return self._state

    def _progress_started(self, ev: Event) -> IdleState:
        self._open += 1
        return S if self._state in (W, S) else self._state

    def _progress_finished(self, ev: Event) -> IdleState:
        if self._open == 0:
            raise IdlePolicyError("ProgressFinished without an open progress")
        self._open -= 1
        if self._state is S and self._open == 0:
            self._anchor = ev.now
            self._warned = False  # a new period: its own warning, with its own final_at
            return W
        return self._state

    def _policy_changed(self, ev: Event) -> IdleState:
        assert isinstance(ev, PolicyChanged)
        old = self._policy
        self._policy = ev.policy
        if ev.policy != old:
            # Deadlines or the last period may have moved: nothing may now be due before
            # this moment (an identical reload changes nothing at all).
            self._floor = ev.now
            self._warned = False
        self._attempts_used = min(self._attempts_used, ev.policy.max_attempts - 1)
        return self._state

    def _resumed(self, ev: Event) -> IdleState:
        self._attempts_used = 0
        self._warned = False
        return self._start(ev)

    def _ignore(self, ev: Event) -> IdleState:
        return self._state

    def _stop(self, ev: Event) -> IdleState:
        return X

    # -- decisions -------------------------------------------------------------------
    def poll(self, now: float) -> list[Decision]:
        """Every decision due at or before ``now``, in order; never one that is not due."""
        out: list[Decision] = []
        p = self._policy
        while (expiry := self.expiry_at()) is not None:
            warn_at = self._warn_at(expiry)
            if warn_at is not None and warn_at <= now < expiry:
                self._warned = True
                out.append(Warn(due=warn_at, time_left=expiry - now, final_at=expiry))
                continue
            if expiry > now:
                break
            self._attempts_used += 1
            self._warned = False
            if self._attempts_used >= p.max_attempts:
                self._state = IdleState.EXPIRED
                final = Lock if p.final is FinalAction.LOCK else Disconnect
                out.append(final(due=expiry, attempts=self._attempts_used))
                break
            self._anchor = expiry
            out.append(Reprompt(due=expiry, attempt=self._attempts_used + 1, of=p.max_attempts))
        return out


_I = IdleSession
_TRANSITIONS: dict[tuple[IdleState, type], _Handler] = {
    (N, Started): _I._start,
    (N, ProgressStarted): _I._progress_started,
    (N, ProgressFinished): _I._progress_finished,
    (N, PolicyChanged): _I._policy_changed,
    (N, Stopped): _I._stop,
    (W, Activity): _I._activity,
    (W, ProgressStarted): _I._progress_started,
    (W, PolicyChanged): _I._policy_changed,
    (W, Stopped): _I._stop,
    (S, Activity): _I._activity,
    (S, ProgressStarted): _I._progress_started,
    (S, ProgressFinished): _I._progress_finished,
    (S, PolicyChanged): _I._policy_changed,
    (S, Stopped): _I._stop,
    (E, Activity): _I._ignore,
    (E, ProgressStarted): _I._progress_started,
    (E, ProgressFinished): _I._progress_finished,
    (E, PolicyChanged): _I._policy_changed,
    (E, Resumed): _I._resumed,
    (E, Stopped): _I._stop,
    (X, Stopped): _I._ignore,
}
