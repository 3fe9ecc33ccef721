"""A deadline nothing can stretch (issue 13): only user input moves it, timed when it happened;
background requests never do, finished or not; a long task's progress lease dies with its
worker, so a killed engine cannot leave a session that never locks."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
from web_helpers import PASSWORDS, Browser, Node, NodeFactory

from tui_engine.testing import free_port
from tui_engine.web import PortalSettings
from tui_engine.web.security import id_hash


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


async def _standalone(port: int, data_dir: Path, redis_url: str) -> asyncio.subprocess.Process:
    """A second engine process (the standalone portal) on the shared Redis."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui_engine.web", "--http-listen", f"127.0.0.1:{port}",
        "--data-dir", str(data_dir), "--store", redis_url, "--inactivity-timeout", "1s",
        "--warning", "0", "--heartbeat-interval", "1s",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            try:
                async with http.get(f"http://127.0.0.1:{port}/api/session") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    proc.kill()
    await proc.wait()
    raise RuntimeError("standalone portal did not start")


async def test_a_killed_worker_during_a_progress_cannot_keep_the_session_open(
    make_node: NodeFactory, settings: PortalSettings, http: object, redis_url: str, tmp_path: Path
) -> None:
    shared = dataclasses.replace(settings, store=redis_url, inactivity_timeout=1.0)
    survivor = await make_node(shared)  # creates alice and bob in Redis
    port = free_port(socket.SOCK_STREAM)
    doomed = await _standalone(port, tmp_path / "doomed", redis_url)
    try:
        browser = Browser(http, survivor)  # type: ignore[arg-type]
        there = f"http://127.0.0.1:{port}"
        status, _, _ = await browser.call(
            "POST", "/api/login", {"username": "alice", "password": PASSWORDS["alice"]}, base=there
        )
        assert status == 200
        export = asyncio.create_task(browser.call("POST", "/api/export", {"seconds": 600}, base=there))
        for _ in range(60):  # the export runs past one timeout: its lease holds the session open
            await asyncio.sleep(0.05)
        assert await browser.state() == "active" and not export.done()
        os.kill(doomed.pid, signal.SIGKILL)  # the worker dies mid-task: no finally runs there
        await doomed.wait()
        await browser.wait_state("locked", within=15.0)  # the survivor locks it
    finally:
        if doomed.returncode is None:
            doomed.kill()
            await doomed.wait()
    export.cancel()
    await asyncio.gather(export, return_exceptions=True)
