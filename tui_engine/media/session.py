"""One call's media: its RTP endpoint and sender, playback, and DTMF detectors.

Driven from outside: the shared ``MediaClock`` calls ``on_tick`` every 20 ms while this call
plays (or sends comfort packets), and the endpoint calls ``_on_packet`` per received packet.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Sequence
from typing import Any

from aiortp.packet import RtpPacket

from tui_engine.media import codecs
from tui_engine.media.clock import PERIOD, MediaClock
from tui_engine.media.dtmf import (
    DTMF_METHODS,
    DtmfArbiter,
    GoertzelDetector,
    Rfc4733Detector,
    parse_info_body,
)
from tui_engine.media.playback import DoneHandler, Playback
from tui_engine.media.prompts import SILENCE, Prompt
from tui_engine.media.recorder import Recorder, SpeechHandler
from tui_engine.media.rtp import RtpEndpoint, RtpSender
from tui_engine.media.sdp import SdpAnswer, negotiate
from tui_engine.obs.logging import get_logger

log = get_logger("tui_engine.media")

DigitHandler = Callable[[str, str], None]
"""``(digit, method)`` with method ``rfc4733``, ``inband`` or ``info``."""
FailureHandler = Callable[[str], None]
"""``(why)``: sending RTP failed for good; the call cannot be heard and must end."""

MAX_BURST = 3  #: frames sent back to back when the loop was late; older periods become a gap
_SILENT_FRAME = {codec: bytes([code]) * 160 for codec, code in SILENCE.items()}
_DECODE = {"PCMU": codecs.ulaw_to_samples, "PCMA": codecs.alaw_to_samples}


@functools.lru_cache(maxsize=512)
def _packet_types(*types: int | None) -> frozenset[int]:
    """One frozen set per combination of payload types (few), shared by every call that wants it."""
    return frozenset(t for t in types if t is not None)


class MediaSession:
    """The media half of one call (see ``MediaEngine.open_session``)."""

    __slots__ = (
        "_arbiter", "_bound_log", "_clock", "_closed", "_context", "_endpoint", "_inband", "_local_ip",
        "_on_close", "_playback", "_recorder", "_rfc4733", "_send_silence", "_sender", "_sends",
        "_session_id", "_slot", "_version", "answer", "answer_sdp", "call_id", "codec", "failed",
        "finished_at", "on_digit", "on_failed", "port", "telephone_event_pt",
    )

    def __init__(
        self,
        *,
        call_id: str,
        answer: SdpAnswer,
        endpoint: RtpEndpoint,
        port: int,
        session_id: int,
        local_ip: str,
        clock: MediaClock,
        send_silence: bool,
        on_close: Callable[[MediaSession], None],
    ) -> None:
        self.call_id = call_id
        self.port = port
        self.on_digit: DigitHandler | None = None
        #: told (soon after, not from inside the clock's tick) when sending fails for good
        self.on_failed: FailureHandler | None = None
        self.failed: str | None = None
        self._clock = clock
        self._endpoint = endpoint
        self._send_silence = send_silence
        self._on_close = on_close
        endpoint.on_packet = self._on_packet
        endpoint.on_send_failed = self._send_failed
        self._session_id, self._version, self._local_ip = session_id, 0, local_ip
        self._sender = RtpSender(answer.payload_type)
        self._rfc4733 = Rfc4733Detector()
        self._arbiter = DtmfArbiter()
        self._inband: GoertzelDetector | None = None
        self._playback: Playback | None = None
        self._recorder: Recorder | None = None
        self._slot = 0.0  # grid time of the frame being produced (set by on_tick)
        #: grid time (loop clock) at which the latest playback ran out of frames: when the caller's
        #: audio ended, which a late loop learns only later; None until one completes.
        self.finished_at: float | None = None
        self._closed = False
        #: the call's context (``call_id`` bound for its log lines, obs/context.py): a playback's
        #: end is told in it, not in the shared media clock's (scheduled from whichever call)
        self._context = contextvars.copy_context()
        self._bound_log: Any = None  # log.bind(call_id=...), made on its first line (most calls log none)
        self._apply(answer)

    @property
    def _log(self) -> Any:
        """This call's logger (``call_id`` bound), made on first use: ``bind`` through the
        module's lazy proxy builds a logger (13× a filtered line, timeit), and most calls never
        log a line here."""
        if self._bound_log is None:
            self._bound_log = log.bind(call_id=self.call_id)
        return self._bound_log

    # -- what the telephony glue calls ---------------------------------------------------------

    @property
    def playing(self) -> bool:
        return self._playback is not None

    @property
    def packets_received(self) -> int:
        """Valid RTP packets received (for metrics, and to tell a dead media path)."""
        return self._endpoint.received

    @property
    def last_received_at(self) -> float | None:
        """Loop time of the caller's last valid RTP packet (``None`` before the first)."""
        return self._endpoint.last_received_at

    @property
    def on_hold(self) -> bool:
        """The caller is not expected to send RTP: our answer does not receive (the caller
        offered ``recvonly`` or ``inactive``), or the legacy hold ``c=0.0.0.0`` (RFC 3264 §8.4)."""
        return not self.answer.direction.receives or self.answer.remote_address is None

    @property
    def packets_sent(self) -> int:
        return self._endpoint.sent

    @property
    def closed(self) -> bool:
        return self._closed

    def play(self, prompts: Sequence[Prompt], on_done: DoneHandler, *, since: float | None = None) -> None:
        """Play ``prompts`` back to back; ``on_done(True)`` after the last frame's 20 ms.

        ``since``: when the playing was due (see ``MediaClock.add``). A playback already
        running is stopped first (its ``on_done(False)``). On hold the
        prompt still runs its course in time, unheard, so the menu's timing does not change.
        """
        if self._closed:
            asyncio.get_running_loop().call_soon(on_done, False)
            return
        self.stop_playback()
        self.finished_at = None
        playback = Playback(prompts, on_done)
        if playback.frames_total == 0:
            asyncio.get_running_loop().call_soon(on_done, True)
            return
        self._playback = playback
        self._clock.add(self, since=since)

    def stop_playback(self) -> None:
        """Barge-in: stop now and call ``on_done(False)``."""
        playback, self._playback = self._playback, None
        if playback is None:
            return
        if not self._send_silence:
            self._sender.silence()
            self._clock.remove(self)  # no timer left running for a silent call
        self._notify(playback.on_done, False)

    def start_recording(self, on_speech: SpeechHandler, *, max_seconds: float = 3600.0) -> None:
        """Keep the caller's audio from now on (at most ``max_seconds``); ``on_speech(at)`` is told
        (throttled) of speech energy."""
        self._recorder = Recorder(self.codec, on_speech, max_seconds=max_seconds)
        self._want_packets()

    def stop_recording(self) -> Recorder | None:
        """Stop keeping audio; the recorder (``None`` when none ran) holds what was kept."""
        recorder, self._recorder = self._recorder, None
        if not self._closed:
            self._want_packets()
        return recorder

    def enable_inband(self, enabled: bool) -> None:
        """Run the Goertzel detector on received G.711 audio (for peers without RFC 4733)."""
        self._inband = GoertzelDetector() if enabled else None
        self._want_packets()

    def _want_packets(self) -> None:
        """Tell the endpoint which payload types to hand over: RFC 4733 events, and the voice
        too while in-band detection is on or a recording runs (every other packet is only counted)."""
        voice = self._inband is not None or self._recorder is not None
        self._endpoint.parse_types = _packet_types(self.telephone_event_pt,
                                                   self.answer.payload_type if voice else None)

    def set_dtmf_methods(self, methods: Sequence[str] = DTMF_METHODS) -> None:
        """Which DTMF methods count, most preferred first (see ``DtmfArbiter``); a new call starts over."""
        self._arbiter = DtmfArbiter(methods)

    def info_digit(self, content_type: str, body: bytes) -> str | None:
        """Parse a SIP INFO body and report its digit (method ``info``); ``DtmfError`` for garbage."""
        digit = parse_info_body(content_type, body)
        self._report(digit, "info")
        return digit

    def reoffer(self, offer_sdp: str) -> str:
        """Answer a re-INVITE on the same port; hold (sendonly/inactive) stops sending, state stays.

        Raises ``NoCommonCodec`` with nothing changed, so the dialog can answer 488 and go on.
        """
        answer = negotiate(
            offer_sdp,
            local_ip=self._local_ip,
            local_port=self.port,
            session_id=self._session_id,
            session_version=self._version + 1,
        )
        self._version += 1
        self._apply(answer)
        return answer.sdp

    def close(self) -> None:
        """Release the port and the clock; a running playback ends without its callback."""
        if self._closed:
            return
        self._closed = True
        self._playback = None
        self._recorder = None
        self._clock.remove(self)
        self._endpoint.close()
        self._on_close(self)

    # -- state from the SDP ----------------------------------------------------------------------

    def _apply(self, answer: SdpAnswer) -> None:
        self.answer = answer
        self.answer_sdp = answer.sdp
        self.codec = answer.codec
        self.telephone_event_pt = answer.telephone_event_pt
        self._sender.payload_type = answer.payload_type
        self._sends = answer.sends
        if not self._sends:
            self._sender.silence()  # the first packet after the hold starts a talkspurt
        self._endpoint.set_remote(answer.remote_address)
        self._want_packets()
        if self._send_silence and not self._closed:
            self._clock.add(self)

    # -- driven by the clock ---------------------------------------------------------------------

    def on_tick(self, now: float, due: int) -> bool:
        """Send the frames owed at ``now``: at most ``MAX_BURST`` back to back.

        Periods owed beyond the burst (the loop stalled) only move the RTP timestamp: the
        receiver plays them as a gap, and the prompt resumes where it was instead of losing
        words. On hold every owed frame is consumed unsent, so the prompt keeps its timing.
        """
        if due == 1 and self._sends:  # the loop was on time: one frame (the common case, kept short)
            self._slot = now
            payload = self._next_payload()
            if payload is not None:
                self._endpoint.send(self._sender.packet(payload, now))
        else:
            self._owed(now, due)
        wants_clock = self.failed is None and (
            self._playback is not None or (self._send_silence and not self._closed)
        )
        if not wants_clock:
            self._sender.silence()
        return wants_clock

    def _owed(self, now: float, due: int) -> None:
        """Several periods owed (a late loop), or on hold: see :meth:`on_tick`."""
        burst = due if not self._sends else min(due, MAX_BURST)
        for i in range(due - burst):
            self._sender.skip(now - (due - 1 - i) * PERIOD)
        for i in range(due - burst, due):
            frame_time = self._slot = now - (due - 1 - i) * PERIOD
            payload = self._next_payload()
            if payload is None:
                break
            if self._sends:
                self._endpoint.send(self._sender.packet(payload, frame_time))
            else:
                self._sender.skip(frame_time)

    def _send_failed(self, exc: OSError) -> None:
        """No frame can reach the caller: drop the playback (no ``on_done``: it would start the
        no-input timer for a prompt nobody heard) and report, so the call ends ``media-failed``."""
        if self.failed is not None or self._closed:
            return
        self.failed = f"{type(exc).__name__}: {exc}"
        self._playback = None
        self._log.warning("media.send_failed", why=self.failed, remote=str(self._endpoint.remote))
        if self.on_failed is not None:
            asyncio.get_running_loop().call_soon(self.on_failed, self.failed)

    def _next_payload(self) -> bytes | None:
        while self._playback is not None:
            payload = self._playback.next_frame(self.codec)
            if payload is not None:
                return payload
            playback, self._playback = self._playback, None
            self.finished_at = self._slot
            self._notify(playback.on_done, True)  # may start the next prompt: it goes out in this slot
        if self._send_silence and not self._closed:
            return _SILENT_FRAME[self.codec]
        return None

    def _notify(self, on_done: DoneHandler, completed: bool) -> None:
        try:
            self._context.copy().run(on_done, completed)  # a copy: the callback may nest another
        except Exception:
            self._log.exception("media.on_done_failed")

    # -- driven by the endpoint ------------------------------------------------------------------

    def drain(self) -> None:
        """Handle the caller's datagrams that wait in the socket now (see ``media.poller``): the
        call does this before acting on a deadline, so what arrived before it counts first."""
        if not self._closed:
            self._endpoint.drain()

    def _on_packet(self, packet: RtpPacket) -> None:
        if packet.payload_type == self.telephone_event_pt:
            digit = self._rfc4733.feed(ssrc=packet.ssrc, timestamp=packet.timestamp, payload=packet.payload)
            if digit is not None:
                self._report(digit, "rfc4733")
        elif packet.payload_type == self.answer.payload_type:
            if self._recorder is not None:
                try:  # the call's error must not escape into the RTP socket's callback
                    self._recorder.feed(packet.payload, asyncio.get_running_loop().time())
                except Exception:
                    self._log.exception("media.recorder_failed")
            if self._inband is not None:
                for digit in self._inband.feed(_DECODE[self.codec](packet.payload)):
                    self._report(digit, "inband")

    def _report(self, digit: str, method: str) -> None:
        if not self._arbiter.admit(digit, method, asyncio.get_running_loop().time()):
            self._log.info("media.digit_ignored", digit=digit, method=method, counting=self._arbiter.method)
            return
        self._log.info("media.digit", digit=digit, method=method)
        if self.on_digit is not None:
            try:  # the call's error must not escape into the RTP socket's callback
                self.on_digit(digit, method)
            except Exception:
                self._log.exception("media.on_digit_failed")
