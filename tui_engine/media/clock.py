"""The one media clock of the process: a 20 ms grid shared by every call that is sending.

Why one clock: a timer per call (aiortp's paced mode) costs CPU for every idle call. Here there
is no timer at all while nothing plays; while something plays there is one ``loop.call_at`` per
20 ms for the whole process, and each tick sends the next frame of every playing stream.

Ticks sit on absolute deadlines ``start + n × 20 ms`` so errors never accumulate. When the loop
was late and several periods are due, each stream is told how many; it sends up to
``max_burst`` of them back to back and skips the rest (advancing its RTP timestamp) so that the
timestamps keep matching the wall clock, as RFC 3550 §5.1 requires of the sampling clock.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Protocol

import structlog

log = structlog.get_logger("tui_engine.media")

PERIOD = 0.02  #: seconds per frame (RFC 3551 §4.5: 20 ms default packetisation)
_SAME_INSTANT = 1e-6  #: deadlines this close are the same instant (float sums of periods drift)


class ClockedStream(Protocol):
    """What the clock drives: a per-call sender."""

    def on_tick(self, now: float, due: int) -> bool:
        """``due`` ≥ 1 frames are owed at ``now`` (the tick's deadline); return False to leave the clock."""
        ...


class MediaClock:
    """Ticks every 20 ms while at least one stream is registered; otherwise holds no timer."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        on_lateness: Callable[[float], None] | None = None,
    ) -> None:
        self._fixed_loop = loop  # None: the running loop at each start (an engine may outlive a loop)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._streams: dict[ClockedStream, int] = {}  # stream → index of the last tick it was served
        self._handle: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._next = 0  # index of the next scheduled tick
        self._ticking: int | None = None  # index of the tick being run, while it runs
        self.on_lateness = on_lateness  #: called with each tick's lateness in seconds (metrics)
        self.last_lateness = 0.0  #: seconds the latest tick ran after its deadline
        self.max_lateness = 0.0  #: worst lateness since start
        self.ticks = 0  #: ticks run

    @property
    def running(self) -> bool:
        """Whether a timer is armed (false whenever no stream is registered)."""
        return self._handle is not None

    @property
    def streams(self) -> int:
        return len(self._streams)

    def add(self, stream: ClockedStream, *, since: float | None = None) -> None:
        """Start driving ``stream``; its first frame goes out in the first slot at or after ``since``.

        ``since`` (loop time; default: now) is when the sending was asked for, e.g. the deadline of
        the timer that starts a reprompt. When the loop runs that timer a little after the grid tick
        of the same instant (the two are due together; the tick may run first), the slot has just
        passed: the stream is served in it at once, late exactly like a late tick (RTP timestamps
        stay on the grid, RFC 3550 §5.1), instead of waiting a whole period for the next one.
        Without it every timer-started prompt lost up to 20 ms: measured as most of the hang-up
        lateness of calls in no-input cycles (bench/concurrency.py).
        """
        if stream in self._streams:
            return
        if self._ticking is not None:  # added from a callback inside a tick: join at the next one
            self._streams[stream] = self._ticking
            return
        if self._handle is None:
            loop = self._loop = self._fixed_loop or asyncio.get_running_loop()
            self._start, self._next = loop.time(), 0
            self._streams[stream] = -1
            self._handle = loop.call_at(self._start, self._tick)
            return
        last = self._next - 1  # the slot of the tick that ran last
        if since is not None and last >= 0 and self._start + last * PERIOD >= since - _SAME_INSTANT:
            self._streams[stream] = last
            if not self._serve(stream, self._start + last * PERIOD, 1):
                self.remove(stream)
            return
        self._streams[stream] = last

    def remove(self, stream: ClockedStream) -> None:
        """Stop driving ``stream``; the timer stops with the last one."""
        self._streams.pop(stream, None)
        if not self._streams and self._handle is not None and self._ticking is None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        """Forget every stream and cancel the timer."""
        self._streams.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None  # set when the timer was armed
        now = loop.time()
        deadline = self._start + self._next * PERIOD
        self._observe(now - deadline)
        # Index of the latest deadline already passed (the loop may run callbacks a hair early).
        current = max(self._next, math.floor((now - self._start) / PERIOD + 1e-9))
        when = self._start + current * PERIOD
        self._ticking = current
        try:
            for stream, served in list(self._streams.items()):
                if stream not in self._streams:
                    continue  # removed by an earlier stream's callback during this tick
                self._streams[stream] = current
                if not self._serve(stream, when, current - served):
                    self._streams.pop(stream, None)
        finally:
            self._ticking = None
        self._next = current + 1
        if self._streams:
            self._handle = loop.call_at(self._start + self._next * PERIOD, self._tick)
        else:
            self._handle = None

    def _serve(self, stream: ClockedStream, when: float, due: int) -> bool:
        """One stream's frames; a stream that raises is dropped, the others keep their timing."""
        try:
            return stream.on_tick(when, due)
        except Exception:
            log.exception("media.clock_stream_failed")
            return False

    def _observe(self, lateness: float) -> None:
        self.ticks += 1
        self.last_lateness = max(lateness, 0.0)
        self.max_lateness = max(self.max_lateness, self.last_lateness)
        if self.on_lateness is not None:
            self.on_lateness(self.last_lateness)
