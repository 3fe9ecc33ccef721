"""``GET /api/status``: live calls and recent endings for ``tui-engine status`` (an operator's view,
like ``asterisk -rx "core show channels"``).

Who may ask: the engine's own operator, on its machine. Two checks, both required:

* a **token**: a random secret written at each start to ``DATA_DIR/status-token``, readable only
  by the engine's user (mode 0600) and sent as ``Authorization: Bearer``. Whoever can read it can
  already read the engine's data (its user store), so it gives away nothing new; it is a new one
  after every restart and is deleted on stop.
* a **loopback peer without forwarding headers**: the token travels in clear HTTP, so it never
  leaves the machine; and a reverse proxy on the same host (whose requests all come from
  127.0.0.1) is told apart by its ``Forwarded`` / ``X-Forwarded-For`` headers and refused.

The portal's console shows the same calls to logged-in users; this endpoint needs no portal user,
so the CLI works on an engine without a portal application, and the portal's session and
CSRF rules stay as they are.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tui_engine.config import EngineConfig

TOKEN_FILE = "status-token"
PATH = "/api/status"
_FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

Snapshot = Callable[[], dict[str, Any]]


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE


class StatusComponent:
    """An engine component serving :data:`PATH`; ``snapshot()`` gives the calls and endings."""

    def __init__(self, data_dir: Path, node: str, snapshot: Snapshot) -> None:
        self._path = token_path(data_dir)
        self._node = node
        self._snapshot = snapshot
        self._token: str | None = None
        self._started = time.time()

    def setup_http(self, app: web.Application) -> None:
        app.router.add_get(PATH, self._status)

    async def start(self, engine: Any) -> None:
        self._token = secrets.token_urlsafe(32)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(f".{TOKEN_FILE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self._token + "\n")
        os.replace(tmp, self._path)  # never a half-written token, never a wider mode
        self._started = time.time()

    async def stop(self) -> None:
        self._token = None
        with contextlib.suppress(OSError):
            os.unlink(self._path)

    def apply_config(self, config: EngineConfig) -> None:
        """Nothing to apply: the data dir and the node name need a restart."""

    async def _status(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if not _loopback(peer) or any(h in request.headers for h in _FORWARDED):
            return web.json_response({"error": "local-only"}, status=403)
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if self._token is None or not hmac.compare_digest(given.encode(), self._token.encode()):
            return web.json_response(
                {"error": "token", "hint": f"send Authorization: Bearer <{self._path}>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="tui-engine status"'},
            )
        body = {"node": self._node, "pid": os.getpid(), "uptime_s": round(time.time() - self._started, 1)}
        return web.json_response({**body, **self._snapshot()})


def _loopback(peer: Any) -> bool:
    if not isinstance(peer, tuple) or not peer:
        return False  # a UNIX socket or unknown: not a TCP peer we can place
    try:
        return ipaddress.ip_address(str(peer[0]).split("%")[0]).is_loopback
    except ValueError:
        return False
