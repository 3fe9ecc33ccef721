"""The webhook HTTP client: one aiohttp session per engine, signed JSON POSTs, status reports.

:class:`WebhookClient` is created and closed by :class:`~tui_engine.tui.component.TuiComponent`
(``start``/``stop``): one :class:`aiohttp.ClientSession` with one keep-alive connection pool
(``webhook-max-connections``) for every call. :meth:`WebhookClient.post` is what a call's
``webhook`` step awaits; the call's menu runner owns the timeout (it cancels the request).
:meth:`WebhookClient.report` sends the optional status webhook (call start / call end),
fire-and-forget: bounded in flight, each with its own timeout, failures logged once.

Signature (the scheme of Stripe's ``Stripe-Signature``, replay-safe like Twilio's)::

    X-Tui-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

over the exact body bytes; a server recomputes it, compares in constant time and refuses a
``t`` too far from its own clock (:func:`verify_signature`, tolerance 5 minutes).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from tui_engine.obs.logging import get_logger
from tui_engine.tui.settings import WebhookSettings

log = get_logger("tui_engine.webhooks")

SIGNATURE_HEADER = "X-Tui-Signature"
#: the most a webhook answer may be: a step or a menu is a few hundred bytes
MAX_ANSWER_BYTES = 64 * 1024
#: a signature older or newer than this is refused by :func:`verify_signature` (replay)
SIGNATURE_TOLERANCE = 300.0


class WebhookError(Exception):
    """The request failed; ``why`` is what the call logs (``HTTP 500``, ``not JSON``, ...)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``X-Tui-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: bytes, header: str, body: bytes, *, now: float, tolerance: float = SIGNATURE_TOLERANCE
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and its time is within ``tolerance``."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def encode(payload: Mapping[str, Any]) -> bytes:
    """The request body: compact JSON, UTF-8 (the bytes the signature covers)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise WebhookError(f"answer larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


#: seconds a stopping engine waits for its last status reports (well within app.STOP_GRACE)
CLOSE_WAIT = 5.0


class WebhookClient:
    """Signed JSON POSTs over one keep-alive pool; see the module docstring."""

    def __init__(self, settings: WebhookSettings, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._wall_clock = wall_clock
        self._session: aiohttp.ClientSession | None = None
        self._reports: set[asyncio.Task[None]] = set()
        self._status_failing = 0  # status failures since the last success (logged once)
        self._dropped = 0

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.settings.max_connections, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),  # the caller owns the timeout
            headers={"User-Agent": "tui-engine webhook"},
        )

    async def close(self) -> None:
        """Let the status reports in flight finish (the last calls' ``call.ended``; each is bounded
        by status-webhook-timeout already, and the wait by CLOSE_WAIT), then close the pool."""
        if self._reports:
            await asyncio.wait(list(self._reports), timeout=min(self.settings.status_timeout, CLOSE_WAIT))
        for task in list(self._reports):
            task.cancel()
        if self._reports:
            await asyncio.gather(*self._reports, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def apply(self, settings: WebhookSettings) -> None:
        """A reload: secret and status options apply to the next request (the pool stays)."""
        self.settings = settings

    def _headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.settings.secret:
            headers[SIGNATURE_HEADER] = sign(self.settings.secret, body, int(self._wall_clock()))
        return headers

    async def post(self, url: str, payload: Mapping[str, Any]) -> object:
        """POST ``payload``; the parsed JSON answer of a 2xx, else :class:`WebhookError`."""
        raw = await self._request(url, payload)
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            raise WebhookError("answer is not JSON") from None

    async def _request(self, url: str, payload: Mapping[str, Any]) -> bytes:
        """POST signed JSON (no redirects followed); the body of a 2xx, else :class:`WebhookError`."""
        if self._session is None:
            raise WebhookError("webhook client not started")
        body = encode(payload)
        try:
            async with self._session.post(
                url, data=body, headers=self._headers(body), allow_redirects=False
            ) as response:
                if not 200 <= response.status < 300:
                    raise WebhookError(f"HTTP {response.status}")
                return await _read_limited(response)
        except aiohttp.ClientError as exc:
            raise WebhookError(f"connection failed: {type(exc).__name__}: {exc}") from None

    # -- the status webhook ---------------------------------------------------------------
    @property
    def reporting(self) -> bool:
        """Whether :meth:`report` sends anything: a caller can skip building the event."""
        return bool(self.settings.status_url) and self._session is not None

    def report(self, event: Mapping[str, Any]) -> None:
        """Send a status event, fire-and-forget; never raises, never waits."""
        url = self.settings.status_url
        if not url or self._session is None:
            return
        if len(self._reports) >= self.settings.status_max_pending:
            self._dropped += 1
            if self._dropped == 1:
                log.warning("status_webhook.dropped", url=url, pending=len(self._reports))
            return
        task = asyncio.get_running_loop().create_task(self._send_report(url, event))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _send_report(self, url: str, event: Mapping[str, Any]) -> None:
        try:
            async with asyncio.timeout(self.settings.status_timeout):
                await self._request(url, event)
        except Exception as exc:  # whatever it is, a status report never reaches a call
            self._status_failing += 1
            if self._status_failing == 1:  # once, until it works again
                why = exc.why if isinstance(exc, WebhookError) else type(exc).__name__
                log.warning("status_webhook.failed", url=url, why=why, kind=event.get("event"))
            return
        if self._status_failing or self._dropped:
            log.info("status_webhook.recovered", url=url, failed=self._status_failing, dropped=self._dropped)
        self._status_failing = self._dropped = 0
