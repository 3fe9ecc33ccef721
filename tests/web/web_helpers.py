"""Helpers for the portal's HTTP tests: ``Node`` (a portal on a real server) and ``Browser``,
which keeps one cookie and CSRF token itself (no cookie jar) so the same browser session can
talk to two engine nodes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from tui_engine.web import StaticConsoleSource, WebComponent
from tui_engine.web.security import COOKIE

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-1"}
#: alice administers the portal, bob watches calls (issue 13 roles)
ROLES = {"alice": "admin", "bob": "operator"}


def console() -> StaticConsoleSource:
    return StaticConsoleSource(
        {"portal": {"security": {"inactivity-timeout": "1s", "inactivity-warning": "0s"}},
         "phone": {"tui": {"max-attempts": 3}}},
        [{"call_id": "c1", "caller": "sip:1001@127.0.0.1", "dialplan": "main", "menu": "welcome",
          "attempt": 1, "of": 3, "seconds_left": 5.0}],
        [{"call_id": "c0", "caller": "sip:1002@127.0.0.1", "reason": "no-input", "duration": 30.0,
          "ended_at": 1}],
    )


@dataclasses.dataclass
class Node:
    component: WebComponent
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url("/")).rstrip("/")

    async def close(self) -> None:
        await self.server.close()
        await self.component.stop()


class Browser:
    """One browser: one session cookie, its CSRF token, talking to ``node`` (switchable)."""

    def __init__(self, http: aiohttp.ClientSession, node: Node) -> None:
        self.http = http
        self.node = node
        self.cookie: str | None = None
        self.csrf: str | None = None
        self.set_cookie_headers: list[str] = []

    async def call(
        self, method: str, path: str, json: Any = None, *, csrf: bool = True, activity: bool | str = False,
        node: Node | None = None, headers: dict[str, str] | None = None, base: str | None = None,
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        """``base``: another server's URL (a portal in another process) instead of a node's."""
        headers = dict(headers or {})
        if self.cookie is not None:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        if csrf and self.csrf and method != "GET":
            headers["X-CSRF-Token"] = self.csrf
        if activity:
            headers["X-User-Activity"] = activity if isinstance(activity, str) else "1"
        url = (base or (node or self.node).url) + path
        async with self.http.request(method, url, json=json, headers=headers) as resp:
            body: Any = await resp.json() if resp.content_type == "application/json" else await resp.text()
            for raw in resp.headers.getall("Set-Cookie", []):
                self.set_cookie_headers.append(raw)
                morsel = SimpleCookie(raw).get(COOKIE)
                if morsel is not None:
                    self.cookie = morsel.value or None
        if isinstance(body, dict) and isinstance(body.get("csrf"), str):
            self.csrf = body["csrf"]
        return resp.status, body, resp

    async def login(self, user: str = "alice", password: str | None = None) -> None:
        credentials = {"username": user, "password": password or PASSWORDS[user]}
        status, body, _ = await self.call("POST", "/api/login", credentials)
        assert status == 200, body

    async def state(self, node: Node | None = None) -> str:
        status, body, _ = await self.call("GET", "/api/session", node=node)
        assert status == 200
        return str(body["state"])

    async def wait_state(self, state: str, within: float = 10.0, node: Node | None = None) -> None:
        """Poll the status (never activity) until ``state``; fail if it never comes."""
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        seen = await self.state(node)
        while seen != state and loop.time() < end:
            await asyncio.sleep(0.05)
            seen = await self.state(node)
        assert seen == state


NodeFactory = Callable[..., Awaitable[Node]]
