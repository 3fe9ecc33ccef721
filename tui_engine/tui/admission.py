"""The telephony component's answer to the SIP endpoint's "may this INVITE come in?".

It joins what only this layer knows (which calls are still in set-up, how many RTP ports are
left once the set-ups under way take theirs) with the overload detector of the core, so the
SIP layer refuses with 503 before any SDP or RTP work (see :mod:`tui_engine.core.overload`).
"""

from __future__ import annotations

from collections.abc import Callable

from tui_engine.core.overload import BACKLOG_WINDOW, OverloadDetector, Refusal


class CallAdmission:
    """``SipEndpoint.admission``: ``(now) -> reason | None``; ``in_setup`` is kept by the component
    (:meth:`admit` for each call it takes)."""

    __slots__ = ("_free_ports", "_peeked", "_queued", "detector", "in_setup")

    def __init__(
        self, detector: OverloadDetector, free_ports: Callable[[], int],
        queued: Callable[[], int] = lambda: 0,
    ) -> None:
        self.detector = detector
        self._free_ports = free_ports
        #: bytes waiting unread in the SIP socket (``SipServer.receive_queue``)
        self._queued = queued
        #: Call-IDs admitted whose ACK has not arrived yet (nor has the call ended)
        self.in_setup: set[str] = set()
        #: the last answer of :meth:`shedding`: ``(now, calls in set-up, reason)``
        self._peeked: tuple[float, int, str | None] | None = None

    def __call__(self, now: float) -> str | None:
        """``SipEndpoint.admission``: counts the INVITE and decides. The endpoint asks
        :meth:`shedding` about the same INVITE just before (at the same ``now``, nothing taken
        in between): that answer is used again rather than computed twice (a socket-option read
        and the detector per INVITE, under overload)."""
        self.detector.invite(retransmission=False)
        peeked, self._peeked = self._peeked, None
        if peeked is not None and peeked[0] == now and peeked[1] == len(self.in_setup):
            return peeked[2]
        return self._decide(now)

    def admit(self, call_id: str, now: float) -> None:
        """The application took a call this admission let in: it is in set-up, and it takes the
        admission rate's token (behind a backlog). Not at the admission's yes: the endpoint may
        still refuse the INVITE (422, a 100 that cannot be sent) and the component (404)."""
        self.in_setup.add(call_id)
        self.detector.admitted(now)

    def shedding(self, now: float) -> str | None:
        """``SipEndpoint.shedding``: what :meth:`__call__` would answer now, counting nothing."""
        reason = self._decide(now)
        self._peeked = (now, len(self.in_setup), reason)
        return reason

    def _decide(self, now: float) -> str | None:
        if self._free_ports() <= 0:
            return Refusal.RTP_PORTS
        in_setup = len(self.in_setup)
        # The backlog counts only from BACKLOG_WINDOW calls in set-up on: below that, no getsockopt
        # (once per INVITE: the admission reuses the shedding peek's answer).
        queued = self._queued() if in_setup >= BACKLOG_WINDOW else None
        return self.detector.refusal(now, calls_in_setup=in_setup, queued=queued)

    def retransmitted_invite(self) -> None:
        """``SipEndpoint.on_invite_retransmission``: a caller repeated an INVITE we hold."""
        self.detector.invite(retransmission=True)
