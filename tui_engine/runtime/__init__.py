"""The asyncio layer around the sans-I/O core: timers and task bookkeeping."""

from tui_engine.runtime.idle_driver import (
    DecisionHandler,
    IdleTimer,
    LatenessSink,
    TimerHandleLike,
    TimerLoop,
    decision_kind,
)

__all__ = [
    "DecisionHandler",
    "IdleTimer",
    "LatenessSink",
    "TimerHandleLike",
    "TimerLoop",
    "decision_kind",
]
