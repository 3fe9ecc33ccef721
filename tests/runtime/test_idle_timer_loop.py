"""IdleTimer on a real asyncio loop with short timeouts.

Assertions are about which decisions arrive, in which order, and that lateness is never
negative, never about how precisely the loop kept time (that is for ``bench/``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from tui_engine.core import Decision, Disconnect, FinalAction, IdlePolicy, IdleState, Lock, Reprompt, Warn
from tui_engine.runtime import IdleTimer, LazyTimer
from tui_engine.testing import DecisionRecorder, LatenessRecorder

WAIT = 5.0  # generous upper bound for "eventually"; never reached when things work


class Finished:
    """A recorder whose final decision (lock / disconnect) sets an asyncio.Event."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.calls = DecisionRecorder(then=self._then)

    def _then(self, decision: Decision, lateness: float) -> None:
        if isinstance(decision, Lock | Disconnect):
            self.done.set()

    async def wait(self) -> None:
        async with asyncio.timeout(WAIT):
            await self.done.wait()


@pytest.fixture
async def call_at_log(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[float]]:
    """Record the ``when`` of every ``loop.call_at`` an IdleTimer makes on the running loop."""
    loop = asyncio.get_running_loop()
    real = loop.call_at
    whens: list[float] = []

    def counting(when: float, callback: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
        if getattr(callback, "__func__", None) is LazyTimer._fire:  # not asyncio.sleep timers
            whens.append(when)
        return real(when, callback, *args, **kw)

    monkeypatch.setattr(loop, "call_at", counting)
    return lambda: whens


async def test_tui_cycle_delivers_reprompts_then_disconnect_in_order_with_lateness() -> None:
    fin, sink = Finished(), LatenessRecorder()
    timer = IdleTimer(IdlePolicy(timeout=0.05, max_attempts=3), fin.calls, sink=sink)
    timer.start()
    await fin.wait()
    assert fin.calls.kinds() == ["reprompt", "reprompt", "disconnect"]
    reprompts = [d for d in fin.calls.decisions if isinstance(d, Reprompt)]
    assert [r.attempt for r in reprompts] == [2, 3]
    dues = [d.decision.due for d in fin.calls.delivered]
    assert dues[1] - dues[0] == pytest.approx(0.05) and dues[2] - dues[1] == pytest.approx(0.05)
    assert all(d.lateness >= 0 for d in fin.calls.delivered)
    assert sink.observed == [(d.kind, d.lateness) for d in fin.calls.delivered]
    assert timer.session.state is IdleState.EXPIRED
    assert timer.seconds_left() is None


async def test_web_warns_then_locks() -> None:
    fin = Finished()
    # half a second between warning and lock: the warning is skipped only if the loop stalls longer
    policy = IdlePolicy(timeout=1.0, final=FinalAction.LOCK, warn_before=0.5)
    timer = IdleTimer(policy, fin.calls)
    timer.start()
    await fin.wait()
    warn, lock = fin.calls.decisions
    assert isinstance(warn, Warn) and isinstance(lock, Lock)
    assert warn.final_at == lock.due and 0 < warn.time_left <= 0.5
    timer.resume()
    assert timer.session.state is IdleState.WAITING and timer.session.attempt == 1
    left = timer.seconds_left()
    assert left is not None and 0 < left <= 1.0
    timer.stop()


async def test_activity_moves_the_deadline_without_new_timer_handles(
    call_at_log: Callable[[], list[float]],
) -> None:
    calls = DecisionRecorder()
    timer = IdleTimer(IdlePolicy(timeout=0.3, max_attempts=2), calls)
    timer.start()
    handle = timer.timer.handle
    assert handle is not None and len(call_at_log()) == 1
    for _ in range(1000):  # a burst of key presses: no await, so the handle cannot run
        timer.activity()
    assert timer.timer.handle is handle and not handle.cancelled()
    assert len(call_at_log()) == 1
    deadline = timer.session.next_deadline()
    assert deadline is not None and deadline >= timer.timer.armed_at == call_at_log()[0]
    timer.stop()
    assert handle.cancelled() and timer.timer.handle is None


async def test_early_wake_re_arms_at_the_moved_deadline(call_at_log: Callable[[], list[float]]) -> None:
    first = asyncio.Event()
    calls = DecisionRecorder(then=lambda d, late: first.set())
    timer = IdleTimer(IdlePolicy(timeout=1.0, max_attempts=2), calls)  # ample margin over the sleep
    timer.start()
    await asyncio.sleep(0.02)
    timer.activity()
    moved = timer.session.next_deadline()
    assert moved is not None and moved > call_at_log()[0]
    async with asyncio.timeout(WAIT):
        await first.wait()
    assert calls.kinds() == ["reprompt"]
    assert calls.decisions[0].due == moved  # not the original deadline it woke at first
    assert call_at_log()[1] == moved  # woke early once, re-armed at `moved`
    timer.stop()


async def test_change_policy_to_a_shorter_timeout_re_arms_earlier() -> None:
    fin = Finished()
    timer = IdleTimer(IdlePolicy(timeout=60.0), fin.calls)
    timer.start()
    old, old_at = timer.timer.handle, timer.timer.armed_at
    timer.change_policy(IdlePolicy(timeout=0.05))
    assert old is not None and old.cancelled()
    assert timer.timer.handle is not None and timer.timer.armed_at < old_at
    await fin.wait()  # would take 60 s without the re-arm
    assert fin.calls.kinds() == ["disconnect"]


async def test_change_policy_to_disabled_then_stop_delivers_nothing() -> None:
    calls = DecisionRecorder()
    timer = IdleTimer(IdlePolicy(timeout=0.05), calls)
    timer.start()
    timer.change_policy(IdlePolicy(timeout=0.0))
    assert timer.seconds_left() is None
    await asyncio.sleep(0.15)  # the stale handle wakes, finds nothing, does not re-arm
    assert calls.delivered == [] and timer.timer.handle is None
    timer.stop()


async def test_stop_cancels_the_timer() -> None:
    calls = DecisionRecorder()
    timer = IdleTimer(IdlePolicy(timeout=0.05, max_attempts=3), calls)
    timer.start()
    handle = timer.timer.handle
    timer.stop()
    assert handle is not None and handle.cancelled()
    await asyncio.sleep(0.15)
    assert calls.delivered == []
    assert timer.session.state is IdleState.STOPPED
    timer.activity()  # late input after hang-up is harmless
    timer.progress_started()
    timer.stop()
    assert timer.timer.handle is None


async def test_progress_holds_the_timer_on_a_real_loop() -> None:
    fin = Finished()
    timer = IdleTimer(IdlePolicy(timeout=0.05), fin.calls)
    timer.progress_started()
    timer.start()
    assert timer.seconds_left() is None
    await asyncio.sleep(0.12)
    assert fin.calls.delivered == []
    timer.progress_finished()
    await fin.wait()
    assert fin.calls.kinds() == ["disconnect"]


async def test_context_bound_at_creation_appears_on_idle_log_events() -> None:
    fin = Finished()

    async def open_call() -> IdleTimer:
        structlog.contextvars.bind_contextvars(call_id="call-42", session_id="s-7")
        return IdleTimer(IdlePolicy(timeout=0.05, max_attempts=2), fin.calls)

    timer = await asyncio.create_task(open_call())  # its own context, like a call's task
    assert "call_id" not in structlog.contextvars.get_contextvars()
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        timer.start()
        await fin.wait()
    idle = [e for e in logs if e["event"].startswith("idle.")]
    assert [e["event"] for e in idle] == ["idle.reprompt", "idle.disconnect"]
    for e in idle:
        assert e["call_id"] == "call-42" and e["session_id"] == "s-7"
        assert e["lateness_ms"] >= 0 and e["of"] == 2
    assert [e["attempt"] for e in idle] == [2, 2]


def test_uvloop_timers_are_never_early_and_do_not_spin() -> None:
    """uvloop's timers have 1 ms resolution and run handles up to half a tick early; a timer
    must neither deliver early nor re-arm its deadline in a busy loop (one extra handle at most)."""
    uvloop = pytest.importorskip("uvloop")
    made: list[float] = []

    class Counting(uvloop.Loop):  # type: ignore[misc, name-defined]
        def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
            if getattr(callback, "__func__", None) is LazyTimer._fire:
                made.append(when)
            return super().call_at(when, callback, *args, context=context)

    async def main() -> list[Any]:
        fin = [Finished() for _ in range(20)]
        for i, f in enumerate(fin):
            IdleTimer(IdlePolicy(timeout=0.0503 + i * 0.00037), f.calls).start()
        for f in fin:
            await f.wait()
        return [d for f in fin for d in f.calls.delivered]

    loop = Counting()
    try:
        delivered = loop.run_until_complete(main())
    finally:
        loop.close()
    assert len(delivered) == 20 and all(isinstance(d.decision, Disconnect) for d in delivered)
    assert all(d.lateness >= 0 for d in delivered)
    assert 20 <= len(made) <= 40


def test_uvloop_past_deadline_handle_then_activity() -> None:
    """uvloop's call_at returns a plain Handle (no ``when()``) for a deadline already past;
    activity right after such an arm must not need it."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> list[str]:
        fin = Finished()
        timer = IdleTimer(IdlePolicy(timeout=60.0), fin.calls)
        timer.start()
        await asyncio.sleep(0.06)
        timer.change_policy(IdlePolicy(timeout=0.05))  # start + 0.05 is past: due now
        timer.activity()  # before the loop runs that handle: the deadline moves on
        await fin.wait()
        return fin.calls.kinds()

    assert uvloop.run(main()) == ["disconnect"]
