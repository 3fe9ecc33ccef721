"""The idle-policy core: a pure state machine shared by phone calls and web sessions.

Nothing here touches sockets, sleeps or reads a clock by itself: callers pass ``now``
(seconds on the monotonic clock of ``loop.time()``) and receive decisions plus the
absolute deadline at which to ask again.
"""

from tui_engine.core.clock import Clock, FakeClock, MonotonicClock
from tui_engine.core.decisions import Decision, Disconnect, Lock, Reprompt, Warn
from tui_engine.core.errors import IdlePolicyError, TuiEngineError
from tui_engine.core.events import (
    Activity,
    Event,
    PolicyChanged,
    ProgressFinished,
    ProgressStarted,
    Resumed,
    Started,
    Stopped,
)
from tui_engine.core.guards import CallGuards, CallLimits, Guard, GuardExpired
from tui_engine.core.machine import IdleSession, IdleState
from tui_engine.core.policy import FinalAction, IdlePolicy, call_policy, portal_policy

__all__ = [
    "Activity",
    "CallGuards",
    "CallLimits",
    "Clock",
    "Decision",
    "Disconnect",
    "Event",
    "FakeClock",
    "FinalAction",
    "Guard",
    "GuardExpired",
    "IdlePolicy",
    "IdlePolicyError",
    "IdleSession",
    "IdleState",
    "Lock",
    "MonotonicClock",
    "PolicyChanged",
    "ProgressFinished",
    "ProgressStarted",
    "Reprompt",
    "Resumed",
    "Started",
    "Stopped",
    "TuiEngineError",
    "Warn",
    "call_policy",
    "portal_policy",
]
