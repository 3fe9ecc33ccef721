"""The telephony component of the engine: answers SIP calls and runs dialplans.

It implements the SIP layer's ``CallHandler`` (one object for every call) and the
engine's ``Component`` protocol (start, stop, live reload).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from tui_engine.config import EngineConfig
from tui_engine.core.overload import OverloadDetector, Refusal
from tui_engine.media.dtmf import info_status
from tui_engine.media.engine import MediaEngine
from tui_engine.media.errors import NoCommonCodec, PortsExhausted
from tui_engine.media.recorder import RecordingSlots
from tui_engine.media.session import MediaSession
from tui_engine.media.tts import Synthesizer
from tui_engine.menus import DialplanSet, load_dialplans
from tui_engine.obs.logging import get_logger
from tui_engine.runtime import DeadlineDriver
from tui_engine.sip import EndReason, ServerCall, SipServer
from tui_engine.sip.uas import RETRY_AFTER
from tui_engine.tui.admission import CallAdmission
from tui_engine.tui.call import CallInfo, CallSession, Observer, PinVerifier
from tui_engine.tui.settings import TuiSettings, tui_settings
from tui_engine.tui.webhooks import WebhookClient
from tui_engine.voicemail import Voicemail

log = get_logger("tui_engine.tui")

_SIP_END_REASON = {
    EndReason.CALLER_HANGUP: "caller-hangup",
    EndReason.CANCELLED: "caller-hangup",
    EndReason.ACK_TIMEOUT: "error",
    EndReason.ERROR: "error",
    EndReason.TRANSFERRED: "transfer",
    EndReason.SHUTDOWN: "shutdown",
    EndReason.SESSION_EXPIRED: "session-expired",
}


RecordSink = Callable[[Mapping[str, Any]], None]
"""Told once per finished call with its record (a plain mapping: see :func:`call_record`)."""


def _no_records(record: Mapping[str, Any]) -> None:
    return None


async def _no_pins(mailbox: str, pin: str) -> bool:
    return False


class TuiComponent:
    """Owns the SIP server, the media engine and every live :class:`CallSession`."""

    def __init__(
        self,
        settings: TuiSettings,
        *,
        observer: Observer | None = None,
        verify_pin: PinVerifier = _no_pins,
        history: int = 200,
        on_record: RecordSink = _no_records,
    ) -> None:
        self.settings = settings
        self._on_record = on_record
        self._observer = observer or Observer()
        self._verify_pin = verify_pin
        self._dialplans: DialplanSet = load_dialplans(
            settings.dialplan_dir, default=settings.default_dialplan, speech=settings.speech
        )
        self._speech: Synthesizer | None = None  # call-time say: (made in start: it needs the loop)
        self._sessions: dict[str, CallSession] = {}
        self._voicemail = Voicemail(settings.data_dir)
        self._recording_slots = RecordingSlots(settings.max_recordings)
        self._infos: dict[str, CallInfo] = {}
        #: calls whose answer (media opened, then 200 or 180) is due on the loop's next turn
        self._setup: dict[str, asyncio.Handle] = {}
        #: calls ringing for ``answer-delay``: the timer that answers them and their media
        self._ringing: dict[str, tuple[asyncio.TimerHandle, MediaSession]] = {}
        self.endings: deque[dict[str, Any]] = deque(maxlen=history)
        self._sip: SipServer | None = None
        self._media: MediaEngine | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._admission: CallAdmission | None = None
        self._probe: DeadlineDriver | None = None
        #: one HTTP client (one keep-alive pool) for every call's webhooks and the status webhook
        self._webhooks = WebhookClient(settings.webhooks)

    # -- Component protocol ----------------------------------------------------------
    def setup_http(self, app: Any) -> None:
        """No HTTP routes of its own: live calls reach the portal through the console source."""

    async def start(self, engine: Any = None) -> None:
        s = self.settings
        self._loop = asyncio.get_running_loop()
        await self._webhooks.start()
        self._media = MediaEngine(
            host=s.sip_host,
            port_range=s.rtp_ports,
            send_silence=s.send_silence,
            media_address=s.media_host or None,
        )
        self._media.clock.on_lateness = self._observer.media_tick
        self._speech = self._synthesizer(s)
        for plan in self._dialplans.values():  # convert every prompt once, up front
            for path in plan.prompt_paths():
                self._media.prompts.load(path)
        self._sip = SipServer(
            self, host=s.sip_host, port=s.sip_port, max_calls=s.max_calls, trusted=list(s.trusted),
            count_message=self._observer.sip_message, streams=s.streams,
        )
        await self._sip.start()
        # The gauge reads the SIP call table itself, so metrics and max-calls slots cannot disagree.
        sip = self._sip
        self._observer.count_active_calls(lambda: sip.active_calls)
        sip.endpoint.session_policy = s.session_timers
        self._start_admission(sip)
        log.info("tui.listening", sip=f"{s.sip_host}:{s.sip_port}", dialplans=sorted(self._dialplans))

    @staticmethod
    def _synthesizer(s: TuiSettings, old: Synthesizer | None = None) -> Synthesizer:
        """The call-time renderer; a reload keeps the old one (and its cache) when nothing changed."""
        voice, timeout, size = s.speech.voice, s.defaults.speech_timeout, s.speech_cache_size
        if old is not None and (old.voice, old.timeout, old.cache_size) == (voice, timeout, size):
            return old
        return Synthesizer(voice, cache_size=size, timeout=timeout)

    def _start_admission(self, sip: SipServer) -> None:
        """Overload control: the SIP endpoint asks before each new INVITE (503 before any media work)."""
        assert self._loop is not None and self._media is not None
        ports, setup = self._media.ports, self._setup
        detector = OverloadDetector(self.settings.overload, now=self._loop.time())
        # the ports left once the media set-ups under way have taken theirs
        admission = CallAdmission(detector, lambda: ports.capacity - ports.in_use - len(setup),
                                  queued=sip.receive_queue)
        self._admission = admission
        self._probe = DeadlineDriver(self._loop, detector)  # the lag probe: the one timer driver
        self._probe.arm()
        sip.endpoint.admission = admission
        sip.endpoint.shedding = admission.shedding
        sip.endpoint.on_refused = self._observer.refused
        sip.endpoint.on_invite_retransmission = admission.retransmitted_invite

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        for answer in self._setup.values():
            answer.cancel()
        self._setup.clear()
        for handle, media in self._ringing.values():
            handle.cancel()
            media.close()
        self._ringing.clear()
        if self._sip is not None:
            await self._sip.stop()
        for session in list(self._sessions.values()):
            session.end()
        self._sessions.clear()
        if self._media is not None:
            await self._media.close()
        await self._webhooks.close()  # after the calls: their requests are cancelled by now

    def apply_config(self, config: EngineConfig) -> None:
        settings = tui_settings(config)
        if settings is not None:
            self.apply(settings)

    def apply(self, settings: TuiSettings) -> None:
        """A reload: limits and menu defaults apply to calls already running; dialplans to new calls."""
        old = self.settings
        self.settings = settings
        self._webhooks.apply(settings.webhooks)
        self._dialplans = load_dialplans(
            settings.dialplan_dir, default=settings.default_dialplan, speech=settings.speech
        )
        if self._speech is not None:
            self._speech = self._synthesizer(settings, self._speech)
        self._voicemail = Voicemail(settings.data_dir)
        self._recording_slots.limit = settings.max_recordings  # running recordings keep their slot
        if self._sip is not None:
            self._sip.update_limits(max_calls=settings.max_calls, trusted=list(settings.trusted))
            self._sip.update_streams(settings.streams)
            with contextlib.suppress(RuntimeError):  # not started yet: start() applies it
                self._sip.endpoint.session_policy = settings.session_timers  # for the next INVITE
        if self._admission is not None and self._probe is not None and self._loop is not None:
            self._admission.detector.update_policy(settings.overload, self._loop.time())
            self._probe.arm()
        if settings.defaults != old.defaults:
            for session in self._sessions.values():
                session.update_defaults(settings.defaults)

    # -- what the console shows ------------------------------------------------------------
    def live_calls(self) -> list[dict[str, Any]]:
        out = []
        for call_id, info in self._infos.items():
            session = self._sessions.get(call_id)
            left = session.seconds_left() if session else None
            out.append(
                {
                    "call_id": call_id,
                    "caller": info.caller,
                    "dialplan": info.dialplan,
                    "menu": info.menu,
                    "attempt": session.runner.attempt if session else 0,
                    "of": session.runner.max_attempts if session else 0,
                    "seconds_left": None if left is None else round(left, 1),
                    "answered": session is not None,
                }
            )
        return out

    @property
    def active_calls(self) -> int:
        return len(self._infos)

    # -- SIP CallHandler -----------------------------------------------------------------
    def incoming_call(self, call: ServerCall) -> None:
        assert self._loop is not None
        plan = self._dialplans.pick(call.request_user)
        info = CallInfo(
            call_id=call.call_id,
            caller=call.from_user or call.from_uri,
            dialplan=plan.name if plan else "",
            started_at=self._loop.time(),
            started_wall=time.time(),
            dialled=call.request_user,
        )
        if plan is None:
            info.sip_status, info.end_reason = 404, "rejected"
            self._record(info, time.time())
            call.reject(404, "No dialplan for this number")
            return
        self._infos[call.call_id] = info
        if self._admission is not None:
            self._admission.admit(call.call_id, self._loop.time())
        self._observer.started()
        log.info("call.started", caller=info.caller, dialled=info.dialled, dialplan=plan.name,
                 source=call.remote_addr[0])
        # The answer is a loop callback, not a task: it runs after this returns (the 100 Trying
        # has left) and waits for nothing, so a coroutine, its task and its step cost for nothing.
        self._setup[call.call_id] = self._loop.call_soon(self._answer, call, info)

    def _answer(self, call: ServerCall, info: CallInfo) -> None:
        """Open the call's media and answer (or ring first); the call's context is bound."""
        if self._setup.pop(call.call_id, None) is None:
            return  # ended before its turn came (``call_ended``): nothing was opened
        assert self._media is not None
        try:
            media = self._media.open(call.offer_sdp or "", call_id=call.call_id)
        except NoCommonCodec as exc:
            info.end_reason, info.sip_status = "error", 488
            log.info("call.rejected", status=488, why=str(exc))
            call.reject(488, "Not Acceptable Here")
            return
        except PortsExhausted as exc:  # a local limit, not a fault: one line, no traceback
            info.end_reason, info.sip_status = "rejected", 503
            log.warning("call.rejected", status=503, reason=Refusal.RTP_PORTS.value, why=str(exc))
            self._observer.refused(Refusal.RTP_PORTS)
            call.reject(503, "Service Unavailable", {"Retry-After": RETRY_AFTER})
            return
        except Exception:
            info.end_reason, info.sip_status = "error", 503
            log.exception("call.media_failed")
            call.reject(503, "Service Unavailable", {"Retry-After": RETRY_AFTER})
            return
        delay = self.settings.answer_delay
        if delay > 0:
            # Ring first. The wait is a timer, not a task: a CANCEL meanwhile (``call_ended``)
            # cancels it and closes the media at once, so the RTP port comes back with the 487.
            assert self._loop is not None
            call.ringing()
            if self._infos.get(call.call_id) is not info:  # the 180 could not be sent: the call ended
                media.close()
                return
            if self._admission is not None:  # ringing costs no work: not a set-up under way
                self._admission.in_setup.discard(call.call_id)
            handle = self._loop.call_later(delay, self._ring_over, call, info, media)
            self._ringing[call.call_id] = (handle, media)
            return
        self._answer_or_fail(call, info, media)

    def _ring_over(self, call: ServerCall, info: CallInfo, media: MediaSession) -> None:
        """``answer-delay`` is over: answer."""
        self._ringing.pop(call.call_id, None)
        if self._admission is not None:
            self._admission.in_setup.add(call.call_id)  # the 200 goes out: set-up again until the ACK
        self._answer_or_fail(call, info, media)

    def _answer_or_fail(self, call: ServerCall, info: CallInfo, media: MediaSession) -> None:
        """Answer; a fault here (the call's session cannot be built) must not leave the call
        unanswered for ever, holding its max-calls slot, its in-setup count and its RTP port: it
        gets a 500 and its media is closed, with or without ``answer-delay``."""
        try:
            self._answer_now(call, info, media)
        except Exception:
            log.exception("call.answer_failed")
            self._sessions.pop(call.call_id, None)
            media.close()
            info.end_reason, info.sip_status = "error", 500
            with contextlib.suppress(Exception):
                call.reject(500, "Server Internal Error")

    def _answer_now(self, call: ServerCall, info: CallInfo, media: MediaSession) -> None:
        plan = self._dialplans.pick(call.request_user)
        if plan is None:  # the dialplans were reloaded while media was being set up
            media.close()
            info.sip_status, info.end_reason = 404, "rejected"
            call.reject(404, "No dialplan for this number")
            return
        assert self._loop is not None and self._media is not None
        info.dialplan = plan.name  # a reload while it rang may have given the number another one
        self._sessions[call.call_id] = CallSession(
            call=call,
            media=media,
            dialplan=plan,
            defaults=self.settings.defaults,
            prompts=self._media.prompts,
            verify_pin=self._verify_pin,
            post_webhook=self._webhooks.post,
            observer=self._observer,
            info=info,
            loop=self._loop,
            mailboxes=self._voicemail,
            speech=self._speech,
            recording_slots=self._recording_slots,
        )
        info.sip_status, info.answered_wall = 200, time.time()
        call.answer(media.answer_sdp)

    def call_confirmed(self, call: ServerCall) -> None:
        if self._admission is not None:
            self._admission.in_setup.discard(call.call_id)
        session = self._sessions.get(call.call_id)
        if session is not None and session.runner.current_menu == "":
            session.start()
            if self._webhooks.reporting:  # the event is built only for a status webhook
                self._webhooks.report(status_event("call.started", session.info))

    def call_info(self, call: ServerCall, content_type: str, body: bytes) -> int:
        session = self._sessions.get(call.call_id)
        if session is None:  # an early dialog: the verdict on the body, nothing counted
            return info_status(content_type, body)
        return session.info_digit(content_type, body)

    def call_reoffer(self, call: ServerCall, sdp: str | None) -> str | None:
        session = self._sessions.get(call.call_id)
        if session is None:
            return None
        if not sdp:
            return session.media.answer_sdp
        try:
            return session.reoffer(sdp)
        except NoCommonCodec as exc:
            log.info("call.reoffer_refused", why=str(exc))
            return None  # the SIP layer answers 488; the session stays as it was

    def call_transfer_failed(self, call: ServerCall, status: int) -> None:
        session = self._sessions.get(call.call_id)
        if session is not None:
            session.transfer_failed(status)

    def call_ended(self, call: ServerCall, reason: EndReason) -> None:
        answer = self._setup.pop(call.call_id, None)
        if answer is not None:  # ended before its answer's turn: no media is opened for it
            answer.cancel()
        ringing = self._ringing.pop(call.call_id, None)
        if ringing is not None:  # CANCELled (or refused) while ringing: no answer, the port freed now
            ringing[0].cancel()
            ringing[1].close()
        if self._admission is not None:
            self._admission.in_setup.discard(call.call_id)
        info = self._infos.pop(call.call_id, None)
        session = self._sessions.pop(call.call_id, None)
        if session is not None:
            session.end()
        if info is None:
            return
        why = info.end_reason or _SIP_END_REASON.get(reason, "completed")
        if reason in (EndReason.CALLER_HANGUP, EndReason.CANCELLED) and info.end_reason is None:
            why = "caller-hangup"
        assert self._loop is not None
        # The call ended when the BYE left (or arrived), not when Timer F gave up on its answer.
        ended_at = call.bye_at if call.bye_at is not None else self._loop.time()
        duration = ended_at - info.started_at
        attempts = session.runner.attempt if session else 0
        log.info(
            "call.ended",
            call_id=call.call_id,
            reason=why,
            sip_reason=reason.name.lower(),
            duration=round(duration, 3),
            attempts=attempts,
            digits=info.digits,
        )
        self.endings.appendleft(
            {
                "call_id": call.call_id,
                "caller": info.caller,
                "dialplan": info.dialplan,
                "reason": why,
                "duration": round(duration, 1),
                "ended_at": time.time(),
            }
        )
        self._observer.ended(why)
        info.end_reason = why
        # it was started: it ends (the event is built only for a status webhook)
        if session is not None and session.runner.current_menu and self._webhooks.reporting:
            ended = {"reason": why, "duration": round(duration, 3), "attempts": attempts}
            ended |= {"menus": list(info.menus), "no_input": info.no_input, "digits": info.digits}
            self._webhooks.report({**status_event("call.ended", info), **ended})
        if info.sip_status is None and reason in (EndReason.CANCELLED, EndReason.CALLER_HANGUP):
            # RFC 3261 §9.2: the INVITE of a cancelled call; §15.1.2: of one the caller ended by
            # a BYE in the early dialog while it rang (the SIP layer answered it 487 too)
            info.sip_status = 487
        self._record(info, self.endings[0]["ended_at"])

    def _record(self, info: CallInfo, ended_at: float) -> None:
        try:
            self._on_record(call_record(info, ended_at))
        except Exception:  # a broken sink must not break the call path
            log.exception("call.record_failed")


def call_record(info: CallInfo, ended_at: float) -> dict[str, Any]:
    """The call record (CDR) of a finished call, as plain data (epoch seconds)."""
    return {
        "call_id": info.call_id,
        "started_at": info.started_wall,
        "answered_at": info.answered_wall,
        "ended_at": ended_at,
        "caller": info.caller,
        "dialled": info.dialled,
        "dialplan": info.dialplan,
        "menus": list(info.menus),
        "digits": info.digits,
        "no_input": info.no_input,
        "end_reason": info.end_reason or "completed",
        "sip_status": info.sip_status,
    }


def status_event(event: str, info: CallInfo) -> dict[str, Any]:
    """What the status webhook says of a call (``call.ended`` adds reason, duration, attempts...)."""
    return {
        "event": event,
        "call_id": info.call_id,
        "caller": info.caller,
        "dialled": info.dialled,
        "dialplan": info.dialplan,
        "at": time.time(),
    }
