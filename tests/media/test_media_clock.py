"""The shared media clock on a real loop: no timer while silent, 20 ms grids per phase.

Assertions are about counts and order, never about how fast anything ran.
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from tui_engine.media.clock import QUANTUM, MediaClock
from tui_engine.testing.loop import VirtualTimeLoop, in_virtual_time


class Stream:
    """A clocked stream that records what it was owed and leaves after ``frames`` frames."""

    def __init__(self, frames: int, *, stall: float = 0.0) -> None:
        self.frames = frames
        self.dues: list[int] = []
        self.times: list[float] = []
        self.stall = stall
        self.left = asyncio.get_running_loop().create_future()

    def on_tick(self, now: float, due: int) -> bool:
        self.dues.append(due)
        self.times.append(now)
        if self.stall:
            time.sleep(self.stall)  # make the loop late on purpose
            self.stall = 0.0
        if sum(self.dues) >= self.frames:
            self.left.set_result(None)
            return False
        return True


async def test_no_timer_without_streams() -> None:
    clock = MediaClock()
    assert not clock.running
    stream = Stream(1000)
    clock.add(stream)
    assert clock.running
    clock.remove(stream)
    assert not clock.running
    assert stream.dues == []


async def test_timer_stops_when_the_last_stream_leaves() -> None:
    clock = MediaClock()
    a, b = Stream(3), Stream(6)
    clock.add(a)
    clock.add(b)
    await asyncio.wait_for(asyncio.gather(a.left, b.left), 5)
    assert not clock.running
    assert sum(a.dues) >= 3 and sum(b.dues) >= 6


async def test_ticks_sit_on_an_absolute_20ms_grid() -> None:
    clock = MediaClock()
    stream = Stream(10)
    clock.add(stream)
    await asyncio.wait_for(stream.left, 5)
    steps = [round((t - stream.times[0]) / 0.02, 6) for t in stream.times]
    assert steps == [float(round(s)) for s in steps]  # every tick is start + n × 20 ms
    assert sum(stream.dues) == round(steps[-1]) + stream.dues[0]  # every period owed exactly once


async def test_a_late_loop_is_caught_up_and_lateness_recorded() -> None:
    seen: list[float] = []
    clock = MediaClock(on_lateness=seen.append)
    staller, other = Stream(20, stall=0.1), Stream(20)
    start = asyncio.get_running_loop().time()
    clock.add(staller, since=start)  # the same instant: the same phase, so the same late tick
    clock.add(other, since=start)
    await asyncio.wait_for(asyncio.gather(staller.left, other.left), 5)
    assert max(other.dues) >= 5  # 100 ms late: five periods owed at once
    assert clock.max_lateness >= 0.08
    assert len(seen) == clock.ticks


@in_virtual_time  # on a real loop, a tick a period late (a loaded machine) was owed 2 frames, not 1
async def test_a_stream_added_during_a_tick_starts_at_the_next_phase_not_the_next_period() -> None:
    clock = MediaClock()
    late = Stream(2)
    added_at: list[float] = []

    class Adder(Stream):
        def on_tick(self, now: float, due: int) -> bool:
            if not self.dues:
                loop = asyncio.get_running_loop()
                assert isinstance(loop, VirtualTimeLoop)
                loop.stall(0.0004)  # the tick's work so far
                added_at.append(loop.time())
                clock.add(late)
            return super().on_tick(now, due)

    adder = Adder(4)
    clock.add(adder)
    await asyncio.wait_for(asyncio.gather(adder.left, late.left), 5)
    assert late.times[0] > adder.times[0]
    # Its first slot is the first 1 ms boundary after it was added (computed, not measured).
    assert late.times[0] == pytest.approx(math.ceil(added_at[0] / QUANTUM - 1e-3) * QUANTUM, abs=1e-9)
    assert late.dues[0] == 1


async def test_a_failing_stream_is_dropped_and_the_others_go_on() -> None:
    clock = MediaClock()

    class Broken(Stream):
        def on_tick(self, now: float, due: int) -> bool:
            super().on_tick(now, due)
            raise RuntimeError("boom")

    broken, good = Broken(100), Stream(5)
    clock.add(broken)
    clock.add(good)
    await asyncio.wait_for(good.left, 5)
    assert len(broken.dues) == 1
    assert not clock.running
