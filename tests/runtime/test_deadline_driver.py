"""The one timer driver on a FakeLoop: lazy re-arm, early wakes, a raising poll, close."""

from __future__ import annotations

import pytest

from tui_engine.runtime import MIN_REARM, DeadlineDriver
from tui_engine.testing import FakeLoop


class Deadlines:
    """A sans-I/O target: a list of deadlines, each due once."""

    def __init__(self, *deadlines: float) -> None:
        self.deadlines = sorted(deadlines)
        self.polled: list[float] = []
        self.fired: list[float] = []
        self.boom = False

    def next_deadline(self) -> float | None:
        return self.deadlines[0] if self.deadlines else None

    def poll(self, now: float) -> bool:
        self.polled.append(now)
        if self.boom:
            raise RuntimeError("handler failed")
        due = [d for d in self.deadlines if d <= now]
        self.deadlines = [d for d in self.deadlines if d > now]
        self.fired += due
        return bool(due)


def test_each_deadline_fires_once_at_its_time_with_one_handle_at_a_time() -> None:
    loop, target = FakeLoop(), Deadlines(5.0, 7.0)
    driver = DeadlineDriver(loop, target)
    driver.arm()
    assert loop.call_at_count == 1 and loop.next_when() == 5.0
    driver.arm()  # nothing moved: no new handle
    assert loop.call_at_count == 1
    loop.advance(10.0)
    assert target.fired == [5.0, 7.0] and target.polled == [5.0, 7.0]
    assert loop.pending() == 0


def test_a_deadline_moved_later_wakes_early_and_re_arms_lazily() -> None:
    loop, target = FakeLoop(), Deadlines(5.0)
    driver = DeadlineDriver(loop, target)
    driver.arm()
    target.deadlines = [8.0]  # activity moved it: no cancel, no call_at
    driver.arm()
    assert loop.call_at_count == 1
    loop.advance(5.0)
    assert target.fired == [] and loop.next_when() == 8.0 and loop.call_at_count == 2
    loop.advance(3.0)
    assert target.fired == [8.0]


def test_a_deadline_moved_earlier_replaces_the_handle() -> None:
    loop, target = FakeLoop(), Deadlines(5.0)
    driver = DeadlineDriver(loop, target)
    driver.arm()
    target.deadlines = [2.0]
    driver.arm()
    assert loop.pending() == 1 and loop.next_when() == 2.0


def test_a_wake_with_nothing_due_never_re_arms_sooner_than_min_rearm() -> None:
    loop, target = FakeLoop(), Deadlines(5.0)
    driver = DeadlineDriver(loop, target)
    driver.arm()
    target.deadlines = [5.0 + MIN_REARM / 4]  # e.g. uvloop ran the handle a little early
    loop.advance(5.0)
    assert loop.next_when() == pytest.approx(5.0 + MIN_REARM)


def test_a_poll_that_raises_keeps_the_deadline() -> None:
    loop, target = FakeLoop(), Deadlines(5.0)
    driver = DeadlineDriver(loop, target)
    driver.arm()
    target.boom = True
    with pytest.raises(RuntimeError):
        loop.advance(5.0)
    assert loop.pending() == 1  # still armed: the owner is never left without a bound
    target.boom = False
    loop.advance(1.0)
    assert target.fired == [5.0]


def test_close_cancels_and_never_arms_again() -> None:
    loop, target = FakeLoop(), Deadlines(5.0)
    driver = DeadlineDriver(loop, target)
    driver.arm()
    driver.close()
    driver.arm()
    loop.advance(10.0)
    assert target.polled == [] and loop.pending() == 0
