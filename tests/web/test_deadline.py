"""A deadline nothing can stretch (issue 13): only user input moves it, timed when it happened;
background requests never do, finished or not; a long task's progress lease dies with its
worker, so a killed engine cannot leave a session that never locks."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from pathlib import Path

import pytest
from test_cdrs import HeldStore, rec
from web_helpers import Browser, Node, NodeFactory

from tui_engine.web import PortalSettings, sessions
from tui_engine.web.security import id_hash
from tui_engine.web.store.cdrs import open_cdr_store


async def anchor(node: Node, browser: Browser) -> float:
    assert browser.cookie is not None
    record = await node.component.store.get_session(id_hash(browser.cookie))
    assert record is not None
    return record.anchor


async def test_the_deadline_runs_from_the_inputs_own_time_bounded_by_the_servers_clock(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    node = await make_node(dataclasses.replace(settings, inactivity_timeout=30.0))
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    _, first, _ = await browser.call("GET", "/api/session")
    input_at = first["server_time"] + 5  # the user moved the mouse 5 ms after that answer
    await asyncio.sleep(0.3)  # ...and the (throttled) report goes out later
    status, body, _ = await browser.call("POST", "/api/activity", {"at": input_at})
    assert status == 200 and body["lock_at"] == input_at + 30_000  # from the input, not the report
    # a report of input "in the future" counts as now at most
    status, body, _ = await browser.call("POST", "/api/activity", {"at": body["server_time"] + 3_600_000})
    assert body["lock_at"] <= body["server_time"] + 30_000
    # an older input never moves the start back
    before = await anchor(node, browser)
    await browser.call("POST", "/api/activity", {"at": input_at - 1000})
    assert await anchor(node, browser) == before
    # a data request carries its input's time in X-User-Activity (100 ms after the last, 300 ago)
    await asyncio.sleep(0.4)
    at = round(before * 1000) + 100
    status, _, _ = await browser.call("GET", "/api/calls", activity=str(at))
    assert status == 200 and await anchor(node, browser) == at / 1000


async def test_non_stop_background_polling_across_the_deadline_never_moves_it(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    node = await make_node(settings)  # timeout 0.5 s
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    start = await anchor(node, browser)
    stop = asyncio.Event()
    seen: list[int] = []

    async def poll() -> None:  # several pollers: some request is always running at the deadline
        while not stop.is_set():
            for path in ("/api/calls", "/api/call-endings"):
                status, _, _ = await browser.call("GET", path)
                seen.append(status)
            if 423 in seen:
                stop.set()

    pollers = [asyncio.create_task(poll()) for _ in range(6)]
    try:
        await asyncio.wait_for(stop.wait(), timeout=20.0)  # the lock comes while they poll
    finally:
        stop.set()
        await asyncio.gather(*pollers)
    assert seen[0] == 200 and 423 in seen
    assert await anchor(node, browser) == start  # no request, running or finished, moved it
    assert await browser.state() == "locked"


WORKER = Path(__file__).with_name("lease_worker.py")


async def test_a_killed_worker_during_a_progress_cannot_keep_the_session_open(
    make_node: NodeFactory, settings: PortalSettings, http: object, redis_url: str
) -> None:
    shared = dataclasses.replace(settings, store=redis_url, inactivity_timeout=1.5)
    survivor = await make_node(shared)
    browser = Browser(http, survivor)  # type: ignore[arg-type]
    await browser.login()
    assert browser.cookie is not None
    # Another engine process takes the lease for a long task on this session...
    worker = await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), redis_url, browser.cookie, "1.5", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert worker.stdout is not None
        started = asyncio.ensure_future(asyncio.wait_for(worker.stdout.readline(), 30))
        while not started.done():  # the user is still there while the worker process starts up
            await browser.call("POST", "/api/activity", {})
            await asyncio.sleep(0.2)
        assert started.result() == b"holding\n"
        for _ in range(10):  # ...and holds it for well past the 1.5 s timeout
            await asyncio.sleep(0.4)
            assert await browser.state() == "active"
        os.kill(worker.pid, signal.SIGKILL)  # the worker dies mid-task: no finally runs there
        await worker.wait()
        await browser.wait_state("locked", within=15.0)  # the survivor locks it
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()


async def test_a_stalled_export_stops_holding_the_session_after_the_stall_limit(
    make_node: NodeFactory, settings: PortalSettings, http: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download nobody reads (or a hung query) is not progress anyone watches: its live
    worker stops renewing after the stall limit, and the lock comes one timeout later."""
    monkeypatch.setattr(sessions, "LEASE_STALL_LIMIT", 1.0)  # 30 s in production
    held = HeldStore(open_cdr_store("sqlite", settings.data_dir))
    node = await make_node(settings, cdrs=held)  # timeout 0.5 s
    await held.inner.add(rec(1))
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    export = asyncio.create_task(browser.call("POST", "/api/export", {}))
    try:
        await asyncio.wait_for(held.holding.wait(), 10)  # the worker is alive, its work stalled
        await asyncio.sleep(0.7)
        assert await browser.state() == "active"  # within the stall limit: still progress
        await browser.wait_state("locked", within=10.0)  # past it: nothing holds the session
    finally:
        held.release.set()
        await asyncio.gather(export, return_exceptions=True)
        await held.inner.aclose()
