"""JSON bodies shared by the route modules (docs/web-api.md is the source of truth)."""

from __future__ import annotations

import math

from aiohttp import web

from tui_engine.web.decide import SessionState
from tui_engine.web.sessions import Current
from tui_engine.web.settings import PortalSettings


def ms(epoch_seconds: float | None) -> int | None:
    return None if epoch_seconds is None else round(epoch_seconds * 1000)


def session_body(
    cur: Current, settings: PortalSettings, now: float, role: str | None = None
) -> dict[str, object]:
    """State only: no application data, so it is safe to serve while locked."""
    state = cur.verdict.state
    known = state in (SessionState.ACTIVE, SessionState.LOCKED) and cur.record is not None
    return {
        "state": state.value,
        "user": cur.record.username if known and cur.record else None,
        "role": role if known else None,
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


async def optional_json(request: web.Request) -> dict[str, object]:
    """The JSON object of a request whose body may be empty or absent ({} then)."""
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def input_time(body: dict[str, object]) -> float | None:
    """``{"at": epoch ms}``: when the input an activity report covers happened (epoch s)."""
    return epoch_ms(body.get("at"))


def epoch_ms(value: object) -> float | None:
    """An epoch-ms number (or numeric string) as epoch seconds; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return float(value) / 1000.0
    return None


def text_field(body: dict[str, object], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise web.HTTPBadRequest(
            text=f'{{"error":"invalid-request","field":"{name}"}}', content_type="application/json"
        )
    return value
