"""IdleTimer driven by tui_engine.testing.FakeLoop: exact, sleep-free checks of the re-arm logic.

This is also the pattern the package documents for dialplan authors (``tui_engine.testing``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from tui_engine.core import Decision, FakeClock, FinalAction, IdlePolicy, IdleState, Lock, Reprompt, Warn
from tui_engine.runtime import IdleTimer
from tui_engine.testing import DecisionRecorder, FakeLoop, LatenessRecorder

TUI = IdlePolicy(timeout=10.0, max_attempts=3)


def make(policy: IdlePolicy = TUI) -> tuple[IdleTimer, FakeLoop, DecisionRecorder]:
    loop, calls = FakeLoop(), DecisionRecorder()
    return IdleTimer(policy, calls, loop=loop), loop, calls


def test_keypresses_cost_no_timer_handles_and_one_early_wake_re_arms() -> None:
    timer, loop, calls = make()
    timer.start()
    assert loop.call_at_count == 1 and loop.next_when() == 10.0
    for _ in range(9):  # a digit every second
        loop.advance(1.0)
        timer.activity()
    assert loop.call_at_count == 1 and loop.next_when() == 10.0  # untouched
    loop.advance(1.0)  # t=10: wakes early, nothing due, re-arms at 19
    assert calls.delivered == [] and loop.call_at_count == 2 and loop.next_when() == 19.0
    loop.advance_to(19.0)
    assert calls.decisions == [Reprompt(due=19.0, attempt=2, of=3)]
    assert calls.delivered[0].lateness == 0.0


def test_the_full_tui_cycle_with_the_prompt_as_progress() -> None:
    loop = FakeLoop()
    timer: IdleTimer

    def replay(decision: Decision, lateness: float) -> None:
        if isinstance(decision, Reprompt):
            timer.progress_started()  # the application re-plays the menu prompt (3 s)
            loop.call_later(3.0, timer.progress_finished)

    calls = DecisionRecorder(then=replay)
    sink = LatenessRecorder()
    timer = IdleTimer(TUI, calls, loop=loop, sink=sink)
    timer.progress_started()
    timer.start()
    loop.call_later(3.0, timer.progress_finished)
    loop.advance(100.0)
    assert calls.kinds() == ["reprompt", "reprompt", "disconnect"]
    assert [d.decision.due for d in calls.delivered] == [13.0, 26.0, 39.0]
    assert sink.observed == [("reprompt", 0.0), ("reprompt", 0.0), ("disconnect", 0.0)]
    assert timer.session.state is IdleState.EXPIRED and loop.pending() == 0


def test_a_longer_policy_keeps_the_handle_and_re_arms_on_the_early_wake() -> None:
    timer, loop, calls = make()
    timer.start()
    timer.change_policy(IdlePolicy(timeout=30.0, max_attempts=3))
    assert loop.call_at_count == 1 and loop.next_when() == 10.0
    loop.advance(10.0)
    assert calls.delivered == [] and loop.next_when() == 30.0


def test_a_shorter_policy_replaces_the_handle() -> None:
    timer, loop, calls = make()
    timer.start()
    loop.advance(4.0)
    timer.change_policy(IdlePolicy(timeout=2.0, max_attempts=3))
    assert loop.call_at_count == 2 and loop.pending() == 1 and loop.next_when() == 4.0
    loop.advance(0.0)
    assert calls.decisions == [Reprompt(due=4.0, attempt=2, of=3)]
    assert loop.next_when() == 6.0


def test_a_handler_that_stops_the_session_gets_no_further_decisions() -> None:
    loop = FakeLoop(FakeClock())
    timer: IdleTimer
    calls = DecisionRecorder(then=lambda d, late: timer.stop())
    timer = IdleTimer(TUI, calls, loop=loop)
    timer.start()
    loop.clock.advance(35.0)  # a stalled loop: three decisions due at one wake-up
    loop.advance(0.0)
    assert calls.kinds() == ["reprompt"]
    assert calls.delivered[0].lateness == 25.0
    assert timer.session.state is IdleState.STOPPED and loop.pending() == 0


def test_a_handler_that_raises_does_not_leave_the_session_without_a_timer() -> None:
    loop = FakeLoop()
    failures = iter([True])

    def flaky(decision: Decision, lateness: float) -> None:
        if next(failures, False):
            raise RuntimeError("prompt file missing")

    calls = DecisionRecorder(then=flaky)
    timer = IdleTimer(TUI, calls, loop=loop)
    timer.start()
    with pytest.raises(RuntimeError, match="prompt file missing"):
        loop.advance(10.0)
    assert loop.next_when() == 20.0  # still armed
    loop.advance(20.0)
    assert calls.kinds() == ["reprompt", "reprompt", "disconnect"]


def test_resume_after_lock_re_arms() -> None:
    timer, loop, calls = make(IdlePolicy(timeout=5.0))
    timer.start()
    loop.advance(5.0)
    assert calls.kinds() == ["disconnect"] and loop.pending() == 0
    loop.advance(100.0)
    timer.resume()
    assert loop.next_when() == 110.0
    assert timer.seconds_left() == 5.0


# -- FakeLoop itself ------------------------------------------------------------------------
def test_fake_loop_runs_handles_in_time_then_fifo_order_at_their_own_time() -> None:
    loop = FakeLoop()
    seen: list[tuple[str, float]] = []

    def note(name: str) -> Callable[[], None]:
        return lambda: seen.append((name, loop.time()))

    for name, when in [("c", 3.0), ("a", 1.0), ("b", 1.0), ("late", 9.0)]:
        loop.call_at(when, note(name))
    loop.call_later(2.0, lambda: seen.append(("later", loop.time())))
    cancelled = loop.call_at(2.5, lambda: seen.append(("x", loop.time())))
    cancelled.cancel()
    assert loop.pending() == 5
    assert loop.advance(5.0) == 5.0
    assert seen == [("a", 1.0), ("b", 1.0), ("later", 2.0), ("c", 3.0)]
    assert loop.next_when() == 9.0 and loop.time() == 5.0
    with pytest.raises(ValueError):
        loop.advance_to(4.0)


def test_fake_loop_surfaces_callback_errors() -> None:
    loop = FakeLoop()

    def boom() -> None:
        raise KeyError("x")

    loop.call_at(1.0, boom)
    with pytest.raises(KeyError):
        loop.advance(2.0)
    assert loop.time() == 1.0 and loop.pending() == 0


def test_recorders_for_a_web_session_warn_then_lock() -> None:
    loop, calls, sink = FakeLoop(FakeClock(start=50.0)), DecisionRecorder(), LatenessRecorder()
    policy = IdlePolicy(timeout=600.0, final=FinalAction.LOCK, warn_before=60.0)
    timer = IdleTimer(policy, calls, loop=loop, sink=sink)
    timer.start()
    loop.advance(600.0)
    assert calls.kinds() == ["warn", "lock"]
    assert calls.decisions == [Warn(due=590.0, time_left=60.0, final_at=650.0), Lock(due=650.0)]
    assert [kind for kind, _ in sink.observed] == ["warn", "lock"]
    calls.clear()
    assert calls.delivered == [] and calls.kinds() == []


class CoarseLoop(FakeLoop):
    """A loop whose clock ticks in whole milliseconds (like uvloop's), so it runs handles early."""

    def time(self) -> float:
        return math.floor(self.clock.now() * 1000) / 1000


def test_a_coarse_loop_clock_waits_one_tick_instead_of_re_arming_in_a_busy_loop() -> None:
    loop, calls = CoarseLoop(), DecisionRecorder()
    timer = IdleTimer(IdlePolicy(timeout=0.0503, max_attempts=2), calls, loop=loop)
    timer.start()
    loop.advance(0.0503)  # the handle runs while loop.time() still says 0.050: nothing due yet
    assert calls.delivered == [] and loop.call_at_count == 2
    assert loop.next_when() == pytest.approx(0.051)  # one tick after the wake
    loop.advance_to(0.06)
    assert calls.decisions == [Reprompt(due=0.0503, attempt=2, of=2)]
    assert 0.0 <= calls.delivered[0].lateness <= 0.001  # never early, at most a tick late
    assert loop.call_at_count == 3  # start, one re-arm a tick later, the next period
