"""Step-by-step scenarios of the idle core (after h11's tests/test_state.py).

Every step feeds one event or one poll at a FakeClock time and then asserts the whole
observable state: ``state``, ``next_deadline()``, ``attempt`` and what ``poll`` returned.
No sleeps, no event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tui_engine.core import (
    Activity,
    Decision,
    Disconnect,
    Event,
    FakeClock,
    FinalAction,
    IdlePolicy,
    IdleSession,
    IdleState,
    Lock,
    PolicyChanged,
    ProgressFinished,
    ProgressStarted,
    Reprompt,
    Resumed,
    Started,
    Stopped,
    Warn,
)

W, S, E = IdleState.WAITING, IdleState.SUSPENDED, IdleState.EXPIRED
TUI = IdlePolicy(timeout=10.0, max_attempts=3, final=FinalAction.DISCONNECT)
WEB = IdlePolicy(timeout=600.0, max_attempts=1, final=FinalAction.LOCK, warn_before=60.0)


@dataclass
class Script:
    """A session plus its clock; each helper moves time, acts, and returns what it saw."""

    policy: IdlePolicy
    clock: FakeClock = field(default_factory=FakeClock)
    session: IdleSession = field(init=False)

    def __post_init__(self) -> None:
        self.session = IdleSession(self.policy)

    def at(self, when: float, event: type[Event], **kw: Any) -> IdleState:
        now = self.clock.set(when)
        return self.session.send(event(now=now, **kw))

    def poll(self, when: float) -> list[Decision]:
        return self.session.poll(self.clock.set(when))

    def check(self, state: IdleState, deadline: float | None, attempt: int) -> None:
        assert self.session.state is state
        assert self.session.next_deadline() == deadline
        assert self.session.attempt == attempt


# -- the phone menu default: 10 s x 3, prompts are progress ---------------------------------
def test_tui_default_cycle_prompts_hold_the_timer_and_disconnect_fires_once() -> None:
    s = Script(TUI)
    s.check(IdleState.NEW, None, 1)
    assert s.at(0.0, Started) is W
    s.check(W, 10.0, 1)
    assert s.at(0.0, ProgressStarted) is S  # the menu prompt begins playing
    s.check(S, None, 1)
    assert s.poll(9.0) == []  # a 9 s prompt: nothing may expire while it plays
    assert s.at(9.0, ProgressFinished) is W
    s.check(W, 19.0, 1)  # the silent period starts when the prompt ends
    assert s.poll(18.999) == []
    s.check(W, 19.0, 1)
    assert s.poll(19.0) == [Reprompt(due=19.0, attempt=2, of=3)]
    s.check(W, 29.0, 2)
    s.at(19.0, ProgressStarted)  # re-prompt plays for 4 s; progress is not input
    s.check(S, None, 2)
    s.at(23.0, ProgressFinished)
    s.check(W, 33.0, 2)
    assert s.poll(33.0) == [Reprompt(due=33.0, attempt=3, of=3)]
    s.check(W, 43.0, 3)
    s.at(33.0, ProgressStarted)
    s.at(37.0, ProgressFinished)
    s.check(W, 47.0, 3)
    assert s.poll(46.0) == []
    assert s.poll(47.0) == [Disconnect(due=47.0, attempts=3)]
    s.check(E, None, 4)
    silence = (19.0 - 9.0) + (33.0 - 23.0) + (47.0 - 37.0)
    assert silence == TUI.total_silence == 30.0
    assert s.poll(47.0) == [] and s.poll(1000.0) == []  # exactly once
    s.check(E, None, 4)


def test_poll_late_by_several_periods_chains_deadlines_without_drift() -> None:
    s = Script(IdlePolicy(timeout=10.0, max_attempts=5))
    s.at(0.0, Started)
    assert s.poll(35.5) == [
        Reprompt(due=10.0, attempt=2, of=5),
        Reprompt(due=20.0, attempt=3, of=5),
        Reprompt(due=30.0, attempt=4, of=5),
    ]
    s.check(W, 40.0, 4)  # chained on 30, not on 35.5
    assert s.poll(52.0) == [Reprompt(due=40.0, attempt=5, of=5), Disconnect(due=50.0, attempts=5)]
    s.check(E, None, 6)


def test_disabled_policy_never_fires() -> None:
    s = Script(IdlePolicy(timeout=0.0, max_attempts=3))
    assert not s.policy.enabled
    s.at(0.0, Started)
    s.check(W, None, 1)
    assert s.poll(1e9) == []
    s.at(1e9, Activity)
    s.check(W, None, 1)
    assert s.session.expiry_at() is None


# -- the web portal: warn, then lock --------------------------------------------------------
def test_web_lock_warns_at_t_minus_w_then_locks_at_t() -> None:
    s = Script(WEB)
    s.at(0.0, Started)
    s.check(W, 540.0, 1)
    assert s.poll(539.0) == []
    assert s.poll(540.0) == [Warn(due=540.0, time_left=60.0, final_at=600.0)]
    s.check(W, 600.0, 1)
    assert s.poll(570.0) == []  # one warning per period
    assert s.poll(600.0) == [Lock(due=600.0, attempts=1)]
    s.check(E, None, 2)
    assert s.poll(601.0) == []


def test_late_warning_reports_the_time_really_left() -> None:
    s = Script(WEB)
    s.at(0.0, Started)
    assert s.poll(550.0) == [Warn(due=540.0, time_left=50.0, final_at=600.0)]
    s.check(W, 600.0, 1)


def test_warning_is_skipped_when_the_poll_is_so_late_that_the_lock_is_due_too() -> None:
    s = Script(WEB)
    s.at(0.0, Started)
    assert s.poll(650.0) == [Lock(due=600.0, attempts=1)]
    s.check(E, None, 2)


def test_warning_as_long_as_the_timeout_comes_at_the_start_of_the_last_period() -> None:
    s = Script(IdlePolicy(timeout=10.0, max_attempts=2, final=FinalAction.LOCK, warn_before=30.0))
    s.at(0.0, Started)
    s.check(W, 10.0, 1)  # no warning in a period that is not the last
    assert s.poll(10.0) == [
        Reprompt(due=10.0, attempt=2, of=2),
        Warn(due=10.0, time_left=10.0, final_at=20.0),
    ]
    s.check(W, 20.0, 2)
    assert s.poll(20.0) == [Lock(due=20.0, attempts=2)]


def test_activity_resets_the_warning() -> None:
    s = Script(WEB)
    s.at(0.0, Started)
    assert s.poll(540.0) == [Warn(due=540.0, time_left=60.0, final_at=600.0)]
    s.at(590.0, Activity)  # the user clicks "stay signed in"
    s.check(W, 1130.0, 1)
    assert s.poll(1129.0) == []
    assert s.poll(1130.0) == [Warn(due=1130.0, time_left=60.0, final_at=1190.0)]
    assert s.poll(1190.0) == [Lock(due=1190.0, attempts=1)]


def test_progress_after_a_warning_gives_the_new_period_its_own_warning() -> None:
    s = Script(WEB)
    s.at(0.0, Started)
    assert s.poll(540.0) == [Warn(due=540.0, time_left=60.0, final_at=600.0)]
    s.at(550.0, ProgressStarted)  # an export starts: watching it is not inactivity
    s.check(S, None, 1)
    s.at(700.0, ProgressFinished)
    s.check(W, 1240.0, 1)
    assert s.poll(1240.0) == [Warn(due=1240.0, time_left=60.0, final_at=1300.0)]


# -- activity and progress ------------------------------------------------------------------
def test_activity_resets_the_timer_and_the_attempt_count() -> None:
    s = Script(TUI)
    s.at(0.0, Started)
    assert s.poll(20.0) == [Reprompt(due=10.0, attempt=2, of=3), Reprompt(due=20.0, attempt=3, of=3)]
    s.check(W, 30.0, 3)
    s.at(25.0, Activity)  # a digit
    s.check(W, 35.0, 1)
    assert s.poll(35.0) == [Reprompt(due=35.0, attempt=2, of=3)]
    s.check(W, 45.0, 2)


def test_activity_while_suspended_resets_attempts_but_timer_waits_for_the_progress() -> None:
    s = Script(TUI)
    s.at(0.0, Started)
    s.poll(10.0)
    s.at(10.0, ProgressStarted)
    s.check(S, None, 2)
    s.at(11.0, Activity)  # barge-in: a digit during the prompt
    s.check(S, None, 1)
    s.at(12.0, ProgressFinished)
    s.check(W, 22.0, 1)


def test_nested_progress_holds_the_timer_until_the_last_one_finishes() -> None:
    s = Script(TUI)
    s.at(0.0, Started)
    s.at(1.0, ProgressStarted)
    s.at(2.0, ProgressStarted)
    s.check(S, None, 1)
    assert s.session.progress_open == 2
    assert s.at(50.0, ProgressFinished) is S
    assert s.poll(100.0) == []
    s.check(S, None, 1)
    assert s.at(100.0, ProgressFinished) is W
    s.check(W, 110.0, 1)
    assert s.session.progress_open == 0


def test_progress_opened_before_start_suspends_from_the_start() -> None:
    s = Script(TUI)
    assert s.at(0.0, ProgressStarted) is IdleState.NEW
    assert s.at(0.0, Started) is S
    s.check(S, None, 1)
    s.at(3.0, ProgressFinished)
    s.check(W, 13.0, 1)


# -- policy changes for a running session ---------------------------------------------------
def test_shorter_timeout_fires_at_once_when_past_and_measures_the_next_period_from_then() -> None:
    s = Script(TUI)
    s.at(0.0, Started)
    s.at(7.0, PolicyChanged, policy=IdlePolicy(timeout=5.0, max_attempts=3))
    s.check(W, 7.0, 1)  # start + 5 is past: due now, not back at 5
    assert s.poll(7.0) == [Reprompt(due=7.0, attempt=2, of=3)]
    s.check(W, 12.0, 2)  # one attempt used, not all three collapsed into this poll
    assert s.poll(12.0) == [Reprompt(due=12.0, attempt=3, of=3)]


def test_shorter_timeout_not_yet_past_keeps_the_period_start() -> None:
    s = Script(TUI)
    s.at(0.0, Started)
    s.at(2.0, PolicyChanged, policy=IdlePolicy(timeout=5.0, max_attempts=3))
    s.check(W, 5.0, 1)
    assert s.poll(4.999) == []
    assert s.poll(5.0) == [Reprompt(due=5.0, attempt=2, of=3)]


def test_longer_timeout_extends_the_running_period() -> None:
    s = Script(TUI)
    s.at(0.0, Started)
    s.at(9.0, PolicyChanged, policy=IdlePolicy(timeout=20.0, max_attempts=3))
    s.check(W, 20.0, 1)
    assert s.poll(10.0) == []
    assert s.poll(20.0) == [Reprompt(due=20.0, attempt=2, of=3)]
    s.check(W, 40.0, 2)


def test_disable_then_re_enable_measures_from_the_same_start() -> None:
    s = Script(TUI)
    s.at(0.0, Started)
    s.at(3.0, PolicyChanged, policy=IdlePolicy(timeout=0.0, max_attempts=3))
    s.check(W, None, 1)
    assert s.poll(500.0) == []
    s.at(500.0, PolicyChanged, policy=TUI)
    s.check(W, 500.0, 1)  # 0 + 10 is long past: due at the re-enable, not before it
    assert s.poll(500.0) == [Reprompt(due=500.0, attempt=2, of=3)]
    s2 = Script(TUI)
    s2.at(0.0, Started)
    s2.at(3.0, PolicyChanged, policy=IdlePolicy(timeout=0.0))
    s2.at(6.0, PolicyChanged, policy=TUI)
    s2.check(W, 10.0, 1)


def test_lower_max_attempts_makes_the_next_expiry_final_without_firing_out_of_turn() -> None:
    s = Script(TUI)
    s.at(0.0, Started)
    assert s.poll(20.0) == [Reprompt(due=10.0, attempt=2, of=3), Reprompt(due=20.0, attempt=3, of=3)]
    s.at(25.0, PolicyChanged, policy=IdlePolicy(timeout=10.0, max_attempts=2))
    s.check(W, 30.0, 2)  # same timeout: same deadline, nothing fires now
    assert s.poll(29.0) == []
    assert s.poll(30.0) == [Disconnect(due=30.0, attempts=2)]
    s.check(E, None, 3)


def test_raising_max_attempts_adds_reprompts() -> None:
    s = Script(IdlePolicy(timeout=10.0, max_attempts=2))
    s.at(0.0, Started)
    assert s.poll(10.0) == [Reprompt(due=10.0, attempt=2, of=2)]
    s.at(15.0, PolicyChanged, policy=IdlePolicy(timeout=10.0, max_attempts=4))
    assert s.poll(20.0) == [Reprompt(due=20.0, attempt=3, of=4)]
    s.check(W, 30.0, 3)


def test_changing_the_warning_after_it_was_shown_warns_again_not_earlier() -> None:
    s = Script(WEB)
    s.at(0.0, Started)
    assert s.poll(540.0) == [Warn(due=540.0, time_left=60.0, final_at=600.0)]
    longer = IdlePolicy(timeout=900.0, final=FinalAction.LOCK, warn_before=60.0)
    s.at(550.0, PolicyChanged, policy=longer)
    s.check(W, 840.0, 1)  # the old final_at no longer holds: a new warning at 900 - 60
    assert s.poll(840.0) == [Warn(due=840.0, time_left=60.0, final_at=900.0)]
    s.at(850.0, PolicyChanged, policy=IdlePolicy(timeout=900.0, final=FinalAction.LOCK, warn_before=300.0))
    s.check(W, 850.0, 1)  # would be 600, which is before this change
    assert s.poll(850.0) == [Warn(due=850.0, time_left=50.0, final_at=900.0)]


def test_an_identical_policy_reload_changes_nothing() -> None:
    s = Script(WEB)
    s.at(0.0, Started)
    assert s.poll(540.0) == [Warn(due=540.0, time_left=60.0, final_at=600.0)]
    s.at(545.0, PolicyChanged, policy=IdlePolicy(**{f: getattr(WEB, f) for f in WEB.__slots__}))
    s.check(W, 600.0, 1)
    assert s.poll(600.0) == [Lock(due=600.0, attempts=1)]


# -- after the final decision ---------------------------------------------------------------
def _locked() -> Script:
    s = Script(WEB)
    s.at(0.0, Started)
    assert s.poll(600.0) == [Lock(due=600.0, attempts=1)]
    return s


def test_activity_after_the_final_decision_is_ignored() -> None:
    s = _locked()
    assert s.at(610.0, Activity) is E
    s.check(E, None, 2)
    assert s.poll(5000.0) == []


def test_resumed_after_lock_starts_a_fresh_period_with_all_attempts() -> None:
    s = _locked()
    assert s.at(700.0, Resumed) is W
    s.check(W, 1240.0, 1)
    assert s.poll(1240.0) == [Warn(due=1240.0, time_left=60.0, final_at=1300.0)]
    assert s.poll(1300.0) == [Lock(due=1300.0, attempts=1)]


def test_resumed_while_a_progress_is_open_stays_suspended() -> None:
    s = _locked()
    s.at(650.0, ProgressStarted)
    s.check(E, None, 2)
    assert s.at(700.0, Resumed) is S
    s.at(710.0, ProgressFinished)
    s.check(W, 1250.0, 1)


def test_stop_ends_everything() -> None:
    s = Script(TUI)
    s.at(0.0, Started)
    assert s.at(5.0, Stopped) is IdleState.STOPPED
    s.check(IdleState.STOPPED, None, 1)
    assert s.poll(100.0) == []
    assert s.at(100.0, Stopped) is IdleState.STOPPED  # idempotent
