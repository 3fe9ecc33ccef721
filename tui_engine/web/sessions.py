"""The session authority: reads the store, lets :mod:`decide` (the idle core) decide, writes
the outcome with a compare-and-set, and keeps one lazily re-armed timer per session.

Enforcement happens in two places, so neither a sleeping machine nor a restart nor every
tab being closed can keep a session open past its deadline:

* **every request** evaluates the stored session at the request's arrival time first;
* **a timer per session on each node** wakes at the next deadline (warn, lock, lifetime),
  re-reads the store (activity on another node may have moved the anchor) and re-arms, or
  locks. Each session's wake is scheduled by the engine's one timer driver
  (:class:`~tui_engine.runtime.DeadlineDriver`): the handle is kept while it is due no later
  than the new deadline, so a heartbeat never cancels/creates handles. Any
  :class:`~tui_engine.runtime.TimerLoop` will do (``timer_loop``), so a test can move virtual
  time with :class:`tui_engine.testing.FakeLoop` while the store runs on the real loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from tui_engine.core import IdlePolicy
from tui_engine.runtime import MIN_REARM, DeadlineDriver, LatenessSink, TimerLoop
from tui_engine.web import audit
from tui_engine.web.decide import Action, SessionState, Verdict, decide, restart_after_progress
from tui_engine.web.security import id_hash, log_id, new_csrf_token, new_session_id
from tui_engine.web.settings import PortalSettings
from tui_engine.web.store import SessionRecord, Store

log = structlog.get_logger("tui_engine.web")

WallClock = Callable[[], float]
RETRY_AFTER_STORE_ERROR = 1.0  # seconds


@dataclass(frozen=True, kw_only=True, slots=True)
class Current:
    """A request's view of its session after enforcement."""

    id_hash: str | None
    verdict: Verdict
    record: SessionRecord | None


class _SessionWake:
    """When one session must next be re-read, on the loop's clock: a ``Pollable`` for the driver."""

    __slots__ = ("_wake", "at", "driver")

    def __init__(self, loop: TimerLoop, wake: Callable[[], None]) -> None:
        self.at: float | None = None
        self._wake = wake
        self.driver = DeadlineDriver(loop, self)

    def next_deadline(self) -> float | None:
        return self.at

    def poll(self, now: float) -> bool:
        if self.at is None or now < self.at:
            return False  # woke early (the deadline moved later): the driver re-arms
        self.at = None
        self._wake()
        return True


