"""The asyncio layer around the sans-I/O core: timers and task bookkeeping."""

from tui_engine.runtime.deadline_driver import DeadlineDriver, Pollable
from tui_engine.runtime.idle_driver import DecisionHandler, IdleTimer, LatenessSink, decision_kind
from tui_engine.runtime.lazy_timer import MIN_REARM, LazyTimer, TimerHandleLike, TimerLoop

__all__ = [
    "MIN_REARM",
    "DeadlineDriver",
    "DecisionHandler",
    "IdleTimer",
    "LatenessSink",
    "LazyTimer",
    "Pollable",
    "TimerHandleLike",
    "TimerLoop",
    "decision_kind",
]
