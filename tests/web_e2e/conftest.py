"""A real portal and a real browser: the whole engine (``tui-engine serve``, SIP included) as a
subprocess on free loopback ports with its own data dir, its portal driven by Debian's
Chromium through Playwright (sync API, so no event loop of pytest-asyncio is involved).

``start_portal`` is the one place that knows how the server is started: it returns a
``Portal`` whose ``url`` ends with ``/``, with users alice:pw (admin) and bob:pw2 (operator).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tui_engine.testing import free_port, free_port_block
from tui_engine.testing.redis import redis_server
from tui_engine.web.store import open_store
from tui_engine.web.users import add_user

from .helpers import ROLES, USERS

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_SECONDS = 20.0


@dataclasses.dataclass
class Portal:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    sip_port: int = 0  # the engine's SIP port (UDP), to place real calls the console shows
    data_dir: Path | None = None
    options: dict[str, str] = dataclasses.field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _ready(url: str) -> bool:
    """The engine answers /healthz and its portal component has started."""
    try:
        with urllib.request.urlopen(url + "healthz", timeout=2) as reply:
            return bool(reply.status == 200 and "PortalComponent" in json.load(reply)["components"])
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return False


#: the tests' short option names → the engine's options for the portal application
ENGINE_OPTIONS = {
    "inactivity_timeout": "portal.security.inactivity-timeout",
    "warning": "portal.security.inactivity-warning",
    "max_unlock_failures": "portal.security.max-unlock-failures",
    "session_lifetime": "portal.security.session-lifetime",
    "heartbeat_interval": "portal.web.heartbeat-interval",
    "store": "portal.web.store",
}


def start_portal(data_dir: Path, **options: str) -> Portal:
    """Start ``tui-engine serve`` on the embedded configuration with the portal ``options``
    (the keys of ``ENGINE_OPTIONS``), after creating alice and bob in its store."""
    port = free_port(socket.SOCK_STREAM)
    sip_port = free_port()
    first, last = free_port_block(20, avoid=(sip_port, port))
    overrides = [f"engine.data-dir={json.dumps(str(data_dir))}", f'engine.rtp-ports="{first}-{last}"',
                 "engine.max-calls=10", 'engine.overload-lag="0s"']  # no loop-lag 503s (testing/engine.py)
    overrides += [f"{ENGINE_OPTIONS[name]}={value}" for name, value in options.items()]  # TOML literals
    # Playwright's sync API runs its own event loop in this thread: the store gets another thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _add_users(options.get("store", "sqlite"), data_dir)).result()
    args = [sys.executable, "-m", "tui_engine", "serve", "--no-watch",
            "--http-listen", f"127.0.0.1:{port}", "--sip-listen", f"127.0.0.1:{sip_port}"]
    for override in overrides:
        args += ["--option", override]
    log = data_dir.parent / f"engine-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
    portal = Portal(
        url=f"http://127.0.0.1:{port}/", process=process, log=log, sip_port=sip_port,
        data_dir=data_dir, options=options,
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _ready(portal.url):
        if process.poll() is not None or time.monotonic() > deadline:
            portal.stop()
            raise RuntimeError(f"engine did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    return portal


async def _add_users(store_spec: str, data_dir: Path) -> None:
    """alice and bob, in the store the engine will open (a second node finds them there)."""
    store = open_store(store_spec, data_dir)
    try:
        for user, password in USERS.items():
            if await store.get_user(user) is None:
                await add_user(store, user, password, via="portal", role=ROLES[user])
    finally:
        await store.aclose()


def restart_portal(portal: Portal) -> Portal:
    """Stop the engine and start a new one on the same data dir and options (another port;
    cookies are not scoped by port, so the browser's session cookie still applies)."""
    portal.stop()
    assert portal.data_dir is not None
    return start_portal(portal.data_dir, **portal.options)


PortalFactory = Callable[..., Portal]


@pytest.fixture
def portal_factory(tmp_path: Path) -> Iterator[PortalFactory]:
    started: list[Portal] = []

    def factory(**options: str) -> Portal:
        data_dir = tmp_path / f"data{len(started)}"
        data_dir.mkdir()
        portal = start_portal(data_dir, **options)
        started.append(portal)
        return portal

    yield factory
    for portal in started:
        portal.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    ctx.set_default_timeout(15000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A private redis-server (a Debian peer) on a free port, without persistence."""
    with redis_server() as url:
        yield url
