"""Real webhook requests for ``tui-engine simulate``, whose own loop is synchronous.

``simulate`` calls the URL for real (so a dialplan and its application server can be tried
together): the requests run on a private asyncio loop in a thread, with the client the command
line hands over (the engine's :class:`~tui_engine.tui.webhooks.WebhookClient`, signed the same
way); the simulation polls :meth:`BackgroundRequests.done` and reports the outcome to the runner.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Mapping
from typing import Any, Protocol


class WebhookTransport(Protocol):
    """What ``simulate`` needs of a webhook client."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def post(self, url: str, payload: Mapping[str, Any]) -> object: ...


class BackgroundRequests:
    """One request at a time (the runner never has more), on a loop in a daemon thread."""

    def __init__(self, client: WebhookTransport) -> None:
        self._client = client
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulate-webhooks", daemon=True)
        self._thread.start()
        self._call(client.start())
        self._future: concurrent.futures.Future[object] | None = None
        self.request_id = 0

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def pending(self) -> bool:
        return self._future is not None

    def send(self, request_id: int, url: str, payload: Mapping[str, Any]) -> None:
        self.cancel()
        self.request_id = request_id
        self._future = asyncio.run_coroutine_threadsafe(self._client.post(url, payload), self._loop)

    def cancel(self) -> None:
        if self._future is not None:
            self._future.cancel()
            self._future = None

    def done(self) -> tuple[bool, object] | None:
        """``(True, answer)``, ``(False, why)``, or ``None`` while the request is out."""
        future = self._future
        if future is None or not future.done():
            return None
        self._future = None
        error = future.exception()
        if error is None:
            return True, future.result()
        return False, getattr(error, "why", None) or f"{type(error).__name__}: {error}"

    def close(self) -> None:
        self.cancel()
        self._call(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
