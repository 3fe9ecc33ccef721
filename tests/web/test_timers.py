"""The server locks on its own: no request, no tab, no heartbeat needed (timers and sweep)."""

from __future__ import annotations

import asyncio
import dataclasses

from structlog.testing import capture_logs
from web_helpers import Browser, NodeFactory

from tui_engine.web import PortalSettings
from tui_engine.web.security import id_hash


async def locked_in_store(browser: Browser, within: float = 10.0) -> bool:
    """Read the store directly (no HTTP request that could enforce the lock itself)."""
    assert browser.cookie is not None
    h = id_hash(browser.cookie)
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while loop.time() < end:
        record = await browser.node.component.store.get_session(h)
        if record is not None and record.locked:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_timer_locks_with_every_tab_closed(browser: Browser) -> None:
    with capture_logs() as logs:
        await browser.login()
        # From here on the browser sends nothing at all.
        assert await locked_in_store(browser)
    lock = next(e for e in logs if e["event"] == "audit.lock")
    assert lock["lateness_ms"] >= 0


async def test_lowering_the_timeout_applies_at_once_to_a_live_session(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    long = dataclasses.replace(settings, inactivity_timeout=3600.0)
    node = await make_node(long)
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    await asyncio.sleep(0.3)
    assert not await locked_in_store(browser, within=0.0)
    node.component.apply_config(dataclasses.replace(long, inactivity_timeout=0.2))
    # The silent period began at login, more than 0.2 s ago: the lock is due at once.
    assert await locked_in_store(browser)


async def test_another_node_adopts_a_session_whose_node_has_gone(
    make_node: NodeFactory, settings: PortalSettings, http: object, redis_url: str
) -> None:
    shared = dataclasses.replace(settings, store=redis_url, inactivity_timeout=1.0, heartbeat_interval=0.25)
    a = await make_node(shared)
    b = await make_node(shared)  # started before the session exists: no timer for it yet
    browser = Browser(http, a)  # type: ignore[arg-type]
    with capture_logs() as logs:
        await browser.login()
        await a.close()  # A goes away before the deadline; B never sees a request
        browser.node = b
        assert await locked_in_store(browser)
    assert [e["event"] for e in logs].count("audit.lock") == 1
