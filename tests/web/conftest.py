"""Real portals on loopback: aiohttp servers on free ports, real SQLite in tmp_path, a real
redis-server started per test that needs it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher, profiles
from web_helpers import PASSWORDS, ROLES, Browser, Node, NodeFactory, console

from tui_engine.testing import free_port
from tui_engine.testing.redis import redis_server
from tui_engine.web import PortalSettings, WebComponent
from tui_engine.web.passwords import use_hasher
from tui_engine.web.store.cdrs import CdrStore
from tui_engine.web.users import add_user


@pytest.fixture(autouse=True)
def cheap_argon2() -> Iterator[None]:
    """argon2id with the cheapest parameters: the same code paths, milliseconds per hash
    (the default parameters take seconds on a loaded 2-core CI box). test_passwords.py
    covers the defaults."""
    previous = use_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))
    yield
    use_hasher(previous)


@pytest.fixture
def settings(tmp_path: Path) -> PortalSettings:
    return PortalSettings(
        inactivity_timeout=0.5, warning=None, max_unlock_failures=5, session_lifetime=3600.0,
        store="sqlite", heartbeat_interval=0.2, data_dir=tmp_path / "data", app_name="portal",
    )


@pytest.fixture
async def make_node() -> AsyncIterator[NodeFactory]:
    nodes: list[Node] = []

    async def make(
        settings: PortalSettings, *, users: bool = True, first_run: bool = False, metrics: object = None,
        cdrs: CdrStore | None = None,
    ) -> Node:
        component = WebComponent(settings, console(), metrics, first_run=first_run, cdrs=cdrs)
        if users:
            for name, password in PASSWORDS.items():
                if await component.store.get_user(name) is None:
                    await add_user(component.store, name, password, via=settings.app_name, role=ROLES[name])
        app = web.Application()
        component.setup_http(app)
        server = TestServer(app, host="127.0.0.1", port=free_port(socket.SOCK_STREAM))
        await server.start_server()
        await component.start()
        node = Node(component, server)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        if not node.server.closed:
            await node.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@pytest.fixture
async def node(make_node: NodeFactory, settings: PortalSettings) -> Node:
    return await make_node(settings)


@pytest.fixture
def browser(http: aiohttp.ClientSession, node: Node) -> Browser:
    return Browser(http, node)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A private redis-server (a Debian peer) on a free port, without persistence."""
    with redis_server() as url:
        yield url
