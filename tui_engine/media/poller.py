"""The latched RTP sockets of the process, read together: one loop wake per period for every caller.

Why: a talking caller's 50 datagrams a second each woke the loop on their own when the loop
watched every socket — an ``epoll_wait`` return, a context switch, a loop iteration and a
callback per datagram. With 200 talking callers that was 10 000 wakes a second, most of the
engine's CPU while its calls wait for input (bench/concurrency.py, perf: scheduler, epoll and
the loop's per-datagram callback). Here the sockets whose caller has been latched (its first
packet read, see ``RtpEndpoint``) sit in an epoll set of our own, not in the loop's: a timer
every :data:`PERIOD` asks it which sockets have data (one ``epoll_wait`` for all of them) and
reads those, so the loop wakes :data:`PERIOD`-ly whatever the number of callers.

What it changes: a datagram is handled up to :data:`PERIOD` after it arrived, and its arrival
time is when it was read. Where that could decide something — a deadline of the call due
before the next read (no-input, inter-digit, media-timeout) — the call reads its socket first
(``MediaSession.drain`` before its timer acts), so a digit pressed before a deadline counts
before it, as it did when every datagram was read the moment it came. RFC 4733 events last
50 ms and more and are sent several times; :data:`PERIOD` is a fraction of that.

Level-triggered: one datagram is read per ready socket per round and the set is asked again,
for at most :data:`ROUNDS` rounds a period (a tick that ran late reads the periods it covers,
up to :data:`MAX_LATE_PERIODS` more); what is left waits for the next tick (no caller can keep
the loop busy with a flood: each gets a fair share).
"""

from __future__ import annotations

import asyncio
import contextvars
import select
from typing import TYPE_CHECKING

from tui_engine.obs.logging import get_logger

if TYPE_CHECKING:
    from tui_engine.media.rtp import RtpEndpoint

log = get_logger("tui_engine.media")

PERIOD = 0.01  #: seconds between two reads of the latched sockets
ROUNDS = 4  #: datagrams read per socket and period, at most (a 50 pps caller sends 0.5 a period)
MAX_LATE_PERIODS = 10  #: a late tick reads this many periods more, at most (a flood costs 11× a share then)


#: the timer's context: it reads every call's socket, so no call's (each packet is handled in its
#: endpoint's own, see ``RtpEndpoint``); not the context of whichever call latched first
_NO_CALL = contextvars.Context()


def available() -> bool:
    """Whether this platform has epoll (Linux); elsewhere the loop watches every socket."""
    return hasattr(select, "epoll")


class RtpPoller:
    """One epoll set and one timer for every latched RTP endpoint; no timer while it is empty."""

    def __init__(self, *, period: float = PERIOD, rounds: int = ROUNDS) -> None:
        self.period = period
        self.rounds = rounds
        self._epoll: select.epoll | None = None
        self._endpoints: dict[int, RtpEndpoint] = {}  # fd → endpoint
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0  # loop time the pending tick is scheduled for
        self.ticks = 0  #: periods run (for tests and the curious)

    def __len__(self) -> int:
        return len(self._endpoints)

    def add(self, endpoint: RtpEndpoint) -> None:
        """Read ``endpoint``'s socket from now on (with the running loop's timer)."""
        if self._epoll is None:
            self._epoll = select.epoll()
        fd = endpoint.fileno
        if fd in self._endpoints:
            return
        self._epoll.register(fd, select.EPOLLIN)
        self._endpoints[fd] = endpoint
        if self._handle is None:
            self._loop = asyncio.get_running_loop()
            self._schedule(self._loop)

    def discard(self, endpoint: RtpEndpoint) -> None:
        """Stop reading ``endpoint``'s socket (before it is closed, or given back to the loop)."""
        fd = endpoint.fileno
        if self._endpoints.get(fd) is not endpoint:
            return
        del self._endpoints[fd]
        assert self._epoll is not None
        self._epoll.unregister(fd)
        if not self._endpoints and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        """Forget every endpoint (their sockets stay theirs) and stop."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._endpoints.clear()
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None

    def _tick(self) -> None:
        loop, epoll = self._loop, self._epoll
        assert loop is not None and epoll is not None
        self._handle = None
        self.ticks += 1
        now = loop.time()
        endpoints = self._endpoints
        # A late tick (a loaded loop) covers more than a period: it reads that many periods'
        # shares, or a caller sending more than ``rounds`` a tick (10 ms ptime on a loop 30 ms
        # late) falls behind for good and the kernel drops its packets, digits among them.
        late = min(int((now - self._due) / self.period), MAX_LATE_PERIODS) if now > self._due else 0
        try:
            for _ in range(self.rounds * (1 + late)):
                ready = epoll.poll(0)
                if not ready:
                    break
                for fd, _events in ready:
                    endpoint = endpoints.get(fd)
                    if endpoint is None:
                        continue  # discarded by an earlier datagram's handler in this round
                    try:
                        endpoint.read(now)
                    except Exception:  # one call's failure must not stop the others' reading
                        endpoint.in_call(log.exception, "media.rtp_read_failed")  # with its call_id
        finally:
            if endpoints and self._handle is None:
                self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._due = loop.time() + self.period
        self._handle = loop.call_later(self.period, self._tick, context=_NO_CALL)
