"""``GET /`` and ``/static/*``: the single-page console owned by the frontend (static/).

Resolved per request (not ``add_static`` at start-up) so the directory may be filled while
the server runs; paths are confined to the directory.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"

_PLACEHOLDER = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tui-engine</title>
<link rel="stylesheet" href="/static/app.css"></head><body><main id="app"></main>
<script type="module" src="/static/app.js"></script></body></html>"""

# The page loads only its own scripts and styles; framing is refused (clickjacking on the
# unlock dialog).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class StaticRoutes:
    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.directory = directory

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/", self.index), web.get("/static/{path:.+}", self.file)]

    async def index(self, request: web.Request) -> web.StreamResponse:
        index = self.directory / "index.html"
        if index.is_file():
            return web.FileResponse(index, headers={"Cache-Control": "no-cache"})
        return web.Response(text=_PLACEHOLDER, content_type="text/html")

    async def file(self, request: web.Request) -> web.StreamResponse:
        root = self.directory.resolve()
        target = (root / request.match_info["path"]).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(target, headers={"Cache-Control": "no-cache"})


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: portal pages and API answers only (not ``/metrics``)."""
    path = request.path
    if path == "/" or path.startswith(("/static/", "/api/")):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
