"""A worker process that holds a progress lease on one portal session, for
``test_deadline.py``: ``python lease_worker.py REDIS_URL SESSION_ID TIMEOUT_S``.

It is the server side of a long task (an export) without the HTTP around it: it opens the
shared store, takes the lease through the real ``SessionManager.progress`` and keeps working
until it is killed; it prints ``holding`` once the lease is taken.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tui_engine.web import PortalSettings
from tui_engine.web.sessions import SessionManager
from tui_engine.web.store import open_store


async def main(url: str, session_id: str, inactivity_timeout: float) -> None:
    store = open_store(url, Path("unused"))  # a Redis store has no data dir
    settings = PortalSettings(inactivity_timeout=inactivity_timeout, warning=None, store=url)
    manager = SessionManager(store, settings)
    cur = await manager.current(session_id)
    async with manager.progress(cur) as lease:
        print("holding", flush=True)
        while not lease.lost:
            await asyncio.sleep(0.1)
            lease.advanced()  # the work moves on, until SIGKILL


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
