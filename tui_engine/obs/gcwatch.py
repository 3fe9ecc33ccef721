"""How long the cyclic garbage collector stops the loop: ``tui_gc_pause_seconds{generation}``.

A collection runs inside whatever allocation triggered it, on the loop's thread: while it walks
the heap no timer fires and no packet is read. With thousands of calls a full (generation 2)
collection walks every call's objects, and that pause lands on some callers' timers. The
histogram tells such pauses from a slow loop; a pause longer than ``warn_after`` is also logged
(``runtime.gc_pause``).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from tui_engine.obs.logging import get_logger

log = get_logger("tui_engine.runtime")

PauseSink = Callable[[int, float], None]
"""``(generation, seconds)``."""


class GcWatch:
    """Times every collection through ``gc.callbacks``; :meth:`close` removes the hook."""

    def __init__(self, sink: PauseSink, *, warn_after: float = 0.05) -> None:
        self._sink = sink
        self._warn_after = warn_after
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def close(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = int(info.get("generation", 0))
        self._sink(generation, seconds)
        if seconds >= self._warn_after:
            log.warning(
                "runtime.gc_pause",
                generation=generation,
                pause_ms=round(seconds * 1000, 1),
                collected=info.get("collected"),
            )
