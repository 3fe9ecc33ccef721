"""The console's data endpoints, each behind one guard (docs/web-api.md):

401 without a session, 423 ``{"error": "locked"}`` and no data while locked, 403 without
the CSRF token on state-changing methods; a request counts as activity only with
``X-User-Activity: 1`` (background polling never does); while it runs it is *progress*
(the session cannot lock under it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from tui_engine.web.console import ConsoleSource, NotApplied, OptionsRefused
from tui_engine.web.decide import SessionState
from tui_engine.web.first_run import FIRST_USER, PASSWORD_FILE
from tui_engine.web.responses import error, json_body, text_field
from tui_engine.web.security import ACTIVITY_HEADER, STATE_CHANGING, csrf_ok, read_session_id
from tui_engine.web.sessions import Current, SessionManager
from tui_engine.web.store import UserExists
from tui_engine.web.users import UnknownUser, add_user, change_password, set_pin

Handler = Callable[[web.Request, Current], Awaitable[web.StreamResponse]]
OptionHook = Callable[[str, str, str, object], None]


class DataRoutes:
    def __init__(self, manager: SessionManager, console: ConsoleSource, on_option: OptionHook) -> None:
        self.m = manager
        self.console = console
        self._on_option = on_option

    def routes(self) -> list[web.RouteDef]:
        g = self.guard
        return [
            web.get("/api/calls", g(self.calls)),
            web.get("/api/call-endings", g(self.call_endings)),
            web.get("/api/applications", g(self.applications)),
            web.put("/api/applications/{app}/options", g(self.set_option)),
            web.get("/api/users", g(self.users)),
            web.post("/api/users", g(self.create_user)),
            web.post("/api/users/{name}/password", g(self.password)),
            web.post("/api/users/{name}/pin", g(self.pin)),
        ]

    def guard(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            cur = await self.m.current(read_session_id(request))
            refusal = self._refusal(request, cur)
            if refusal is not None:
                return refusal
            h = cur.id_hash
            assert h is not None
            if request.headers.get(ACTIVITY_HEADER) == "1":
                cur = await self.m.activity(cur)
            async with self.m.in_progress(h):
                # The timer may have locked between the check and the progress mark.
                again = await self.m.store.get_session(h)
                if again is None or again.closed:
                    return error(401, "unauthenticated")
                if again.locked:
                    return error(423, "locked")
                return await handler(request, cur)

        return guarded

    def _refusal(self, request: web.Request, cur: Current) -> web.Response | None:
        state = cur.verdict.state
        if cur.record is None or state in (SessionState.NONE, SessionState.CLOSED):
            return error(401, "unauthenticated")
        if state is SessionState.LOCKED:
            return error(423, "locked")
        if request.method in STATE_CHANGING and not csrf_ok(request, cur.record.csrf):
            return error(403, "csrf")
        return None

    # -- console ------------------------------------------------------------------------
    async def calls(self, request: web.Request, cur: Current) -> web.Response:
        return web.json_response({"calls": self.console.live_calls()})

    async def call_endings(self, request: web.Request, cur: Current) -> web.Response:
        return web.json_response({"endings": self.console.call_endings()})

    async def applications(self, request: web.Request, cur: Current) -> web.Response:
        return web.json_response(
            {"applications": self.console.applications(), "help": self.console.option_help()}
        )

    async def set_option(self, request: web.Request, cur: Current) -> web.Response:
        """One option ``{section, option, value}`` or one form ``{"options": [{...}, ...]}``:
        all are validated, then applied together, or none is."""
        app = request.match_info["app"]
        body = await json_body(request)
        items = body.get("options", [body])
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            return error(400, "invalid-request", field="options")
        changes = [(text_field(i, "section"), text_field(i, "option"), i.get("value")) for i in items]
        try:
            problems: dict[str, str] = {}
            for section, option, value in changes:  # the portal's own options, checked first
                try:
                    self._on_option(app, section, option, value)
                except ValueError as exc:
                    problems[f"{section}.{option}"] = str(exc)
            if problems:
                raise OptionsRefused(problems)
            self.console.set_options(app, changes)
        except OptionsRefused as exc:
            return error(400, "invalid-option", message=str(exc), fields=exc.problems)
        except NotApplied as exc:
            return error(409, "not-applied", message=f"Valid, but the engine did not apply it: {exc}")
        except ValueError as exc:
            return error(400, "invalid-option", message=str(exc), fields={})
        saved = [{"section": s, "option": o, "value": v} for s, o, v in changes]
        first = saved[0]
        return web.json_response({"application": app, "applied": True, "options": saved, **first})

    # -- users --------------------------------------------------------------------------
    async def users(self, request: web.Request, cur: Current) -> web.Response:
        generated = self.m.settings.data_dir / PASSWORD_FILE
        made_at = generated.stat().st_mtime if generated.exists() else None
        users = [
            {"username": u.username, "password_changed_at": round(u.password_changed_at * 1000),
             "has_pin": u.pin_hash is not None,
             # still the password first_run generated (and wrote to its file): the console asks to change it
             "initial_password": made_at is not None and u.username == FIRST_USER
             and u.password_changed_at <= made_at + 1.0}
            for u in await self.m.store.list_users()
        ]
        return web.json_response({"users": users})

    async def create_user(self, request: web.Request, cur: Current) -> web.Response:
        body = await json_body(request)
        try:
            user = await add_user(
                self.m.store, text_field(body, "username"), text_field(body, "password"),
                via=self.m.settings.app_name,
            )
        except UserExists:
            return error(409, "user-exists")
        except ValueError as exc:
            return error(400, "invalid-request", message=str(exc))
        return web.json_response({"username": user.username}, status=201)

    async def password(self, request: web.Request, cur: Current) -> web.Response:
        body = await json_body(request)
        application = body.get("application") or self.m.settings.app_name
        if not isinstance(application, str):
            return error(400, "invalid-request", field="application")
        try:
            n = await change_password(
                self.m.store, request.match_info["name"], text_field(body, "password"),
                application=application,
            )
        except UnknownUser:
            return error(404, "unknown-user")
        except ValueError as exc:
            return error(400, "invalid-request", message=str(exc))
        return web.json_response({"username": request.match_info["name"], "application": application,
                                  "sessions_updated": n})

    async def pin(self, request: web.Request, cur: Current) -> web.Response:
        body = await json_body(request)
        try:
            await set_pin(self.m.store, request.match_info["name"], text_field(body, "pin"))
        except UnknownUser:
            return error(404, "unknown-user")
        except ValueError as exc:
            return error(400, "invalid-request", message=str(exc))
        return web.json_response({"username": request.match_info["name"], "has_pin": True})
