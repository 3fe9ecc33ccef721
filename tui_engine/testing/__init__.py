"""Fakes and helpers shipped with the package so users can test their dialplans too.

Testing an idle timer without sleeping::

    loop = FakeLoop()
    calls = DecisionRecorder()
    timer = IdleTimer(IdlePolicy(timeout=10.0, max_attempts=3), calls, loop=loop)
    timer.start()
    loop.advance(10.0)
    assert calls.kinds() == ["reprompt"]

``FakeClock`` drives the sans-I/O core directly; ``free_port`` / ``free_port_block`` give
loopback ports for tests that start real servers.
"""

from tui_engine.core.clock import FakeClock
from tui_engine.testing.loop import FakeLoop, FakeTimerHandle
from tui_engine.testing.net import free_port, free_port_block
from tui_engine.testing.recorder import DecisionRecorder, Delivered, LatenessRecorder

__all__ = [
    "DecisionRecorder",
    "Delivered",
    "FakeClock",
    "FakeLoop",
    "FakeTimerHandle",
    "LatenessRecorder",
    "free_port",
    "free_port_block",
]
