"""The engine's garbage-collection policy and the pause histogram's hook.

Why: under load CPython's own trigger ran full collections that walked every live call for
tens to hundreds of milliseconds on the loop (bench/concurrency.py). The policy keeps young
collections automatic, turns the automatic full ones off, runs them on a schedule, and gives
the process its thresholds back at stop.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from tui_engine.obs.gcwatch import GcWatch
from tui_engine.runtime.gc_policy import GcPolicy
from tui_engine.runtime.lazy_timer import LazyTimer
from tui_engine.testing import FakeLoop


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)
    gc.unfreeze()


async def test_full_collections_are_off_until_stop_and_young_ones_unchanged(
    thresholds: tuple[int, int, int],
) -> None:
    young, middle, _ = gc.get_threshold()
    policy = GcPolicy(full_every=3600)
    policy.start(asyncio.get_running_loop())
    now = gc.get_threshold()
    assert now[:2] == (young, middle)
    assert now[2] >= 2**31 - 1
    assert gc.get_freeze_count() > 0  # start-up objects frozen out of every later collection
    policy.stop()
    assert gc.get_threshold() == thresholds


async def test_scheduled_full_collection_runs_and_is_rescheduled(thresholds: tuple[int, int, int]) -> None:
    pauses: list[tuple[int, float]] = []
    two_scheduled = asyncio.Event()

    def sink(generation: int, seconds: float) -> None:
        pauses.append((generation, seconds))
        if policy.full_collections >= 1 and generation == 2:
            two_scheduled.set()  # the second scheduled one is running (the count moves after it)

    watch = GcWatch(sink)
    policy = GcPolicy(full_every=0.01)
    try:
        policy.start(asyncio.get_running_loop())
        await asyncio.wait_for(two_scheduled.wait(), 10)
    finally:
        policy.stop()
        watch.close()
    assert any(generation == 2 for generation, _ in pauses)
    assert all(seconds >= 0 for _, seconds in pauses)
    count = policy.full_collections
    await asyncio.sleep(0.05)
    assert policy.full_collections == count  # stop cancelled the schedule


def test_gc_watch_reports_each_collection_with_its_generation() -> None:
    seen: list[int] = []
    watch = GcWatch(lambda generation, seconds: seen.append(generation))
    try:
        gc.collect(0)
        gc.collect(2)
    finally:
        watch.close()
    gc.collect()
    assert seen[-2:] == [0, 2]  # and nothing after close


class Owner:
    """Holds a lazy timer whose callback is its own bound method: a reference cycle."""

    def __init__(self, loop: FakeLoop) -> None:
        self.timer = LazyTimer(loop, self.fire)
        self.fired = 0

    def fire(self) -> None:
        self.fired += 1


def test_closing_a_lazy_timer_frees_its_owner_without_a_collection() -> None:
    loop = FakeLoop()
    closed, kept = Owner(loop), Owner(loop)
    closed.timer.ensure(loop.time() + 1)
    closed.timer.close()
    closed.timer.ensure(loop.time() + 2)
    assert closed.timer.handle is None  # a closed timer never arms again
    refs = weakref.ref(closed), weakref.ref(kept)
    gc.disable()
    try:
        del closed, kept
        assert refs[0]() is None  # freed by reference counting alone
        assert refs[1]() is not None  # the cycle that closing breaks
    finally:
        gc.enable()
    gc.collect()
    assert refs[1]() is None
