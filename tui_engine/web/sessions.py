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

Policy (issue 13): only user input moves the deadline (:meth:`SessionManager.activity`, at the
input's own time, never later than the server's clock), and a long task the user is watching
holds a *progress lease* (:meth:`SessionManager.progress`) renewed by the worker doing it.
Requests as such never move or hold the deadline, finished or not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

from tui_engine.core import IdlePolicy
from tui_engine.obs.logging import get_logger
from tui_engine.runtime import MIN_REARM, DeadlineDriver, LatenessSink, TimerLoop
from tui_engine.web import audit
from tui_engine.web.decide import Action, SessionState, Verdict, decide
from tui_engine.web.security import id_hash, log_id, new_csrf_token, new_session_id
from tui_engine.web.settings import PortalSettings
from tui_engine.web.store import SessionRecord, Store

log = get_logger("tui_engine.web")

WallClock = Callable[[], float]
RETRY_AFTER_STORE_ERROR = 1.0  # seconds
#: a progress lease is renewed every timeout / 4, and at least this often (seconds).
MAX_LEASE_RENEWAL = 5.0
#: a task whose work has not moved on for this long (a download nobody reads, a hung query)
#: is no longer progress anyone watches: its lease stops renewing (seconds).
LEASE_STALL_LIMIT = 30.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Current:
    """A request's view of its session after enforcement."""

    id_hash: str | None
    verdict: Verdict
    record: SessionRecord | None


@dataclass(kw_only=True, slots=True)
class ProgressLease:
    """Handed to the code doing a long task. The worker calls :meth:`advanced` whenever the
    work moves on (a batch written, a chunk received); ``lost`` once the session stopped
    being active (the task must then stop)."""

    id_hash: str
    wall: WallClock
    #: when the work last moved on (epoch s).
    advanced_at: float = 0.0
    renewals: int = 0
    _lost: asyncio.Event = field(default_factory=asyncio.Event)

    def advanced(self) -> None:
        self.advanced_at = self.wall()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def mark_lost(self) -> None:
        self._lost.set()

    async def wait_lost(self) -> None:
        """Wait until the session locks or closes under the task (the task must then stop)."""
        await self._lost.wait()


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
            try:
                verdict, _ = await self._enforce(record.id_hash, record)
            except Exception:  # one session's store error must not leave the others unchecked
                log.exception("portal.enforce_failed", session=record.id_hash[:16])
                continue
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
                await audit.record(
                    self.store, "lock", session=h, user=record.username, at=now,
                    lateness_ms=round(lateness * 1000, 1),
                )
                log.info("idle.lock", attempt=1, of=1, lateness_ms=round(lateness * 1000, 3))
            record = await self.store.get_session(h)
            verdict = decide(record, self.policy, self.settings.session_lifetime, now)
        elif record is not None and verdict.action is Action.EXPIRE:
            if await self.store.close_session(h, "lifetime"):
                await audit.record(self.store, "close", session=h, user=record.username, reason="lifetime")
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
        """A policy change: deadlines are recomputed from the stored anchors at once.

        The armed wakes stay: an earlier deadline replaces a handle, a later one is met by an
        early wake that re-arms. So a store that fails during the re-read leaves every session
        with the deadline it had, never with none.
        """
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

    async def activity(self, cur: Current, at: float | None = None) -> Current:
        """User input at ``at`` (epoch s, the input's own time as the page saw it; default now).

        Bounded by the server's clock: never later than now, and the stored anchor never goes
        backwards. ``cur`` was evaluated at its arrival, so a report of input from before a
        deadline that has already passed cannot reopen anything: the session is locked by then.
        """
        if cur.id_hash is None or cur.record is None or cur.verdict.state is not SessionState.ACTIVE:
            return cur
        now = self.now()
        when = now if at is None else min(at, now)
        await self.store.touch(cur.id_hash, when, cur.record.anchor)
        verdict, record = await self._enforce(cur.id_hash, await self.store.get_session(cur.id_hash))
        return Current(id_hash=cur.id_hash, verdict=verdict, record=record)

    def lease_renewal(self) -> float:
        timeout = self.policy.timeout
        return MAX_LEASE_RENEWAL if timeout <= 0 else min(MAX_LEASE_RENEWAL, timeout / 4)

    @asynccontextmanager
    async def progress(self, cur: Current) -> AsyncIterator[ProgressLease]:
        """A long task the user is watching (export, upload): *not* inactivity, as the
        feature description says, but only while the work really moves on.

        The lease is the anchor itself, renewed by the worker doing the task: every
        :meth:`lease_renewal` seconds a task of this worker moves the silent period's start to
        now, and once more when the task ends. Nothing is left behind to undo: if this process
        dies, renewals stop and the session locks one timeout after the last one, on whichever
        node's timer or request sees it first. A task whose work has not
        :meth:`~ProgressLease.advanced` for :data:`LEASE_STALL_LIMIT` (a download nobody reads)
        stops renewing too, so even a live worker cannot hold a session open for ever.
        """
        assert cur.id_hash is not None
        lease = ProgressLease(id_hash=cur.id_hash, wall=self._wall)
        lease.advanced()
        await self._renew(lease, self.now())
        renewing = asyncio.ensure_future(self._keep_renewing(lease))
        try:
            yield lease
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            if not lease.lost:  # the task ended while the user watched: that is a moment too
                await asyncio.shield(self._renew(lease, self.now()))

    async def _keep_renewing(self, lease: ProgressLease) -> None:
        while not lease.lost:
            await asyncio.sleep(self.lease_renewal())
            now = self.now()
            try:
                await self._renew(lease, now if now - lease.advanced_at <= LEASE_STALL_LIMIT else None)
            except Exception:  # a store hiccup: the next renewal retries (the deadline is T away)
                log.exception("portal.lease_renewal_failed", session=log_id(lease.id_hash))

    async def _renew(self, lease: ProgressLease, at: float | None) -> None:
        """Enforce first (a renewal that comes after the deadline rescues nothing), then move
        the anchor to ``at`` (None: the work stalled; only look)."""
        h = lease.id_hash
        verdict, record = await self._enforce(h, await self.store.get_session(h))
        if record is None or verdict.state is not SessionState.ACTIVE:
            lease.mark_lost()
            return
        if at is None:
            return
        if not await self.store.touch(h, at, record.anchor):
            again = await self.store.get_session(h)
            if again is None or again.closed or again.locked:
                lease.mark_lost()
        lease.renewals += 1

    async def close(
        self, h: str, reason: str, username: str | None, *,
        actor: str | None = None, remote: str | None = None,
    ) -> bool:
        closed = await self.store.close_session(h, reason)
        self._disarm(h)
        if closed:
            await audit.record(
                self.store, "close", session=h, user=username, actor=actor, remote=remote, reason=reason
            )
        return closed

    async def rotated(self, old_h: str, new_h: str) -> None:
        """The store moved a session to a new ID (unlock): move its timer along."""
        self._disarm(old_h)
        structlog.contextvars.bind_contextvars(session_id=log_id(new_h))
        await self._enforce(new_h, await self.store.get_session(new_h))
