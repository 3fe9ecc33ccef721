"""The sans-I/O decision on a stored session: plain numbers, no clock, no I/O."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from tui_engine.core import FinalAction, IdlePolicy
from tui_engine.web.decide import Action, SessionState, decide
from tui_engine.web.store import SessionRecord

POLICY = IdlePolicy(timeout=600.0, max_attempts=1, final=FinalAction.LOCK, warn_before=60.0)
LIFETIME = 12 * 3600.0
T0 = 1_800_000_000.0  # wall-clock epoch seconds
REC = SessionRecord(
    id_hash="h", username="alice", app="portal", verifier="v", csrf="c", created_at=T0, anchor=T0
)


def test_active_until_the_deadline_then_lock_is_due() -> None:
    v = decide(REC, POLICY, LIFETIME, T0 + 10)
    assert (v.state, v.action, v.lock_at, v.warn_at) == (SessionState.ACTIVE, Action.NONE, T0 + 600, T0 + 540)
    assert v.wake_at == T0 + 540  # the warning is the first stage of the same timer
    assert decide(REC, POLICY, LIFETIME, T0 + 599.999).state is SessionState.ACTIVE
    due = decide(REC, POLICY, LIFETIME, T0 + 600)
    assert (due.state, due.action) == (SessionState.LOCKED, Action.LOCK)


def test_after_the_warning_the_timer_wakes_at_the_lock() -> None:
    v = decide(REC, POLICY, LIFETIME, T0 + 550)
    assert v.state is SessionState.ACTIVE and v.wake_at == T0 + 600


def test_only_the_anchor_moves_the_deadline() -> None:
    later = dataclasses.replace(REC, anchor=T0 + 100)  # input (or a lease renewal) at T0 + 100
    assert decide(later, POLICY, LIFETIME, T0 + 650).lock_at == T0 + 700
    assert decide(later, POLICY, LIFETIME, T0 + 700).action is Action.LOCK


def test_disabled_policy_never_locks_but_lifetime_still_ends_it() -> None:
    never = IdlePolicy(timeout=0.0, final=FinalAction.LOCK)
    assert decide(REC, never, LIFETIME, T0 + LIFETIME - 1).state is SessionState.ACTIVE
    end = decide(REC, never, LIFETIME, T0 + LIFETIME)
    assert (end.state, end.action) == (SessionState.CLOSED, Action.EXPIRE)


def test_locked_and_closed_rows_are_reported_as_such() -> None:
    assert decide(dataclasses.replace(REC, locked=True), POLICY, LIFETIME, T0).state is SessionState.LOCKED
    closed = decide(dataclasses.replace(REC, closed=True), POLICY, LIFETIME, T0)
    assert (closed.state, closed.action) == (SessionState.CLOSED, Action.NONE)
    assert decide(None, POLICY, LIFETIME, T0).state is SessionState.NONE


@given(
    timeout=st.floats(min_value=0.001, max_value=1e5),
    warn=st.one_of(st.none(), st.floats(min_value=0.001, max_value=1e5)),
    elapsed=st.floats(min_value=0.0, max_value=2e5),
)
def test_locked_exactly_from_the_deadline_on(timeout: float, warn: float | None, elapsed: float) -> None:
    policy = IdlePolicy(timeout=timeout, max_attempts=1, final=FinalAction.LOCK, warn_before=warn)
    v = decide(REC, policy, 1e9, T0 + elapsed)
    locks = v.action is Action.LOCK
    assert locks == (T0 + elapsed >= T0 + timeout)
    if v.state is SessionState.ACTIVE and v.lock_at is not None:
        assert v.lock_at > T0 + elapsed and v.wake_at is not None and v.wake_at <= v.lock_at
        if v.warn_at is not None:
            assert T0 <= v.warn_at <= v.lock_at


@given(elapsed=st.floats(min_value=0.0, max_value=1e9))
def test_a_disabled_policy_never_locks(elapsed: float) -> None:
    never = IdlePolicy(timeout=0.0, final=FinalAction.LOCK, warn_before=60.0)
    v = decide(REC, never, 2e9, T0 + elapsed)
    assert (v.state, v.action, v.lock_at, v.warn_at) == (SessionState.ACTIVE, Action.NONE, None, None)
