"""The console's data endpoints, each behind one guard (docs/web-api.md):

401 without a session, 423 ``{"error": "locked"}`` and no data while locked, 403 without
the CSRF token on state-changing methods, 403 ``forbidden`` when the user's role does not
allow it (docs/web-api.md, "Roles"). A request counts as activity only with
``X-User-Activity`` (the input's time, or ``1`` for now); background polling never does, and a
request is never progress by itself: only a long task that holds a progress lease is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from tui_engine.web import audit
from tui_engine.web.console import ConsoleSource, NotApplied, OptionsRefused
from tui_engine.web.decide import SessionState
from tui_engine.web.first_run import FIRST_USER, PASSWORD_FILE
from tui_engine.web.passwords import verify_secret_async
from tui_engine.web.responses import epoch_ms, error, json_body, text_field
from tui_engine.web.security import ACTIVITY_HEADER, STATE_CHANGING, client_address, csrf_ok, read_session_id
from tui_engine.web.sessions import Current, SessionManager
from tui_engine.web.settings import parse_duration
from tui_engine.web.store import ADMIN, OPERATOR, UserExists, UserRecord
from tui_engine.web.users import UnknownUser, WeakPassword, add_user, change_password, set_pin

Handler = Callable[[web.Request, Current], Awaitable[web.StreamResponse]]
OptionHook = Callable[[str, str, str, object], None]

USER_KEY = web.RequestKey("tui_engine.user", UserRecord)
AUDIT_MAX_LIMIT = 500


def caller(request: web.Request) -> UserRecord:
    """The signed-in user of a guarded request (set by the guard)."""
    return request[USER_KEY]


def weak(exc: WeakPassword) -> web.Response:
    return error(400, "weak-password", message=str(exc), min_length=exc.min_length)


def activity_time(header: str) -> float | None:
    """``X-User-Activity``: ``1`` = now (None), else the input's epoch ms."""
    return None if header.strip() == "1" else epoch_ms(header)


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
            web.get("/api/applications", g(self.applications, admin=True)),
            web.put("/api/applications/{app}/options", g(self.set_option, admin=True)),
            web.get("/api/users", g(self.users, admin=True)),
            web.post("/api/users", g(self.create_user, admin=True)),
            web.post("/api/users/{name}/password", g(self.password)),
            web.post("/api/users/{name}/pin", g(self.pin)),
            web.get("/api/audit", g(self.audit, admin=True)),
        ]

    def guard(
        self, handler: Handler, *, admin: bool = False
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            cur = await self.m.current(read_session_id(request))
            refusal = self._refusal(request, cur)
            if refusal is not None:
                return refusal
            assert cur.record is not None
            user = await self.m.store.get_user(cur.record.username)
            if user is None:  # deleted while signed in: nothing is allowed
                return error(401, "unauthenticated")
            if admin and user.role != ADMIN:
                return error(403, "forbidden", role=user.role)
            request[USER_KEY] = user
            header = request.headers.get(ACTIVITY_HEADER)
            if header is not None:
                cur = await self.m.activity(cur, activity_time(header))
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
        all are validated, then applied together, or none is. Turning this portal's own lock
        off needs ``"confirm": true`` (top level); every applied change is audited."""
        app = request.match_info["app"]
        body = await json_body(request)
        items = body.get("options", [body])
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            return error(400, "invalid-request", field="options")
        changes = [(text_field(i, "section"), text_field(i, "option"), i.get("value")) for i in items]
        disables = any(self._disables_own_lock(app, s, o, v) for s, o, v in changes)
        if disables and body.get("confirm") is not True:
            return error(
                409, "confirmation-required",
                message="inactivity-timeout = 0: portal sessions will never lock. Confirm to apply.",
            )
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
        for section, option, value in changes:
            await audit.record(
                self.m.store, "option_change", actor=caller(request).username, session=cur.id_hash,
                remote=client_address(request), application=app, section=section, option=option,
                value=value, disables_lock=self._disables_own_lock(app, section, option, value),
            )
        saved = [{"section": s, "option": o, "value": v} for s, o, v in changes]
        first = saved[0]
        return web.json_response({"application": app, "applied": True, "options": saved, **first})

    def _disables_own_lock(self, app: str, section: str, option: str, value: object) -> bool:
        """Is this ``[security] inactivity-timeout`` of this very portal set to zero?"""
        if (app, section, option) != (self.m.settings.app_name, "security", "inactivity-timeout"):
            return False
        try:
            return parse_duration(value, bare_unit=60.0) == 0
        except ValueError:
            return False  # the option's own validation answers it

    # -- users --------------------------------------------------------------------------
    async def users(self, request: web.Request, cur: Current) -> web.Response:
        generated = self.m.settings.data_dir / PASSWORD_FILE
        made_at = generated.stat().st_mtime if generated.exists() else None
        users = [
            {"username": u.username, "role": u.role,
             "password_changed_at": round(u.password_changed_at * 1000), "has_pin": u.pin_hash is not None,
             # still the password first_run generated (and wrote to its file): the console asks to change it
             "initial_password": made_at is not None and u.username == FIRST_USER
             and u.password_changed_at <= made_at + 1.0}
            for u in await self.m.store.list_users()
        ]
        return web.json_response({"users": users})

    async def create_user(self, request: web.Request, cur: Current) -> web.Response:
        body = await json_body(request)
        role = body.get("role", OPERATOR)
        if not isinstance(role, str):
            return error(400, "invalid-request", field="role")
        try:
            user = await add_user(
                self.m.store, text_field(body, "username"), text_field(body, "password"),
                via=self.m.settings.app_name, role=role, min_length=self.m.settings.password_min_length,
                actor=caller(request).username,
            )
        except UserExists:
            return error(409, "user-exists")
        except WeakPassword as exc:
            return weak(exc)
        except ValueError as exc:
            return error(400, "invalid-request", message=str(exc))
        return web.json_response({"username": user.username, "role": user.role}, status=201)

    async def _may_change(
        self, request: web.Request, body: dict[str, object], what: str
    ) -> web.Response | None:
        """Own secrets with the current password; someone else's only as an admin."""
        me, name = caller(request), request.match_info["name"]
        if name != me.username:
            return None if me.role == ADMIN else error(403, "forbidden", role=me.role)
        current = body.get("current_password")
        if isinstance(current, str) and await verify_secret_async(me.password_hash, current):
            return None
        await audit.record(
            self.m.store, f"{what}_change_refused", user=name, actor=me.username,
            remote=client_address(request), reason="invalid-current-password",
        )
        return error(403, "invalid-current-password")

    async def password(self, request: web.Request, cur: Current) -> web.Response:
        body = await json_body(request)
        refusal = await self._may_change(request, body, "password")
        if refusal is not None:
            return refusal
        application = body.get("application") or self.m.settings.app_name
        if not isinstance(application, str):
            return error(400, "invalid-request", field="application")
        try:
            n = await change_password(
                self.m.store, request.match_info["name"], text_field(body, "password"),
                application=application, min_length=self.m.settings.password_min_length,
                actor=caller(request).username,
            )
        except UnknownUser:
            return error(404, "unknown-user")
        except WeakPassword as exc:
            return weak(exc)
        except ValueError as exc:
            return error(400, "invalid-request", message=str(exc))
        return web.json_response({"username": request.match_info["name"], "application": application,
                                  "sessions_updated": n})

    async def pin(self, request: web.Request, cur: Current) -> web.Response:
        body = await json_body(request)
        refusal = await self._may_change(request, body, "pin")
        if refusal is not None:
            return refusal
        try:
            await set_pin(
                self.m.store, request.match_info["name"], text_field(body, "pin"),
                actor=caller(request).username,
            )
        except UnknownUser:
            return error(404, "unknown-user")
        except ValueError as exc:
            return error(400, "invalid-request", message=str(exc))
        return web.json_response({"username": request.match_info["name"], "has_pin": True})

    # -- audit --------------------------------------------------------------------------
    async def audit(self, request: web.Request, cur: Current) -> web.Response:
        q = request.query
        try:
            limit = int(q.get("limit", "100"))
            before = int(q["before"]) if "before" in q else None
        except ValueError:
            return error(400, "invalid-request", field="limit/before")
        if not 1 <= limit <= AUDIT_MAX_LIMIT:
            return error(400, "invalid-request", field="limit", message=f"limit must be 1-{AUDIT_MAX_LIMIT}")
        events = await self.m.store.list_audit(
            limit=limit + 1, before=before, event=q.get("event"), user=q.get("user")
        )
        page = events[:limit]
        more = len(events) > limit
        return web.json_response({
            "events": [audit.entry_json(e) for e in page],
            "next_before": page[-1].id if more and page else None,
        })
