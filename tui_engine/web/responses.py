"""JSON bodies shared by the route modules (docs/web-api.md is the source of truth)."""

from __future__ import annotations

from aiohttp import web

from tui_engine.web.decide import SessionState
from tui_engine.web.sessions import Current
from tui_engine.web.settings import PortalSettings


def ms(epoch_seconds: float | None) -> int | None:
    return None if epoch_seconds is None else round(epoch_seconds * 1000)


def session_body(cur: Current, settings: PortalSettings, now: float) -> dict[str, object]:
    """State only: no application data, so it is safe to serve while locked."""
    state = cur.verdict.state
    known = state in (SessionState.ACTIVE, SessionState.LOCKED) and cur.record is not None
    return {
        "state": state.value,
        "user": cur.record.username if known and cur.record else None,
        "csrf": cur.record.csrf if known and cur.record else None,
        "server_time": ms(now),
        "lock_at": ms(cur.verdict.lock_at),
        "warn_at": ms(cur.verdict.warn_at),
        "timeout_ms": round(settings.inactivity_timeout * 1000),
        "warning_ms": None if not settings.warning else round(settings.warning * 1000),
        "heartbeat_ms": round(settings.heartbeat_interval * 1000),
        "max_unlock_failures": settings.max_unlock_failures,
    }


def error(status: int, code: str, **extra: object) -> web.Response:
    return web.json_response({"error": code, **extra}, status=status)


async def json_body(request: web.Request) -> dict[str, object]:
    """The request's JSON object, or 400."""
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error":"invalid-json"}', content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error":"invalid-json"}', content_type="application/json")
    return body


def text_field(body: dict[str, object], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise web.HTTPBadRequest(
            text=f'{{"error":"invalid-request","field":"{name}"}}', content_type="application/json"
        )
    return value
