"""Phases of the media clock: a stream starts on the first 1 ms boundary at or after it was asked for.

Why it matters: with one 20 ms grid for the process, a prompt waited up to a whole period for
its first frame, and every reprompt of a no-input cycle added that wait to the call. Streams
that start at different instants keep their own grids, so the frames of a busy engine spread
over the period. ``since`` is when the sending was due (a timer's deadline): a stream due at a
boundary that has passed is served at once, in that slot.
Assertions are about slots and order, never about how fast anything ran. The tests run on a
virtual-time loop: on a real one, a test process that waited a period for a CPU (a loaded CI
machine) saw its tick one slot later and failed ("assert 2 == 3" on ``clock.ticks``), though the
clock did what it must with a late loop (that is tested in test_media_clock.py).
"""

from __future__ import annotations

import asyncio

import pytest

from tui_engine.media.clock import PERIOD, PHASES, QUANTUM, MediaClock
from tui_engine.testing.loop import VirtualTimeLoop, in_virtual_time


class Stream:
    """Records the slot times it was served at and what it was owed; leaves after ``frames``."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.dues: list[int] = []
        self.times: list[float] = []
        self.left = asyncio.get_running_loop().create_future()

    def on_tick(self, now: float, due: int) -> bool:
        self.dues.append(due)
        self.times.append(now)
        if sum(self.dues) >= self.frames:
            if not self.left.done():
                self.left.set_result(None)
            return False
        return True


class Joiner(Stream):
    """A stream that, at its first tick, adds ``other`` after the tick (as a timer due then would)."""

    def __init__(
        self, frames: int, clock: MediaClock, other: Stream, *, offset: float | None, took: float = 0.0
    ) -> None:
        super().__init__(frames)
        self.clock, self.other, self.offset, self.took = clock, other, offset, took

    def on_tick(self, now: float, due: int) -> bool:
        if not self.dues:
            since = None if self.offset is None else now + self.offset
            asyncio.get_running_loop().call_soon(self._add, since)
        return super().on_tick(now, due)

    def _add(self, since: float | None) -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        loop.stall(self.took)  # the work between the tick and the add
        self.clock.add(self.other, since=since)


def on_grid(times: list[float]) -> bool:
    """Every time is its first + n × 20 ms."""
    steps = [(t - times[0]) / PERIOD for t in times]
    return all(abs(s - round(s)) < 1e-6 for s in steps)


@in_virtual_time
async def test_a_stream_due_at_the_slot_that_just_ran_is_served_in_it() -> None:
    clock = MediaClock()
    joined = Stream(3)
    first = Joiner(6, clock, joined, offset=0.0)
    clock.add(first)
    await asyncio.wait_for(asyncio.gather(first.left, joined.left), 5)
    assert joined.times[0] == pytest.approx(first.times[0], abs=1e-9)  # that slot, not a later one
    assert joined.dues[0] == 1
    assert sum(joined.dues) == 3  # every later frame owed exactly once
    assert on_grid(joined.times)


@in_virtual_time
async def test_without_since_a_stream_starts_at_the_next_boundary_on_its_own_grid() -> None:
    clock = MediaClock()
    joined = Stream(3)
    first = Joiner(6, clock, joined, offset=None, took=0.0004)
    clock.add(first)
    await asyncio.wait_for(asyncio.gather(first.left, joined.left), 5)
    assert joined.times[0] == pytest.approx(first.times[0] + QUANTUM, abs=1e-9)  # the next 1 ms boundary
    boundaries = joined.times[0] / QUANTUM
    assert abs(boundaries - round(boundaries)) < 1e-6
    assert on_grid(joined.times) and on_grid(first.times)


@in_virtual_time
async def test_since_between_two_boundaries_waits_for_the_next_one() -> None:
    clock = MediaClock()
    joined = Stream(2)
    first = Joiner(6, clock, joined, offset=0.0105)  # due between two 1 ms boundaries
    clock.add(first)
    await asyncio.wait_for(asyncio.gather(first.left, joined.left), 5)
    assert joined.times[0] == pytest.approx(first.times[0] + 0.011, abs=1e-9)  # never before it is due


@in_virtual_time
async def test_a_since_long_past_is_served_at_once_in_the_latest_slot_of_its_phase() -> None:
    clock = MediaClock()
    stream = Stream(2)
    now = asyncio.get_running_loop().time()
    clock.add(stream, since=now - 0.075)  # a timer that ran 75 ms late
    assert stream.dues == [1]  # served inside add: the prompt's start is not cut
    slots_back = (now - stream.times[0]) / PERIOD
    assert 0 <= slots_back < 1 + 1e-6  # the latest slot of its phase, not the stale one
    since_to_slot = stream.times[0] - (now - 0.075)
    assert 3 * PERIOD - 1e-9 <= since_to_slot <= 0.075 + 1e-9  # on the grid that starts at ``since``
    await asyncio.wait_for(stream.left, 5)
    assert stream.dues == [1, 1]


@in_virtual_time
async def test_streams_started_at_different_instants_keep_their_own_phases() -> None:
    clock = MediaClock()
    start = asyncio.get_running_loop().time() + 0.005
    a, b = Stream(5), Stream(5)
    clock.add(a, since=start)
    clock.add(b, since=start + 0.007)
    assert clock.phases_in_use == 2
    await asyncio.wait_for(asyncio.gather(a.left, b.left), 5)
    assert on_grid(a.times) and on_grid(b.times)
    assert all(round((y - x) * 1000, 6) == 7.0 for x, y in zip(a.times, b.times, strict=True))
    assert not clock.running and clock.phases_in_use == 0


@in_virtual_time
async def test_streams_on_one_phase_share_one_timer() -> None:
    clock = MediaClock()
    start = asyncio.get_running_loop().time() + 0.005
    streams = [Stream(3) for _ in range(50)]
    for stream in streams:
        clock.add(stream, since=start)
    assert clock.phases_in_use == 1
    await asyncio.wait_for(asyncio.gather(*(s.left for s in streams)), 5)
    assert clock.ticks == 3  # one tick served all fifty, three times
    assert len({tuple(s.times) for s in streams}) == 1


@in_virtual_time
async def test_phases_never_exceed_one_per_quantum() -> None:
    clock = MediaClock()
    start = asyncio.get_running_loop().time() + 0.005
    streams = [Stream(2) for _ in range(3 * PHASES)]
    for i, stream in enumerate(streams):
        clock.add(stream, since=start + i * QUANTUM / 3)
    assert clock.phases_in_use == PHASES
    await asyncio.wait_for(asyncio.gather(*(s.left for s in streams)), 5)
    assert clock.phases_in_use == 0
