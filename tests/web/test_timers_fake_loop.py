"""Portal session timers on a FakeLoop: the lock comes at its deadline in virtual time, no sleeps.

The store is real (SQLite) and runs on the real event loop; only the timer driver's loop and the
wall clock are fake, so "ten minutes later" is one ``advance`` call.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from structlog.testing import capture_logs

from tui_engine.testing import FakeLoop
from tui_engine.web import PortalSettings
from tui_engine.web.sessions import SessionManager
from tui_engine.web.store import open_store


async def settle() -> None:
    """Let the store tasks a timer spawned run to their end (real I/O, no virtual time)."""
    for _ in range(50):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)


async def test_a_session_locks_at_its_deadline_in_virtual_time(tmp_path: Path) -> None:
    loop = FakeLoop()
    settings = PortalSettings(inactivity_timeout=600.0, warning=None, data_dir=tmp_path)
    store = open_store("sqlite", tmp_path)
    manager = SessionManager(store, settings, wall=loop.time, timer_loop=loop)
    await manager.start()
    try:
        _, record = await manager.create("alice", "verifier")
        assert loop.next_when() == 600.0  # one handle, at the lock deadline
        with capture_logs() as logs:
            loop.advance(599.0)
            await settle()
            assert not (await store.get_session(record.id_hash)).locked  # type: ignore[union-attr]
            loop.advance(1.0)
            await settle()
        locked = await store.get_session(record.id_hash)
        assert locked is not None and locked.locked
        assert [e["lateness_ms"] for e in logs if e["event"] == "idle.lock"] == [0.0]
    finally:
        await manager.stop()
