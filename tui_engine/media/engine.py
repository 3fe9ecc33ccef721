"""The media engine of the process: port allocator, the one media clock, the RTP poller, the prompt cache."""

from __future__ import annotations

from tui_engine.core.entropy import random_bits
from tui_engine.media import poller
from tui_engine.media.clock import MediaClock
from tui_engine.media.prompts import PromptCache
from tui_engine.media.rtp import PortAllocator, RtpEndpoint, open_endpoint
from tui_engine.media.sdp import read_offer
from tui_engine.media.session import MediaSession
from tui_engine.obs.logging import get_logger

log = get_logger("tui_engine.media")


class MediaEngine:
    """One per process. ``host`` is where RTP sockets bind; ``media_address`` goes into the SDP
    (``engine.media-address``; defaults to ``host``)."""

    def __init__(
        self,
        *,
        host: str,
        port_range: tuple[int, int],
        send_silence: bool = False,
        media_address: str | None = None,
    ) -> None:
        self.host = host
        self.media_address = media_address or host
        self.send_silence = send_silence
        self.ports = PortAllocator(*port_range)
        self.clock = MediaClock()
        #: reads every latched call's RTP socket on one timer (None: no epoll, the loop watches each)
        self.poller = poller.RtpPoller() if poller.available() else None
        self.prompts = PromptCache()
        self._sessions: set[MediaSession] = set()

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    def open(self, offer_sdp: str, *, call_id: str) -> MediaSession:
        """Negotiate ``offer_sdp`` and open the call's RTP port.

        Raises ``NoCommonCodec``/``SdpError`` (status 488) before any port is taken, and
        ``PortsExhausted`` when the range is full.
        """
        session_id = random_bits(32)
        offer = read_offer(offer_sdp, local_ip=self.media_address)  # judged before a port is taken
        endpoint, port = open_endpoint(self.ports, self.host, readers=self.poller)
        try:
            answer = offer.answer(local_port=port, session_id=session_id)
            session = MediaSession(
                call_id=call_id,
                answer=answer,
                endpoint=endpoint,
                port=port,
                session_id=session_id,
                local_ip=self.media_address,
                clock=self.clock,
                send_silence=self.send_silence,
                on_close=self._closed,
            )
        except BaseException:  # nobody owns the socket yet: unclosed, its port never comes back
            endpoint.close()
            self.ports.release(port)
            raise
        self._sessions.add(session)
        log.debug(
            "media.session_opened",
            call_id=call_id,
            port=port,
            codec=answer.codec,
            telephone_event_pt=answer.telephone_event_pt,
            direction=answer.direction.value,
        )
        return session

    async def open_session(self, offer_sdp: str, *, call_id: str) -> MediaSession:
        """:meth:`open` for a coroutine (nothing in it waits: a call's answer opens it directly)."""
        return self.open(offer_sdp, call_id=call_id)

    def _closed(self, session: MediaSession) -> None:
        self._sessions.discard(session)
        self.ports.release(session.port)

    async def close(self) -> None:
        """Close every session (no playback callbacks) and stop the clock and the poller."""
        for session in list(self._sessions):
            session.close()
        self.clock.close()
        if self.poller is not None:
            self.poller.close()


__all__ = ["MediaEngine", "MediaSession", "RtpEndpoint"]
