"""Login, session status, activity, unlock, close, logout (docs/web-api.md).

``GET /api/session`` is the page's status poll: it enforces the deadline (a request after
it finds the session locked) but never counts as activity. Only ``POST /api/activity``
and data requests carrying ``X-User-Activity`` move the deadline, to the time of the input
they report (bounded by the server's clock).
"""

from __future__ import annotations

import math

from aiohttp import web

from tui_engine.web import audit
from tui_engine.web.decide import SessionState
from tui_engine.web.passwords import verify_secret_async
from tui_engine.web.responses import error, input_time, json_body, optional_json, session_body, text_field
from tui_engine.web.security import (
    clear_session_cookie,
    client_address,
    csrf_ok,
    read_session_id,
    set_session_cookie,
)
from tui_engine.web.sessions import Current, SessionManager
from tui_engine.web.throttle import LoginThrottle
from tui_engine.web.unlock import UnlockOutcome, unlock


class AuthRoutes:
    def __init__(self, manager: SessionManager, throttle: LoginThrottle | None = None) -> None:
        self.m = manager
        self.throttle = throttle or LoginThrottle(manager.store)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/login", self.login),
            web.get("/api/session", self.session),
            web.post("/api/activity", self.activity),
            web.post("/api/unlock", self.unlock),
            web.post("/api/close", self.close),
            web.post("/api/logout", self.logout),
        ]

    async def _current(self, request: web.Request) -> Current:
        return await self.m.current(read_session_id(request))

    def _body(self, cur: Current, role: str | None = None) -> web.Response:
        return web.json_response(session_body(cur, self.m.settings, self.m.now(), role))

    async def _role(self, cur: Current) -> str | None:
        if cur.record is None or cur.verdict.state not in (SessionState.ACTIVE, SessionState.LOCKED):
            return None
        user = await self.m.store.get_user(cur.record.username)
        return None if user is None else user.role

    async def login(self, request: web.Request) -> web.Response:
        # A JSON content type cannot be sent cross-site without a CORS preflight, which this
        # server never grants: that is the login form's CSRF protection (no session yet).
        if request.content_type != "application/json":
            return error(415, "json-required")
        body = await json_body(request)
        username, password = text_field(body, "username"), text_field(body, "password")
        now = self.m.now()
        remote = client_address(request)
        store = self.m.store
        wait = await self.throttle.retry_after(username, now)
        if wait is not None:  # refused before any password is checked (no argon2 work either)
            await audit.record(store, "login_throttled", user=username, remote=remote, wait_s=round(wait))
            seconds = math.ceil(wait)
            response = error(
                429,
                "too-many-attempts",
                message=f"Too many failed sign-ins for this user; try again in {seconds} s.",
                retry_after=seconds,
            )
            response.headers["Retry-After"] = str(seconds)
            return response
        user = await self.m.store.get_user(username)
        if not await verify_secret_async(user.password_hash if user else None, password) or user is None:
            await self.throttle.failed(username, now)
            await audit.record(store, "login_refused", user=username, remote=remote)
            return error(401, "invalid-credentials")
        await self.throttle.succeeded(username)
        old = await self._current(request)
        if old.id_hash is not None and old.verdict.state in (SessionState.ACTIVE, SessionState.LOCKED):
            owner = old.record.username if old.record else None
            await self.m.close(old.id_hash, "replaced-by-login", owner, actor=user.username, remote=remote)
        session_id, record = await self.m.create(user.username, user.password_hash)
        await audit.record(
            store, "login", session=record.id_hash, user=user.username, actor=user.username, remote=remote
        )
        response = web.json_response({"user": user.username, "role": user.role, "csrf": record.csrf})
        set_session_cookie(request, response, session_id)
        return response

    async def session(self, request: web.Request) -> web.Response:
        cur = await self._current(request)
        return self._body(cur, await self._role(cur))

    async def activity(self, request: web.Request) -> web.Response:
        cur = await self._current(request)
        if cur.record is not None and cur.verdict.state is SessionState.ACTIVE:
            if not csrf_ok(request, cur.record.csrf):
                return error(403, "csrf")
            at = input_time(await optional_json(request))
            cur = await self.m.activity(cur, at)
        return self._body(cur, await self._role(cur))

    async def unlock(self, request: web.Request) -> web.Response:
        cur = await self._current(request)
        if cur.record is None or cur.verdict.state in (SessionState.NONE, SessionState.CLOSED):
            return error(410, "closed")
        if not csrf_ok(request, cur.record.csrf):
            return error(403, "csrf")
        password = text_field(await json_body(request), "password")
        result = await unlock(self.m, cur, password, remote=client_address(request))
        max_failures = self.m.settings.max_unlock_failures
        match result.outcome:
            case UnlockOutcome.ACCEPTED:
                response = web.json_response({"csrf": cur.record.csrf})
                assert result.new_session_id is not None
                set_session_cookie(request, response, result.new_session_id)
                return response
            case UnlockOutcome.NOT_LOCKED:
                return web.json_response({"csrf": cur.record.csrf})
            case UnlockOutcome.INVALID:
                return error(401, "invalid-password", failures=result.failures, max=max_failures)
            case _:
                response = error(410, "closed")
                clear_session_cookie(request, response)
                return response

    async def close(self, request: web.Request, reason: str = "cancel") -> web.Response:
        """Anyone holding the session may close it, locked or not: no password."""
        cur = await self._current(request)
        if cur.record is not None and cur.id_hash is not None and cur.verdict.state is not SessionState.NONE:
            if not csrf_ok(request, cur.record.csrf):
                return error(403, "csrf")
            await self.m.close(
                cur.id_hash, reason, cur.record.username, actor=cur.record.username,
                remote=client_address(request),
            )
        response = web.json_response({"state": "closed"})
        clear_session_cookie(request, response)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        return await self.close(request, "logout")
