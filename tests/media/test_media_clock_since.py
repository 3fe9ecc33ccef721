"""``MediaClock.add(stream, since=...)``: a stream due at a slot that just ran is served in it at once.

Why it matters: a reprompt starts from a timer due at the same instant as a grid tick; when the
tick runs first, waiting for the next one delayed every timer-started prompt by a period.
Assertions are about slots and order, never about how fast anything ran.
"""

from __future__ import annotations

import asyncio

from tui_engine.media.clock import PERIOD, MediaClock


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

    def __init__(self, frames: int, clock: MediaClock, other: Stream, *, since_slot: bool) -> None:
        super().__init__(frames)
        self.clock, self.other, self.since_slot = clock, other, since_slot

    def on_tick(self, now: float, due: int) -> bool:
        if not self.dues:
            since = now if self.since_slot else None
            asyncio.get_running_loop().call_soon(lambda: self.clock.add(self.other, since=since))
        return super().on_tick(now, due)


async def test_a_stream_due_at_the_slot_that_just_ran_is_served_in_it() -> None:
    clock = MediaClock()
    joined = Stream(3)
    first = Joiner(6, clock, joined, since_slot=True)
    clock.add(first)
    await asyncio.wait_for(asyncio.gather(first.left, joined.left), 5)
    assert joined.times[0] == first.times[0]  # the same slot, not the next one
    assert joined.dues[0] == 1
    assert sum(joined.dues) == 3  # every later frame owed exactly once


async def test_without_since_a_stream_waits_for_the_next_slot() -> None:
    clock = MediaClock()
    joined = Stream(3)
    first = Joiner(6, clock, joined, since_slot=False)
    clock.add(first)
    await asyncio.wait_for(asyncio.gather(first.left, joined.left), 5)
    assert joined.times[0] > first.times[0]
    steps = (joined.times[0] - first.times[0]) / PERIOD
    assert abs(steps - round(steps)) < 1e-6  # on the grid


async def test_since_after_the_last_slot_waits_for_the_next_one() -> None:
    clock = MediaClock()
    joined = Stream(2)

    class Later(Joiner):
        def on_tick(self, now: float, due: int) -> bool:
            if not self.dues:
                later = now + PERIOD / 2  # due between two slots: never sent before it is due
                asyncio.get_running_loop().call_soon(lambda: self.clock.add(self.other, since=later))
                self.dues.append(due)
                self.times.append(now)
                return True
            return Stream.on_tick(self, now, due)

    first = Later(6, clock, joined, since_slot=True)
    clock.add(first)
    await asyncio.wait_for(asyncio.gather(first.left, joined.left), 5)
    assert joined.times[0] >= first.times[0] + PERIOD / 2