class SessionManager:
    def __init__(
        self, store: Store, settings: PortalSettings, *, wall: WallClock = time.time,
        sink: LatenessSink | None = None, timer_loop: TimerLoop | None = None,
    ) -> None:
        self.store = store
        self._wall = wall
        self._sink = sink
        self.apply_settings(settings)
        self._timers: dict[str, _SessionWake] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: TimerLoop | None = None
        self._timer_loop = timer_loop

    def apply_settings(self, settings: PortalSettings) -> None:
        self.settings = settings
        self.policy: IdlePolicy = settings.idle_policy()

    def now(self) -> float:
        return self._wall()

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Lock sessions whose deadline passed while the engine was down; arm the rest."""
        self._loop = self._timer_loop or asyncio.get_running_loop()
        await self.store.reset_progress()
        await self.store.purge_closed(self.now() - self.settings.session_lifetime)
        await self.rescan()
        self.spawn(self._sweep())

    def sweep_interval(self) -> float:
        """How often every open session is re-read even without requests or timers."""
        return min(60.0, max(1.0, 4 * self.settings.heartbeat_interval))

    async def _sweep(self) -> None:
        """A safety net behind the per-session timers: adopts sessions created on another
        node (Redis) whose node has gone, and catches deadlines a suspended host slept
        through (``loop.time()`` is CLOCK_MONOTONIC, which stops during suspend on Linux)."""
        while True:
            await asyncio.sleep(self.sweep_interval())
            try:
                await self.rescan()
            except Exception:  # a store hiccup must not end the sweep; the next one retries
                log.exception("portal.sweep_failed")

    async def rescan(self) -> None:
        """Evaluate every open session now (after start, and after a policy change)."""
        counts = {SessionState.ACTIVE.value: 0, SessionState.LOCKED.value: 0}
        for record in await self.store.open_sessions():
            verdict, _ = await self._enforce(record.id_hash, record)
            if verdict.state.value in counts:
                counts[verdict.state.value] += 1
        observe = getattr(self._sink, "observe_sessions", None)  # the engine's Metrics has it
        if observe is not None:
            observe(counts)

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.driver.close()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- evaluation -------------------------------------------------------------------
    async def current(self, session_id: str | None) -> Current:
        if session_id is None:
            return Current(id_hash=None, verdict=Verdict(state=SessionState.NONE), record=None)
        h = id_hash(session_id)
        # Each aiohttp request runs in its own task (its own contextvars copy): every log
        # line of this request, and of a timer armed by it, carries the hashed ID.
        structlog.contextvars.bind_contextvars(session_id=log_id(h))
        verdict, record = await self._enforce(h, await self.store.get_session(h))
        return Current(id_hash=h, verdict=verdict, record=record)

    async def _enforce(self, h: str, record: SessionRecord | None) -> tuple[Verdict, SessionRecord | None]:
        """Decide at ``now``, write the lock/expiry if due, re-read, arm the timer."""
        now = self.now()
        verdict = decide(record, self.policy, self.settings.session_lifetime, now)
        if record is not None and verdict.action is Action.LOCK:
            if await self.store.lock_if_idle(h, record.anchor, now):
                lateness = now - (record.anchor + self.policy.timeout)
                if self._sink is not None:
                    self._sink.observe_lateness("lock", lateness)
                audit.event("lock", session=h, user=record.username, lateness_ms=round(lateness * 1000, 1))
                log.info("idle.lock", attempt=1, of=1, lateness_ms=round(lateness * 1000, 3))
            record = await self.store.get_session(h)
            verdict = decide(record, self.policy, self.settings.session_lifetime, now)
        elif record is not None and verdict.action is Action.EXPIRE:
            if await self.store.close_session(h, "lifetime"):
                audit.event("close", session=h, user=record.username, reason="lifetime")
            record = await self.store.get_session(h)
        if verdict.wake_at is not None:
            self._arm(h, verdict.wake_at)
        elif verdict.state in (SessionState.CLOSED, SessionState.NONE):
            self._disarm(h)
        return verdict, record

    # -- the one timer per session ------------------------------------------------------
    def _arm(self, h: str, wake_wall: float) -> None:
        """Wake at ``wake_wall`` (epoch s) on this loop's monotonic clock, lazily (the driver)."""
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        timer = self._timers.get(h)
        if timer is None:
            timer = self._timers[h] = _SessionWake(loop, lambda: self._fire(h))
        timer.at = now + max(0.0, wake_wall - self.now())
        # not_before: never sooner than a tick (uvloop fires up to 0.5 ms early)
        timer.driver.arm(not_before=now + MIN_REARM)

    def _disarm(self, h: str) -> None:
        timer = self._timers.pop(h, None)
        if timer is not None:
            timer.driver.close()

    def _fire(self, h: str) -> None:
        self.spawn(self._wake(h))

    async def _wake(self, h: str) -> None:
        try:
            verdict, _ = await self._enforce(h, await self.store.get_session(h))
        except Exception:  # the store failed: try again soon rather than lose the deadline
            log.exception("portal.timer_failed", session=log_id(h))
            self._arm(h, self.now() + RETRY_AFTER_STORE_ERROR)
            return
        now = self.now()
        if verdict.warn_at is not None and verdict.warn_at <= now and verdict.lock_at is not None:
            log.info(
                "idle.warn",
                session_id=log_id(h),
                attempt=1,
                of=1,
                time_left_s=round(verdict.lock_at - now, 3),
                lateness_ms=round((now - verdict.warn_at) * 1000, 3),
            )

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def rearm_all(self) -> None:
        """A policy change: deadlines are recomputed from the stored anchors at once."""
        for timer in self._timers.values():
            timer.driver.close()
        self._timers.clear()
        if self._loop is not None:  # before start() there is nothing armed yet
            self.spawn(self.rescan())

    # -- operations ---------------------------------------------------------------------
    async def create(self, username: str, verifier: str) -> tuple[str, SessionRecord]:
        session_id = new_session_id()
        now = self.now()
        record = SessionRecord(
            id_hash=id_hash(session_id), username=username, app=self.settings.app_name,
            verifier=verifier, csrf=new_csrf_token(), created_at=now, anchor=now,
        )
        await self.store.create_session(record)
        await self._enforce(record.id_hash, record)
        return session_id, record

    async def activity(self, cur: Current) -> Current:
        """User activity (heartbeat, acknowledged warning, a request marked as activity)."""
        if cur.id_hash is None or cur.record is None or cur.verdict.state is not SessionState.ACTIVE:
            return cur
        await self.store.touch(cur.id_hash, self.now(), cur.record.anchor)
        verdict, record = await self._enforce(cur.id_hash, await self.store.get_session(cur.id_hash))
        return Current(id_hash=cur.id_hash, verdict=verdict, record=record)

    @asynccontextmanager
    async def in_progress(self, h: str) -> AsyncIterator[None]:
        """A request still running is progress: the session cannot lock meanwhile."""
        await self.store.progress_started(h)
        try:
            yield
        finally:
            await asyncio.shield(self._progress_done(h))

    async def _progress_done(self, h: str) -> None:
        record = await self.store.get_session(h)
        if record is None:
            return
        restart = None if record.locked else restart_after_progress(record, self.policy, self.now())
        await self.store.progress_finished(h, restart)
        await self._enforce(h, await self.store.get_session(h))

    async def close(self, h: str, reason: str, username: str | None) -> bool:
        closed = await self.store.close_session(h, reason)
        self._disarm(h)
        if closed:
            audit.event("close", session=h, user=username, reason=reason)
        return closed

    async def rotated(self, old_h: str, new_h: str) -> None:
        """The store moved a session to a new ID (unlock): move its timer along."""
        self._disarm(old_h)
        structlog.contextvars.bind_contextvars(session_id=log_id(new_h))
        await self._enforce(new_h, await self.store.get_session(new_h))
