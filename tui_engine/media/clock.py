"""The media clock of the process: 20 ms frame grids, one timer per phase in use.

Why shared: a timer per call (aiortp's paced mode) costs CPU for every idle call. Here there is
no timer at all while nothing plays; while something plays there is at most one
``loop.call_at`` per *phase* and period, and each tick sends the next frame of every stream on
that phase.

Why phases: with a single grid for the whole process, a prompt asked for between two ticks
waited up to a whole period (0–20 ms, uniform) before its first frame, and that wait was most
of the hang-up lateness measured by ``bench/concurrency.py``; every stream also sent in the same
tick, one burst per 20 ms. So a period is cut into ``PHASES`` phases of ``QUANTUM`` (1 ms: the
resolution of uvloop's timers, finer would buy nothing), and a stream starts on the first phase
boundary at or after the instant its sending was asked for (``since``, default now): the first
frame waits under 1 ms, and the streams of a busy engine spread over the period.

Ticks sit on absolute deadlines ``k × QUANTUM`` (k an integer; the ticks of one phase are
``PHASES`` quanta apart) so errors never accumulate. When the loop was late and several periods
are due, each stream is told how many; it sends up to ``max_burst`` of them back to back and
skips the rest (advancing its RTP timestamp) so that the timestamps keep matching the wall
clock, as RFC 3550 §5.1 requires of the sampling clock.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Protocol

from tui_engine.obs.logging import get_logger

log = get_logger("tui_engine.media")

PERIOD = 0.02  #: seconds per frame (RFC 3551 §4.5: 20 ms default packetisation)
QUANTUM = 0.001  #: seconds between two phases: where a stream may start
PHASES = round(PERIOD / QUANTUM)  #: phases per period (20)
_SAME_INSTANT = 1e-6  #: instants this close are the same (float sums of periods drift)


class ClockedStream(Protocol):
    """What the clock drives: a per-call sender."""

    def on_tick(self, now: float, due: int) -> bool:
        """``due`` ≥ 1 frames are owed at ``now`` (the tick's deadline); return False to leave the clock."""
        ...


class _Phase:
    """The streams sending on one phase, and its timer. Slots are integers counted in quanta."""

    __slots__ = ("handle", "next", "number", "streams", "ticking")

    def __init__(self, number: int) -> None:
        self.number = number  # 0 … PHASES-1: slots of this phase are ≡ number (mod PHASES)
        self.streams: dict[ClockedStream, int] = {}  # stream → slot it was last served in
        self.handle: asyncio.TimerHandle | None = None
        self.next = 0  # slot of the next tick (the armed one while ``handle`` is set)
        self.ticking: int | None = None  # slot being run, while it runs


class MediaClock:
    """Ticks every 20 ms on each phase that has a stream; otherwise holds no timer."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        on_lateness: Callable[[float], None] | None = None,
    ) -> None:
        self._fixed_loop = loop  # None: the running loop at each start (an engine may outlive a loop)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._phases: dict[int, _Phase] = {}  # phase number (0 … PHASES-1) → its streams and timer
        self._phase_of: dict[ClockedStream, _Phase] = {}
        self.on_lateness = on_lateness  #: called with each tick's lateness in seconds (metrics)
        self.last_lateness = 0.0  #: seconds the latest tick ran after its deadline
        self.max_lateness = 0.0  #: worst lateness since start
        self.ticks = 0  #: ticks run

    @property
    def running(self) -> bool:
        """Whether a timer is armed (false whenever no stream is registered)."""
        return any(phase.handle is not None for phase in self._phases.values())

    @property
    def streams(self) -> int:
        return len(self._phase_of)

    @property
    def phases_in_use(self) -> int:
        """Phases with a stream: the number of timers armed."""
        return len(self._phases)

    def add(self, stream: ClockedStream, *, since: float | None = None) -> None:
        """Start driving ``stream``; its first frame goes out at the first phase boundary ≥ ``since``.

        ``since`` (loop time; default: now) is when the sending was asked for, e.g. the deadline of
        the timer that starts a reprompt. When that boundary has already passed (the timer ran
        late), the stream is served at once, in the latest slot of its phase, late exactly like a
        late tick (RTP timestamps stay on the grid, RFC 3550 §5.1): the prompt's start is never
        cut, and no period is waited for. A stream already driven keeps its phase.
        """
        if stream in self._phase_of:
            return
        if not self._phases:  # idle: (re)bind to the running loop (an engine may outlive a loop)
            self._loop = self._fixed_loop or asyncio.get_running_loop()
        loop = self._loop
        assert loop is not None
        now = loop.time()
        first = math.ceil((now if since is None else since) / QUANTUM - _SAME_INSTANT / QUANTUM)
        number = first % PHASES
        phase = self._phases.get(number)
        if phase is None:
            phase = self._phases[number] = _Phase(number)
        self._phase_of[stream] = phase
        if first * QUANTUM > now + _SAME_INSTANT:  # ahead: its phase's tick at ``first`` serves it
            phase.streams[stream] = first - PHASES
            self._arm(phase, first)
            return
        # Due already: the latest slot of this phase that has come, served now.
        slot = first + PHASES * math.floor((now + _SAME_INSTANT - first * QUANTUM) / PERIOD)
        phase.streams[stream] = slot
        self._arm(phase, slot + PHASES)
        if not self._serve(stream, slot * QUANTUM, 1):
            self.remove(stream)

    def remove(self, stream: ClockedStream) -> None:
        """Stop driving ``stream``; a phase's timer stops with its last stream."""
        phase = self._phase_of.pop(stream, None)
        if phase is None:
            return
        phase.streams.pop(stream, None)
        if not phase.streams and phase.ticking is None:
            self._retire(phase)

    def close(self) -> None:
        """Forget every stream and cancel the timers."""
        for phase in list(self._phases.values()):
            phase.streams.clear()
            self._retire(phase)
        self._phase_of.clear()

    def _arm(self, phase: _Phase, slot: int) -> None:
        """Make sure ``phase`` ticks at ``slot`` or earlier (a running phase's next tick is never later)."""
        if phase.handle is not None or phase.ticking is not None:
            return  # running: its next tick is at or before ``slot``, and re-arms itself
        assert self._loop is not None
        phase.next = slot
        phase.handle = self._loop.call_at(slot * QUANTUM, self._tick, phase)

    def _retire(self, phase: _Phase) -> None:
        if phase.handle is not None:
            phase.handle.cancel()
            phase.handle = None
        if self._phases.get(phase.number) is phase:
            del self._phases[phase.number]

    def _tick(self, phase: _Phase) -> None:
        loop = self._loop
        assert loop is not None  # set when the timer was armed
        phase.handle = None
        now = loop.time()
        self._observe(now - phase.next * QUANTUM)
        # The latest slot of this phase already passed (the loop may run callbacks a hair early).
        behind = math.floor((now - phase.next * QUANTUM) / PERIOD + 1e-9)
        current = phase.next + PHASES * max(0, behind)
        when = current * QUANTUM
        phase.ticking = current
        try:
            for stream, served in list(phase.streams.items()):
                if stream not in phase.streams:
                    continue  # removed by an earlier stream's callback during this tick
                due = (current - served) // PHASES
                if due <= 0:
                    continue  # starts at a later slot of this phase
                phase.streams[stream] = current
                try:  # _serve written out: once per stream and frame
                    keep = stream.on_tick(when, due)
                except Exception:
                    log.exception("media.clock_stream_failed")
                    keep = False
                if not keep:
                    self.remove(stream)
        finally:
            phase.ticking = None
        if phase.streams:
            phase.next = current + PHASES
            phase.handle = loop.call_at(phase.next * QUANTUM, self._tick, phase)
        else:
            self._retire(phase)

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
