"""When the cyclic garbage collector may stop the loop: young collections as usual, full ones on a schedule.

Measured (bench/concurrency.py, 5 000 calls in no-input cycles): CPython's own trigger ran a
full (generation 2) collection every few seconds under load (whenever the objects promoted to
the old generation grew by a quarter), and each one walked every live call for 65–200 ms on
the loop's thread. Every timer and media tick due in that time fired that late: it was the
whole tail of the hang-up lateness. Young collections (generations 0 and 1) cost about a
millisecond and stay automatic.

This is safe only because a finished call leaves no reference cycle behind: its timer,
media endpoint and menu runner break theirs when the call ends, so reference counting frees
the call at once (``tests/e2e_tui/test_e2e_no_cycles.py`` holds that). A full collection still
runs every ``full_every`` seconds (and once at start, before start-up objects are frozen) to
free whatever cycles other code leaves; its pause is visible in ``tui_gc_pause_seconds``.
"""

from __future__ import annotations

import asyncio
import gc

FULL_EVERY = 600.0  #: seconds between scheduled full collections
_NEVER = 2**31 - 1  #: a generation-2 threshold no count reaches: CPython never starts one itself


class GcPolicy:
    """Installed by the engine at start (:meth:`start`), undone at stop (:meth:`stop`)."""

    def __init__(self, *, full_every: float = FULL_EVERY) -> None:
        self.full_every = full_every
        self.full_collections = 0  #: scheduled full collections run
        self._saved: tuple[int, int, int] | None = None
        self._handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Collect and freeze the start-up objects, turn off automatic full collections, schedule them."""
        # Start-up objects (modules, config, dialplans, converted prompts) live as long as the
        # process: frozen, no later collection walks them.
        gc.collect()
        gc.freeze()
        if self._saved is None:
            self._saved = gc.get_threshold()
        young, middle, _ = self._saved
        gc.set_threshold(young, middle, _NEVER)
        self._schedule(loop)

    def stop(self) -> None:
        """Give the process its collector back: thresholds, frozen objects (it may be a test's)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            gc.unfreeze()
            self._saved = None

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = loop.call_later(self.full_every, self._collect, loop)

    def _collect(self, loop: asyncio.AbstractEventLoop) -> None:
        gc.collect()
        self.full_collections += 1
        self._schedule(loop)
