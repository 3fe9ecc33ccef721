"""A real portal and a real browser: the standalone portal server (``python -m tui_engine.web``)
as a subprocess on a free loopback port with its own SQLite data dir, driven by Debian's
Chromium through Playwright (sync API, so no event loop of pytest-asyncio is involved).

``start_portal`` is the one place that knows how the server is started: to run these tests
against the whole engine, change only that function (it must return a ``Portal`` whose
``url`` ends with ``/``, with users alice:pw and bob:pw2).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
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

from tui_engine.testing import free_port

from .helpers import USERS

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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "api/session", timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_portal(data_dir: Path, **options: str) -> Portal:
    """Start the standalone portal; ``options`` are its flags without ``--`` (``_`` for ``-``)."""
    port = free_port(socket.SOCK_STREAM)
    args = [sys.executable, "-m", "tui_engine.web", "--http-listen", f"127.0.0.1:{port}",
            "--data-dir", str(data_dir)]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", value]
    for user, password in USERS.items():
        args += ["--user", f"{user}:{password}"]
    log = data_dir.parent / f"portal-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
    portal = Portal(url=f"http://127.0.0.1:{port}/", process=process, log=log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _ready(portal.url):
        if process.poll() is not None or time.monotonic() > deadline:
            portal.stop()
            raise RuntimeError(f"portal did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    return portal


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
    """A private redis-server (a Debian peer, see .ci) on a free port, without persistence."""
    exe = shutil.which("redis-server")
    assert exe is not None, "redis-server is not installed (apt-get install redis-server)"
    port = free_port(socket.SOCK_STREAM)
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_redis(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_redis(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")
