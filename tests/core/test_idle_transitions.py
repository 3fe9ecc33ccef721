"""The state × event table, pair by pair: legal pairs work, illegal ones raise and change nothing.

The legal pairs are written out here by hand (the specification), not read from the
machine's own table, so a wrong entry in ``_TRANSITIONS`` makes a test fail.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tui_engine.core import (
    Activity,
    Event,
    FinalAction,
    IdlePolicy,
    IdlePolicyError,
    IdleSession,
    IdleState,
    PolicyChanged,
    ProgressFinished,
    ProgressStarted,
    Resumed,
    Started,
    Stopped,
)

N, W, S, E, X = IdleState.NEW, IdleState.WAITING, IdleState.SUSPENDED, IdleState.EXPIRED, IdleState.STOPPED
POLICY = IdlePolicy(timeout=10.0, max_attempts=2, final=FinalAction.LOCK, warn_before=5.0)
EVENTS: dict[str, Callable[[float], Event]] = {
    "Started": lambda t: Started(now=t),
    "Activity": lambda t: Activity(now=t),
    "ProgressStarted": lambda t: ProgressStarted(now=t),
    "ProgressFinished": lambda t: ProgressFinished(now=t),
    "PolicyChanged": lambda t: PolicyChanged(now=t, policy=IdlePolicy(timeout=3.0)),
    "Resumed": lambda t: Resumed(now=t),
    "Stopped": lambda t: Stopped(now=t),
}

#: (state, event) -> state after it, for a session with *no* open progress unless noted.
LEGAL: dict[tuple[IdleState, str], IdleState] = {
    (N, "Started"): W,
    (N, "ProgressStarted"): N,
    (N, "PolicyChanged"): N,
    (N, "Stopped"): X,
    (W, "Activity"): W,
    (W, "ProgressStarted"): S,
    (W, "PolicyChanged"): W,
    (W, "Stopped"): X,
    (S, "Activity"): S,
    (S, "ProgressStarted"): S,
    (S, "ProgressFinished"): W,
    (S, "PolicyChanged"): S,
    (S, "Stopped"): X,
    (E, "Activity"): E,
    (E, "ProgressStarted"): E,
    (E, "PolicyChanged"): E,
    (E, "Resumed"): W,
    (E, "Stopped"): X,
    (X, "Stopped"): X,
}


def session_in(state: IdleState) -> IdleSession:
    """A session brought into ``state`` through legal events only (time 0..20)."""
    s = IdleSession(POLICY)
    if state is N:
        return s
    if state is X:
        s.send(Stopped(now=0.0))
        return s
    s.send(Started(now=0.0))
    if state is S:
        s.send(ProgressStarted(now=1.0))
    elif state is E:
        s.poll(20.0)
    assert s.state is state
    return s


def snapshot(s: IdleSession) -> tuple[object, ...]:
    return (s.state, s.next_deadline(), s.expiry_at(), s.attempt, s.progress_open, s.policy)


ALL_PAIRS = [(state, name) for state in IdleState for name in EVENTS]


@pytest.mark.parametrize(("state", "name"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_illegal_pair_raises_and_leaves_the_session_unchanged(state: IdleState, name: str) -> None:
    s = session_in(state)
    before = snapshot(s)
    with pytest.raises(IdlePolicyError, match=name):
        s.send(EVENTS[name](30.0))
    assert snapshot(s) == before
    assert s.poll(30.0) == session_in(state).poll(30.0)  # decisions unaffected too


@pytest.mark.parametrize(("state", "name"), sorted(LEGAL, key=str))
def test_legal_pair_moves_to_the_specified_state(state: IdleState, name: str) -> None:
    s = session_in(state)
    assert s.send(EVENTS[name](30.0)) is LEGAL[state, name]
    assert s.state is LEGAL[state, name]


@pytest.mark.parametrize("state", [N, E])
def test_progress_finished_without_an_open_progress_raises_and_changes_nothing(state: IdleState) -> None:
    s = session_in(state)
    before = snapshot(s)
    with pytest.raises(IdlePolicyError, match="without an open progress"):
        s.send(ProgressFinished(now=30.0))
    assert snapshot(s) == before


@pytest.mark.parametrize("state", [N, E])
def test_progress_finished_with_an_open_progress_is_counted_but_keeps_the_state(state: IdleState) -> None:
    s = session_in(state)
    s.send(ProgressStarted(now=30.0))
    assert s.progress_open == 1
    assert s.send(ProgressFinished(now=31.0)) is state
    assert s.progress_open == 0


def test_illegal_events_are_local_errors() -> None:
    from tui_engine.core.errors import LocalError, TuiEngineError

    assert issubclass(IdlePolicyError, LocalError)
    assert issubclass(IdlePolicyError, TuiEngineError)
