"""One heap of absolute deadlines for every timer of an endpoint (transactions and calls).

Entries are never removed when a deadline moves: the owner just changes ``deadline`` and pushes
again, and stale entries (``owner.deadline != when``) are skipped when they reach the top. That
keeps every re-arm O(log n) with no cancellation bookkeeping, and lets the asyncio driver keep a
single ``TimerHandle`` for the whole endpoint.

A stale entry can be far from the top, though: every call's RFC 4028 lease is due at half the
session interval (15 minutes by default), and a call that ends stops it, but its entry (and the
timer object it holds) stayed until then: at 100 calls/s, 90 000 of them. So the heap is rebuilt
from its live entries once as many pushes as it then held have followed (at least
``COMPACT_AFTER``): O(1) a push, amortised, and never more than about twice the live entries.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from tui_engine.obs.logging import get_logger
from tui_engine.sip.transaction import Timed

log = get_logger("tui_engine.sip")

COMPACT_AFTER = 1024  #: pushes before the first rebuild (a small heap is never worth one)


class DeadlineHeap:
    __slots__ = ("_counter", "_heap", "_pushes_left", "on_earlier")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timed]] = []
        self._counter = itertools.count()
        self._pushes_left = COMPACT_AFTER  # until the next rebuild
        #: called with the new earliest deadline when one is pushed ahead of all others
        self.on_earlier: Callable[[float], None] | None = None

    def push(self, item: Timed) -> None:
        when = item.deadline
        if when is None:
            return
        earlier = not self._heap or when < self._heap[0][0]
        heapq.heappush(self._heap, (when, next(self._counter), item))
        self._pushes_left -= 1
        if self._pushes_left <= 0:
            self._compact()
        if earlier and self.on_earlier is not None:
            self.on_earlier(when)

    def _compact(self) -> None:
        """Drop the stale entries (their owner's deadline moved or was cleared) in one pass."""
        live = [entry for entry in self._heap if entry[2].deadline == entry[0]]
        heapq.heapify(live)
        self._heap = live
        self._pushes_left = max(COMPACT_AFTER, len(live))

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].deadline != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[Timed]:
        """Owners whose deadline is at or before ``now``, earliest first."""
        due: list[Timed] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, item = heapq.heappop(heap)
            if item.deadline == when:
                due.append(item)
        return due

    def __len__(self) -> int:
        return len(self._heap)

    def clear(self) -> None:
        self._heap.clear()
