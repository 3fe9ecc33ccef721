"""The asyncio driver: sockets in, :class:`SipEndpoint` in the middle, ONE timer for everything.

Per message the driver does a ``loop.time()`` read and a call into the endpoint; it creates no
Task per call. The endpoint's timer heap is scheduled by the engine's one timer driver
(:class:`~tui_engine.runtime.DeadlineDriver`): its handle is replaced only when the endpoint
reports a deadline earlier than the one armed (``DeadlineHeap.on_earlier``); when it fires, due
timers run and it is re-armed at the next deadline, never sooner than ``MIN_REARM`` after a
wake that found nothing due.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from tui_engine.obs.logging import get_logger
from tui_engine.runtime import DeadlineDriver
from tui_engine.sip.call import CallHandler
from tui_engine.sip.endpoint import SipEndpoint
from tui_engine.sip.limits import Limits
from tui_engine.sip.message import Addr
from tui_engine.sip.timers import SipTimers
from tui_engine.sip.transport import StreamLimits, Transports

log = get_logger("tui_engine.sip")


class LoopClock:
    """``loop.time()``: the clock the deadlines are scheduled on (also right under uvloop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.time()


class SipServer:
    """Listen for SIP on UDP and TCP ``host:port`` and hand calls to ``handler``."""

    def __init__(
        self, handler: CallHandler, *, host: str, port: int, max_calls: int, trusted: Sequence[str],
        timers: SipTimers | None = None, stop_grace: float = 2.0,
        count_message: Callable[[str, str], None] | None = None,
        streams: StreamLimits | None = None,
    ) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._limits = Limits.parse(max_calls=max_calls, trusted=trusted)
        self._timers = timers or SipTimers()
        self._stop_grace = stop_grace
        self._count_message = count_message  #: ``(direction, method)``: sip_messages_total
        self._transports = Transports(limits=streams, in_use=self._stream_peers, trusts=self._trusts)
        self._endpoint: SipEndpoint | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._driver: DeadlineDriver | None = None
        self._idle = asyncio.Event()
        self.address: Addr = (host, port)

    @property
    def endpoint(self) -> SipEndpoint:
        if self._endpoint is None:
            raise RuntimeError("SipServer.start() has not run")
        return self._endpoint

    @property
    def active_calls(self) -> int:
        return self._endpoint.active_calls if self._endpoint else 0

    def receive_queue(self) -> int:
        """Bytes waiting unread in the UDP socket (see :meth:`Transports.receive_queue`)."""
        return self._transports.receive_queue()

    @property
    def tracked_transactions(self) -> int:
        return self._endpoint.tracked_transactions if self._endpoint else 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.address = await self._transports.open(
            self._host, self._port, self._on_message, self._on_unframed
        )
        endpoint = SipEndpoint(
            self._handler, self._transports, clock=LoopClock(loop), host=self.address[0],
            port=self.address[1], limits=self._limits, timers=self._timers,
        )
        driver = self._driver = DeadlineDriver(loop, endpoint)
        endpoint.heap.on_earlier = lambda _when: driver.arm()
        endpoint.on_idle = self._idle.set
        endpoint.count_message = self._count_message
        self._endpoint = endpoint
        log.info("sip.listening", host=self.address[0], port=self.address[1])

    def update_limits(self, *, max_calls: int, trusted: Sequence[str]) -> None:
        """New limits for the next INVITE (``ValueError`` on a bad network, nothing changed then)."""
        self._limits = Limits.parse(max_calls=max_calls, trusted=trusted)
        if self._endpoint is not None:
            self._endpoint.update_limits(self._limits)

    def update_streams(self, limits: StreamLimits) -> None:
        """New stream timeouts and connection cap, for the open connections too."""
        self._transports.update(limits)

    def _trusts(self, host: str) -> bool:
        return self._limits.trusts(host)  # per accepted connection, not per message: no cache

    def _stream_peers(self) -> set[Addr]:
        """The peers whose stream connection a live call sends on (kept however quiet)."""
        calls = self._endpoint.calls.values() if self._endpoint is not None else ()
        return {call.remote_addr for call in calls if call.transport != "UDP"}

    def _on_message(self, data: bytes, peer: Addr, transport: str) -> None:
        if self._endpoint is not None and self._loop is not None:
            self._endpoint.receive(data, peer, transport, self._loop.time())

    def _on_unframed(self, head: bytes, peer: Addr, transport: str, reason: str) -> None:
        if self._endpoint is not None:
            self._endpoint.receive_unframed(head, peer, transport, reason)

    async def stop(self) -> None:
        """BYE every live call, give them ``stop_grace`` seconds to finish, then close the sockets."""
        endpoint = self._endpoint
        if endpoint is not None:
            endpoint.shutdown()
            if endpoint.active_calls:
                self._idle.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._stop_grace):
                        while endpoint.active_calls:
                            await self._idle.wait()
                            self._idle.clear()
            endpoint.abandon()
        if self._driver is not None:
            self._driver.close()
            self._driver = None
        await self._transports.close()
        self._endpoint = None
        log.info("sip.stopped")
