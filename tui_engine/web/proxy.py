"""What a request really is when a reverse proxy may stand in front, and the Origin check.

* ``X-Forwarded-Proto`` / ``-Host`` / ``-For`` are believed **only** from a peer in
  ``trusted-proxies`` (else anyone could claim ``https`` or another address). Behind a TLS
  proxy the session cookie then gets ``Secure`` and the ``__Host-`` name.
* A state-changing ``/api/`` request must come from this server's own pages: an ``Origin``
  header naming another origin (or ``null``), or ``Sec-Fetch-Site: cross-site``/``same-site``,
  is refused with 403 ``{"error": "origin"}`` before any handler runs. Requests without either
  header (scripts, curl) still need the session's CSRF token; the check is a second wall.

The middleware stores its findings on the request (``secure``, ``client``) so the cookie code
and the audit log read one answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from tui_engine.web.responses import error
from tui_engine.web.security import CLIENT_KEY, SECURE_KEY, STATE_CHANGING

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


def parse_networks(specs: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(s, strict=False) for s in specs)


def _first(value: str | None) -> str | None:
    """The first (the client-facing proxy's) element of a comma-separated forwarded header."""
    if not value:
        return None
    head = value.split(",")[0].strip()
    return head or None


class ProxyView:
    def __init__(self, trusted: Iterable[str]) -> None:
        self.trusted = parse_networks(trusted)

    def _trusted_peer(self, request: web.Request) -> bool:
        try:
            peer = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return False
        return any(peer in net for net in self.trusted)

    def _client(self, request: web.Request, trusted: bool) -> str | None:
        """The address the nearest untrusted hop connected from (X-Forwarded-For, right to left)."""
        if not trusted:
            return request.remote
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        for hop in reversed(hops):
            try:
                if not any(ipaddress.ip_address(hop) in net for net in self.trusted):
                    return hop
            except ValueError:
                return request.remote
        return hops[0] if hops else request.remote

    def own_origin(self, request: web.Request, secure: bool, trusted: bool) -> str:
        host = (_first(request.headers.get("X-Forwarded-Host")) if trusted else None) or request.host
        return f"{'https' if secure else 'http'}://{host}".lower()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        trusted = self._trusted_peer(request)
        proto = _first(request.headers.get("X-Forwarded-Proto")) if trusted else None
        secure = request.secure or (proto or "").lower() == "https"
        request[SECURE_KEY] = secure
        client = self._client(request, trusted)
        if client is not None:
            request[CLIENT_KEY] = client
        if request.method in STATE_CHANGING and request.path.startswith("/api/"):
            if not self._same_origin(request, secure, trusted):
                return error(403, "origin")
        return await handler(request)

    def _same_origin(self, request: web.Request, secure: bool, trusted: bool) -> bool:
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site.lower() not in _ALLOWED_FETCH_SITES:
            return False
        origin = request.headers.get("Origin")
        return origin is None or origin.lower() == self.own_origin(request, secure, trusted)
