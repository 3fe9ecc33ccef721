"""Call history: ``GET /api/cdrs`` (filter and page the call records) and ``POST /api/export``
(every matching record as formula-safe CSV, streamed in batches). docs/web-api.md has the shapes.

Both sit behind the data routes' guard (session, lock, CSRF). The export is the portal's real
long task: it holds a *progress lease* on the session while it runs
(:meth:`SessionManager.progress`), renewed by this engine and gone with it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from tui_engine.web.cdrs import csv_header, csv_lines
from tui_engine.web.responses import error, json_body
from tui_engine.web.sessions import Current, SessionManager
from tui_engine.web.store.cdrs import CdrFilter, CdrStore

Handler = Callable[[web.Request, Current], Awaitable[web.StreamResponse]]
Guard = Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]

MAX_PAGE = 500
DEFAULT_PAGE = 50
EXPORT_BATCH = 1000


class BadFilter(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _time(field: str, value: object) -> float | None:
    """Epoch seconds (a number) or an ISO 8601 date/time (UTC unless it says otherwise)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadFilter(field, f"{field}: expected epoch seconds or an ISO 8601 time")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadFilter(field, f"{field}: {text!r} is neither epoch seconds nor an ISO 8601 time") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def _text(params: dict[str, object], name: str) -> str:
    value = params.get(name, "")
    if not isinstance(value, str):
        raise BadFilter(name, f"{name}: expected text")
    return value.strip()[:200]


def parse_filter(params: dict[str, object]) -> CdrFilter:
    return CdrFilter(
        caller=_text(params, "caller"), dialled=_text(params, "dialled"),
        dialplan=_text(params, "dialplan"), reason=_text(params, "reason"),
        since=_time("since", params.get("since")), until=_time("until", params.get("until")),
    )


def _int(params: dict[str, object], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        n = int(str(raw))
    except ValueError:
        raise BadFilter(name, f"{name}: expected a whole number") from None
    if not low <= n <= high:
        raise BadFilter(name, f"{name}: must be between {low} and {high}")
    return n


class CdrRoutes:
    def __init__(self, manager: SessionManager, store: CdrStore, guard: Guard) -> None:
        self.m = manager
        self.store = store
        self.guard = guard

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/cdrs", self.guard(self.list)),
            web.post("/api/export", self.guard(self.export)),
        ]

    async def list(self, request: web.Request, cur: Current) -> web.Response:
        params: dict[str, object] = dict(request.query)
        try:
            f = parse_filter(params)
            limit = _int(params, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
            offset = _int(params, "offset", 0, 0, 10**9)
        except BadFilter as exc:
            return error(400, "invalid-request", field=exc.field, message=str(exc))
        page = await self.store.query(f, limit=limit, offset=offset)
        return web.json_response({
            "records": [r.to_json() for r in page.records], "total": page.total,
            "limit": limit, "offset": offset, "facets": page.facets,
        })

    async def export(self, request: web.Request, cur: Current) -> web.StreamResponse:
        """Every record matching the body's filters (same names as ``/api/cdrs``), newest first."""
        body = await json_body(request) if request.can_read_body else {}
        try:
            f = parse_filter(body)
        except BadFilter as exc:
            return error(400, "invalid-request", field=exc.field, message=str(exc))
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        resp = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="call-records-{stamp}.csv"',
            "Cache-Control": "no-store",
        })
        async with self.m.progress(cur) as lease:
            await resp.prepare(request)
            await resp.write(csv_header().encode())
            async for batch in self.store.batches(f, EXPORT_BATCH):
                if lease.lost:  # locked or closed meanwhile: cut the download, never finish it
                    if request.transport is not None:
                        request.transport.abort()
                    return resp
                await resp.write(csv_lines(batch).encode())
                lease.advanced()  # a batch reached the client: the work moves on
            await resp.write_eof()
        return resp
