"""Sessions and locks survive restarts (SQLite) and are shared by several nodes (Redis)."""

from __future__ import annotations

import asyncio
import dataclasses

from structlog.testing import capture_logs
from web_helpers import PASSWORDS, Browser, NodeFactory

from tui_engine.web import PortalSettings
from tui_engine.web.security import id_hash


async def test_a_locked_session_is_still_locked_after_a_restart(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    first = await make_node(settings)
    browser = Browser(http, first)  # type: ignore[arg-type]
    await browser.login()
    await browser.wait_state("locked")
    await first.close()
    browser.node = await make_node(settings)  # same data dir, new process state
    assert await browser.state() == "locked"
    status, _, _ = await browser.call("GET", "/api/calls", activity=True)
    assert status == 423
    status, _, _ = await browser.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]})
    assert status == 200


async def test_a_deadline_that_passed_while_the_engine_was_down_locks_at_start(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    first = await make_node(dataclasses.replace(settings, inactivity_timeout=2.0))
    browser = Browser(http, first)  # type: ignore[arg-type]
    await browser.login()
    assert browser.cookie is not None
    h = id_hash(browser.cookie)
    await first.close()  # down before the deadline
    await asyncio.sleep(2.3)
    with capture_logs() as logs:
        second = await make_node(dataclasses.replace(settings, inactivity_timeout=2.0))
    record = await second.component.store.get_session(h)
    assert record is not None and record.locked  # before any request arrived
    assert [e["event"] for e in logs].count("audit.lock") == 1


async def test_two_nodes_on_one_redis_share_activity_and_agree_on_the_lock(
    make_node: NodeFactory, settings: PortalSettings, http: object, redis_url: str
) -> None:
    # 2 s: generous, so a loaded CI box stalling one heartbeat cannot make A lock legitimately.
    shared = dataclasses.replace(settings, store=redis_url, inactivity_timeout=2.0)
    a = await make_node(shared)
    b = await make_node(shared)
    browser = Browser(http, a)  # type: ignore[arg-type]
    with capture_logs() as logs:
        await browser.login()
        assert await browser.state(node=b) == "active"  # B knows the session A created
        loop = asyncio.get_running_loop()
        end = loop.time() + 4.5  # activity only on B, for more than two timeouts
        while loop.time() < end:
            status, _, _ = await browser.call("POST", "/api/activity", node=b)
            assert status == 200
            assert await browser.state(node=a) == "active"  # A's timer re-reads, does not lock
            await asyncio.sleep(0.1)
        await browser.wait_state("locked", node=a)
        assert await browser.state(node=b) == "locked"
        await asyncio.sleep(0.3)  # let both nodes' timers wake at the deadline
    assert [e["event"] for e in logs].count("audit.lock") == 1
    status, _, _ = await browser.call("GET", "/api/calls", node=b)
    assert status == 423
    status, _, _ = await browser.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]}, node=b)
    assert status == 200
    assert await browser.state(node=a) == "active"  # the rotated ID works on A too
    status, _, _ = await browser.call("GET", "/api/calls", node=a)
    assert status == 200


async def test_redis_nodes_share_users_failures_and_close(
    make_node: NodeFactory, settings: PortalSettings, http: object, redis_url: str
) -> None:
    shared = dataclasses.replace(settings, store=redis_url, max_unlock_failures=2)
    a = await make_node(shared)
    b = await make_node(shared)
    browser = Browser(http, a)  # type: ignore[arg-type]
    await browser.login()
    await browser.wait_state("locked", node=b)
    status, body, _ = await browser.call("POST", "/api/unlock", {"password": "x"}, node=a)
    assert (status, body["failures"]) == (401, 1)
    cookie = browser.cookie
    status, _, _ = await browser.call("POST", "/api/unlock", {"password": "y"}, node=b)
    assert status == 410 and browser.cookie is None  # the 410 also clears the cookie
    browser.cookie = cookie
    assert await browser.state(node=a) == "closed"
    status, _, _ = await browser.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]}, node=a)
    assert status == 410
