"""Pure decisions about one stored web session, made by the idle core.

The core takes any consistent clock. For web sessions we feed it **wall-clock epoch
seconds**: the session's silent period starts at ``anchor`` (stored by whichever node saw
the activity) and several engine processes must compute the same deadline from it. Each
process's monotonic clock has its own epoch, so only wall-clock values agree across nodes
and across a restart. (NTP steps can move a deadline by the step; that is accepted and
documented in docs/web-security.md.)

Every call rebuilds a fresh :class:`IdleSession` from the stored row (``Started`` at the
anchor) and polls it at ``now``; nothing here does I/O, so it is tested with plain numbers.

Nothing but the anchor holds a lock off. A running request is not progress (a poll at the
deadline must not stretch it), and a long task the user watches is a *lease* whose renewals
move the anchor (``SessionManager.progress``): a worker that dies stops renewing, and the
session locks one timeout after the last renewal, whatever any counter says.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tui_engine.core import IdlePolicy, IdleSession, Lock, Started
from tui_engine.web.store.records import SessionRecord


class SessionState(enum.Enum):
    #: no session for this cookie (never logged in, or unknown/rotated ID).
    NONE = "none"
    #: logged in and usable.
    ACTIVE = "active"
    #: locked for inactivity; only unlock and close are served.
    LOCKED = "locked"
    #: closed for good (logout, cancel, too many failures, absolute lifetime).
    CLOSED = "closed"


class Action(enum.Enum):
    #: nothing to write.
    NONE = "none"
    #: the idle deadline has passed: lock (compare-and-set on the anchor).
    LOCK = "lock"
    #: the absolute lifetime has passed: close.
    EXPIRE = "expire"


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    state: SessionState
    action: Action = Action.NONE
    #: when the session locks if nothing happens (epoch s), None when it cannot (disabled).
    lock_at: float | None = None
    #: when the page should show the warning (epoch s), None without a warning.
    warn_at: float | None = None
    #: when a timer must look at this session again (warn, lock or lifetime end).
    wake_at: float | None = None


def idle_view(record: SessionRecord, policy: IdlePolicy) -> IdleSession:
    """The core's view of a stored session, started at its anchor."""
    session = IdleSession(policy)
    session.send(Started(now=record.anchor))
    return session


def decide(record: SessionRecord | None, policy: IdlePolicy, lifetime: float, now: float) -> Verdict:
    """What this session is at ``now``, and what must be written to make it so."""
    if record is None:
        return Verdict(state=SessionState.NONE)
    if record.closed:
        return Verdict(state=SessionState.CLOSED)
    end_of_life = record.created_at + lifetime
    if now >= end_of_life:
        return Verdict(state=SessionState.CLOSED, action=Action.EXPIRE)
    if record.locked:
        return Verdict(state=SessionState.LOCKED, wake_at=end_of_life)
    view = idle_view(record, policy)
    lock_at = view.expiry_at()
    first = view.next_deadline()
    warn_at = first if first is not None and first != lock_at else None
    if any(isinstance(d, Lock) for d in view.poll(now)):
        return Verdict(state=SessionState.LOCKED, action=Action.LOCK)
    wake = min(end_of_life, view.next_deadline() or end_of_life)
    return Verdict(state=SessionState.ACTIVE, lock_at=lock_at, warn_at=warn_at, wake_at=wake)

