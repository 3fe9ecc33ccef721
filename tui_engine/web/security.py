"""Session IDs, cookies, CSRF tokens and the hashed IDs used in storage and logs.

* The raw session ID exists only in the cookie; the store and the logs see
  ``sha256(id)`` (OWASP Session Management: do not log session IDs).
* Cookie: ``HttpOnly``, ``SameSite=Strict``, ``Path=/``; over TLS also ``Secure`` under a
  ``__Host-`` name (RFC 6265bis §4.1.3.2: host-only, Secure, Path=/ enforced by the browser).
* CSRF: a per-session random token the page sends in ``X-CSRF-Token`` on every state-changing
  request, compared in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

COOKIE = "tui_session"
TLS_COOKIE = "__Host-tui_session"
CSRF_HEADER = "X-CSRF-Token"
ACTIVITY_HEADER = "X-User-Activity"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: set on each request by :mod:`tui_engine.web.proxy` (TLS seen by the client, client address).
SECURE_KEY = web.RequestKey("tui_engine.secure", bool)
CLIENT_KEY = web.RequestKey("tui_engine.client", str)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def id_hash(session_id: str) -> str:
    """The key under which a session is stored (full SHA-256, hex)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def log_id(hashed: str) -> str:
    """What logs show: a prefix of the stored hash (never the raw ID)."""
    return hashed[:16]


def is_secure(request: web.Request) -> bool:
    """TLS as the browser sees it: this server's own, or a trusted proxy's (proxy.py)."""
    secure: bool = request.get(SECURE_KEY, request.secure)
    return secure


def client_address(request: web.Request) -> str | None:
    client: str | None = request.get(CLIENT_KEY, request.remote)
    return client


def cookie_name(request: web.Request) -> str:
    return TLS_COOKIE if is_secure(request) else COOKIE


def read_session_id(request: web.Request) -> str | None:
    value = request.cookies.get(cookie_name(request))
    return value or None


def set_session_cookie(request: web.Request, response: web.StreamResponse, session_id: str) -> None:
    response.set_cookie(
        cookie_name(request), session_id, path="/", httponly=True, samesite="Strict",
        secure=is_secure(request),
    )


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(cookie_name(request), path="/")


def csrf_ok(request: web.Request, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER, "")
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
