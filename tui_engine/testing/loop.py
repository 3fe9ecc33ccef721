"""A virtual-time loop for testing idle timers without sleeping.

:class:`~tui_engine.runtime.IdleTimer` needs only ``loop.time()`` and ``loop.call_at()``
(the :class:`~tui_engine.runtime.TimerLoop` protocol), so a dialplan or portal test can hand
it a :class:`FakeLoop` and move time with :meth:`FakeLoop.advance`: every timer due on the
way runs, in order, at its own deadline. Hand-written rather than taken from ``looptime``
because that library is a pytest plugin that fast-forwards a *real* running loop; here a
test wants the exact, synchronous "advance 10 s, see one Reprompt" step of a sans-I/O test,
with no event loop running at all.

:class:`VirtualTimeLoop` is the other kind: a real asyncio loop (tasks, futures, sockets) whose
clock jumps to the next timer instead of sleeping, for code whose outcome depends on *when* a
timer ran. ``looptime`` (a maintained pytest plugin) does this too, but by patching the loops of
pytest-asyncio's fixtures through its own hooks, which ties the suite to both plugins' versions;
the few tests that need it get it from asyncio's own extension points (``time()``, the selector).
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import selectors
from collections.abc import Callable, Coroutine
from typing import TypeVarTuple

from tui_engine.core.clock import FakeClock

_Ts = TypeVarTuple("_Ts")


class FakeTimerHandle:
    """A scheduled callback; mirrors the part of ``asyncio.TimerHandle`` timers use."""

    __slots__ = ("_args", "_callback", "_cancelled", "_context", "_when")

    def __init__(
        self,
        when: float,
        callback: Callable[..., object],
        args: tuple[object, ...],
        context: contextvars.Context,
    ) -> None:
        self._when = when
        self._callback = callback
        self._args = args
        self._context = context
        self._cancelled = False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled

    def run(self) -> None:
        """Run the callback in the context it was scheduled with (as asyncio does)."""
        self._context.run(self._callback, *self._args)


class FakeLoop:
    """Timers only: ``time``, ``call_at``, ``call_later``, on a :class:`FakeClock`.

    ``call_at_count`` counts every handle ever scheduled, so a test can prove that input
    does not churn timers. An exception raised by a callback propagates out of
    :meth:`advance` (a test should fail loudly, not log and go on like a real loop).
    """

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock if clock is not None else FakeClock()
        self.call_at_count = 0
        self._heap: list[tuple[float, int, FakeTimerHandle]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.clock.now()

    def call_at(
        self,
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> FakeTimerHandle:
        ctx = context if context is not None else contextvars.copy_context()
        handle = FakeTimerHandle(when, callback, args, ctx)
        heapq.heappush(self._heap, (when, next(self._seq), handle))
        self.call_at_count += 1
        return handle

    def call_later(
        self,
        delay: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> FakeTimerHandle:
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def pending(self) -> int:
        """Handles scheduled, not cancelled and not yet run."""
        return sum(1 for _, _, h in self._heap if not h.cancelled())

    def next_when(self) -> float | None:
        """When the next live handle is due, or ``None``."""
        while self._heap and self._heap[0][2].cancelled():
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds``, running every handle due on the way."""
        return self.advance_to(self.clock.now() + seconds)

    def advance_to(self, when: float) -> float:
        """Run handles due at or before ``when`` (each at its own time), then set the clock."""
        if when < self.clock.now():
            raise ValueError(f"FakeLoop.advance_to({when}): before now ({self.clock.now()})")
        while (due := self.next_when()) is not None and due <= when:
            _, _, handle = heapq.heappop(self._heap)
            self.clock.set(max(due, self.clock.now()))
            handle.run()
        return self.clock.set(when)


class _JumpingSelector(selectors.DefaultSelector):
    """Polls the real file descriptors without blocking; a wait for a timer moves the clock instead."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout is None:  # I/O to handle; or no timer at all: only I/O can come
            return ready or super().select(None)
        self.clock.advance(max(timeout, 0.0))  # as if it had slept until the timer
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A real asyncio loop whose ``time()`` only moves while it waits for its next timer.

    Callbacks take no time at all, however loaded the machine is, so a timer runs exactly at its
    deadline and nothing is ever late unless a test says so (:meth:`stall`). For code such as the
    media clock whose slots depend on *when* a timer ran: on a real loop a test of "which 20 ms
    slot" fails whenever the test process waits a period for a CPU. Futures, tasks and
    ``call_soon`` behave as usual; real I/O is still polled. Use with :func:`in_virtual_time`.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.clock = FakeClock(start)
        super().__init__(_JumpingSelector(self.clock))

    def time(self) -> float:
        return self.clock.now()

    def stall(self, seconds: float) -> None:
        """The callback running now took ``seconds`` (a blocking call, a GC pause)."""
        self.clock.advance(seconds)


def in_virtual_time(test: Callable[[], Coroutine[object, object, None]]) -> Callable[[], None]:
    """Decorate an ``async def`` test to run to its end on a fresh :class:`VirtualTimeLoop`."""

    def run() -> None:
        with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
            runner.run(test())

    run.__name__, run.__qualname__, run.__doc__ = test.__name__, test.__qualname__, test.__doc__
    return run
