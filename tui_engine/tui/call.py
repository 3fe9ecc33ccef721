"""One call: SIP dialog + media session + menu interpreter, driven by one timer.

The menu interpreter is sans-I/O (it takes ``now`` and returns actions and a deadline);
this module performs the actions (play prompts, stop playback, hang up, transfer,
check a PIN) and feeds back what happened (prompt finished, digit, PIN result).
The call is a :class:`~tui_engine.runtime.Pollable`: the one timer driver
(:class:`~tui_engine.runtime.DeadlineDriver`) keeps one handle per call and re-arms it
lazily: a digit moves the deadline inside the interpreter, the handle wakes early, finds
nothing due and re-arms. Any :class:`~tui_engine.runtime.TimerLoop` will do, so a test can
drive a whole call on :class:`tui_engine.testing.FakeLoop`.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, assert_never

from tui_engine.media.dtmf import info_status
from tui_engine.media.engine import MediaSession
from tui_engine.media.errors import PromptError
from tui_engine.media.prompts import Prompt, PromptCache
from tui_engine.media.recorder import RecordingSlot, RecordingSlots, playback_prompt
from tui_engine.media.tts import SpeechError, Synthesizer
from tui_engine.menus import (
    Action,
    AttemptsExhausted,
    Authenticate,
    DigitsCollected,
    GuardTripped,
    Hangup,
    MenuDefaults,
    MenuEntered,
    MenuRunner,
    PlayPrompts,
    Reprompt,
    StopPlayback,
    SwitchTaken,
    Transfer,
    TransferFailed,
    VariablesSet,
    WebhookAnswered,
    WebhookFailed,
    WebhookRequest,
)
from tui_engine.menus.actions import Speak, SpeechSkipped
from tui_engine.menus.model import Dialplan
from tui_engine.menus.record import StartRecording, StopRecording, keep_recording
from tui_engine.menus.runner import Phase
from tui_engine.menus.speech import Rendered, spoken
from tui_engine.menus.voicemail import Mailboxes, MailboxRequest, MailboxResult
from tui_engine.obs.logging import get_logger
from tui_engine.runtime import DeadlineDriver, TimerLoop
from tui_engine.sip import ServerCall
from tui_engine.tui.webhooks import WebhookError

log = get_logger("tui_engine.call")

_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

PinVerifier = Callable[[str, str], Awaitable[bool]]
"""``await verify(mailbox, pin)``: True when the PIN is right for that mailbox."""

WebhookPoster = Callable[[str, Mapping[str, Any]], Awaitable[object]]
"""``await post(url, payload)``: the parsed JSON answer, or :class:`WebhookError`."""


async def _no_webhooks(url: str, payload: Mapping[str, Any]) -> object:
    raise WebhookError("no webhook client")


class Observer:
    """What a call reports to its owner (metrics, dashboards); no-ops by default."""

    def lateness(self, kind: str, seconds: float) -> None: ...

    def digit(self, method: str) -> None: ...

    def sip_message(self, direction: str, method: str) -> None:
        """One SIP message ``in`` or ``out``; ``method`` is a method or a status (``sip_messages_total``)."""

    def media_tick(self, lateness: float) -> None:
        """One tick of the process's media clock ran ``lateness`` seconds after its deadline."""

    def count_active_calls(self, count: Callable[[], int]) -> None:
        """``count()`` is the number of calls in progress (the SIP call table), read on demand."""

    def started(self) -> None: ...

    def webhook(self, outcome: str, seconds: float) -> None:
        """A webhook answered (``step``, ``menu``) or failed (:func:`webhook_outcome`) after ``seconds``."""

    def ended(self, reason: str) -> None: ...

    def refused(self, reason: str) -> None:
        """A new call got 503; ``reason`` is a ``core.overload.Refusal`` value."""


@dataclass(slots=True)
class CallInfo:
    """What the console shows of a live call."""

    call_id: str
    caller: str
    dialplan: str
    started_at: float  # loop time
    started_wall: float  # epoch seconds
    menu: str = ""
    digits: int = 0
    end_reason: str | None = None
    # for the call record (CDR)
    dialled: str = ""
    answered_wall: float | None = None
    sip_status: int | None = None
    menus: list[str] = field(default_factory=list)
    no_input: int = 0
    extra: dict[str, str] = field(default_factory=dict)


_WEBHOOK_OUTCOMES = (
    ("timeout", "timeout"), ("HTTP ", "http-error"), ("connection failed", "connection"),
    ("invalid answer", "invalid-answer"), ("answer ", "bad-answer"),
)  # fmt: skip


def webhook_outcome(why: str) -> str:
    """A failure's ``why`` as a metrics label (a bounded set, not the free text)."""
    return next((label for prefix, label in _WEBHOOK_OUTCOMES if why.startswith(prefix)), "error")


def call_variables(info: CallInfo) -> dict[str, str]:
    """The built-in variables a call starts with (what the caller's INVITE said)."""
    return {"caller": info.caller, "dialled": info.dialled, "call_id": info.call_id}


class CallSession:
    """Runs one dialplan on one answered call."""

    __slots__ = (
        "_bye_allowance", "_bye_at", "_ctx", "_done", "_driver", "_follow_up", "_loop", "_mailboxes",
        "_observer", "_playing", "_post_webhook", "_prompt_ended_at", "_prompts", "_recording_slots",
        "_recordings", "_saves", "_slot", "_speech", "_speech_failed", "_tasks", "_verify_pin",
        "_webhook_sent_at", "_webhook_task", "call", "info", "media", "runner",
    )

    def __init__(
        self,
        *,
        call: ServerCall,
        media: MediaSession,
        dialplan: Dialplan,
        defaults: MenuDefaults,
        prompts: PromptCache,
        verify_pin: PinVerifier,
        observer: Observer,
        info: CallInfo,
        loop: TimerLoop,
        post_webhook: WebhookPoster = _no_webhooks,
        speech: Synthesizer | None = None,
        mailboxes: Mailboxes | None = None,
        recording_slots: RecordingSlots | None = None,
    ) -> None:
        self.call = call
        self.media = media
        self.info = info
        self.runner = MenuRunner(
            dialplan,
            defaults,
            variables=call_variables(info),
            epoch_offset=info.started_wall - info.started_at,  # the wall clock, as a value
        )
        self._prompts = prompts
        self._verify_pin = verify_pin
        self._post_webhook = post_webhook
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_sent_at = 0.0
        self._speech = speech  # None: call-time ``say:`` is skipped (logged once)
        self._speech_failed = False  # a failure is logged once per call, not per prompt
        self._observer = observer
        self._loop = loop
        #: the call's tasks (a PIN check, a webhook...): made with the first (most calls have none)
        self._tasks: set[asyncio.Task[None]] | None = None
        #: recordings being written: not cancelled when the call ends (a hung-up caller's message is kept)
        self._saves: set[asyncio.Task[None]] | None = None
        self._mailboxes = mailboxes
        self._recordings = 0
        self._recording_slots = recording_slots  # engine-wide (max-recordings); None: no bound
        self._slot: RecordingSlot | None = None  # the running recording's, handed to its save
        #: what the runner answered to an action of the list being performed (a recording refused)
        self._follow_up: list[Action] = []
        self._playing = False
        self._done = False
        #: while the actions that follow a completed prompt run: when its audio ended.
        self._prompt_ended_at: float | None = None
        #: the BYE waits until then (goodbye's last frame + the caller's jitter-buffer allowance)
        self._bye_at: float | None = None
        self._bye_allowance = defaults.bye_allowance
        # call_id is bound when the call starts: timers and tasks keep it on their log lines
        self._ctx = contextvars.copy_context()
        self._driver = DeadlineDriver(loop, self, context=self._ctx)
        media.on_digit = self._on_digit
        media.set_dtmf_methods(defaults.dtmf_methods)
        media.on_failed = self._on_media_failed
        if defaults.inband_dtmf:
            media.enable_inband(True)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._run(self.runner.start(self._loop.time()))

    def end(self) -> None:
        """The dialog is over (whoever ended it): stop timers, media and pending work."""
        if self._done:
            return
        if self.runner.phase is Phase.RECORDING:  # the caller hung up mid-message: it is kept
            # the message's last frames may still wait in the socket (RTP is read in batches,
            # media.poller); a key pressed among them no longer matters: the caller is gone
            self.media.on_digit = None
            self.media.drain()
            if self.runner.phase is Phase.RECORDING:  # those frames may have reached max-length
                for action in self.runner.caller_hangup(self._loop.time()):
                    if isinstance(action, StopRecording):
                        self._stop_recording(action)
        self._done = True
        if self._slot is not None:  # a recording the runner never stopped: not kept, slot back
            self._slot.release()
            self._slot = None
        self._driver.close()  # breaks the cycle through its bound method: freed without a full GC
        self.runner.call_ended(self._loop.time())
        for task in self._tasks or ():
            task.cancel()
        self.media.on_digit = None
        self.media.on_failed = None
        self.media.close()

    def reoffer(self, offer_sdp: str) -> str:
        """A re-INVITE/UPDATE offer (``NoCommonCodec`` propagates): hold starts or ends here."""
        answer = self.media.reoffer(offer_sdp)
        self._arm()  # hold starts or ends: the media guard is held or restarted
        return answer

    def update_defaults(self, defaults: MenuDefaults) -> None:
        if not self._done:
            self.media.enable_inband(defaults.inband_dtmf)
            self._run(self.runner.update_defaults(defaults, self._loop.time()))

    def seconds_left(self) -> float | None:
        return None if self._done else self.runner.seconds_left(self._loop.time())

    # -- inputs --------------------------------------------------------------------------
    def _on_digit(self, digit: str, method: str) -> None:
        if self._done:
            return
        self.info.digits += 1
        self._observer.digit(method)
        log.info("dtmf.received", digit=digit, method=method, menu=self.runner.current_menu)
        self._run(self.runner.digit(digit, self._loop.time()))

    def transfer_failed(self, status: int) -> None:
        """The SIP layer: the REFER got ``status`` (non-2xx), or a NOTIFY sipfrag reported it."""
        if not self._done:
            self._run(self.runner.transfer_failed(str(status), self._loop.time()))

    def info_digit(self, content_type: str, body: bytes) -> int:
        """A SIP INFO (RFC 6086, application/dtmf-relay): the status to answer it with."""
        status = info_status(content_type, body)
        if status != 200:
            log.warning("dtmf.info_rejected", content_type=content_type, status=status)
        elif body and not self._done:
            # RTP is read in batches (media.poller): what the caller sent before this INFO and
            # still waits in the socket comes first, its audio (a recording an INFO "#" ends
            # keeps it) and its RFC 4733 digits (an entry keeps its order).
            self.media.drain()
            if not self._done:
                self.media.info_digit(content_type, body)
        return status

    def _on_media_failed(self, why: str) -> None:
        if not self._done:
            log.warning("call.media_failed", why=why, menu=self.runner.current_menu)
            self._run(self.runner.media_failed(self._loop.time()))

    def _on_prompt_done(self, completed: bool) -> None:
        if self._done or not self._playing:
            return
        self._playing = False
        now = self._loop.time()
        # The silence starts when the audio ended (the media grid's slot), not when a late loop
        # got round to telling us: otherwise every prompt adds the tick's lateness to the call.
        ended = self.media.finished_at if completed else None
        at = now if ended is None else min(ended, now)
        # late_ms: how long before this line the audio ended (its timestamp minus that is when the
        # silence began; a loaded loop logs it late, and the no-input period runs from the end).
        log.info(
            "prompt.finished", completed=completed, menu=self.runner.current_menu,
            late_ms=round((now - at) * 1000, 3),
        )  # fmt: skip
        self._prompt_ended_at = at if completed else None
        try:
            self._run(self.runner.prompt_finished(at, completed))
        finally:
            self._prompt_ended_at = None

    # -- actions -----------------------------------------------------------------------
    def _run(self, actions: list[Action], *, due: float | None = None) -> None:
        """``due``: the deadline that produced ``actions`` (a timer's), so prompts keep to it."""
        now = self._loop.time()
        try:
            while actions:
                for action in actions:
                    if self._done:
                        return
                    self._perform(action, now, due)
                actions, self._follow_up = self._follow_up, []
        finally:  # an action that raised must not leave the call without its next deadline
            self._follow_up = []
            self._arm()

    def _perform(self, action: Action, now: float, due: float | None = None) -> None:
        match action:
            case PlayPrompts():
                self._play(action, due)
            case StopPlayback():
                if self._playing:
                    self.media.stop_playback()
            case MenuEntered(menu=menu):
                self.info.menu = menu
                self.info.menus.append(menu)
                log.info("menu.entered", menu=menu)
            case Reprompt():
                lateness = now - action.due
                self.info.no_input += 1
                self._observer.lateness("reprompt", lateness)
                log.info(
                    "idle.reprompt",
                    menu=action.menu,
                    attempt=action.attempt,
                    of=action.of,
                    lateness_ms=round(lateness * 1000, 3),
                )
            case AttemptsExhausted():
                lateness = now - action.due
                self.info.no_input += 1
                self._observer.lateness("disconnect", lateness)
                log.info(
                    "idle.disconnect" if action.then == "hangup" else "idle.no_input_exhausted",
                    then=action.then,
                    menu=action.menu,
                    attempt=action.attempts,
                    of=action.attempts,
                    lateness_ms=round(lateness * 1000, 3),
                )
            case GuardTripped(guard=guard):
                lateness = now - action.due
                self._observer.lateness("disconnect", lateness)  # the same histogram as no-input
                log.info(
                    f"idle.{guard.replace('-', '_')}",
                    limit_s=action.limit,
                    menu=self.runner.current_menu,
                    lateness_ms=round(lateness * 1000, 3),
                )
            case DigitsCollected(var=var, value=value):
                log.info("menu.collected", var=var, length=len(value))
            case VariablesSet(values=values):
                log.info("menu.set", variables=[name for name, _ in values])  # values may be personal
            case SwitchTaken(variable=variable, case=case):
                log.info("menu.switch", variable=variable, case=case if case is not None else "default")
            case Authenticate(mailbox=mailbox, pin=pin):
                self._spawn(self._authenticate(mailbox, pin))
            case Transfer(uri=uri, timeout=timeout):
                log.info("call.transfer", target=uri, timeout_s=timeout)
                self.call.refer(uri)
            case TransferFailed(uri=uri, why=why):
                log.warning("call.transfer_failed", target=uri, why=why, menu=self.runner.current_menu)
                if why == "timeout":
                    self.call.cancel_transfer()  # a NOTIFY 2xx now would end a call back in the menu
            case WebhookRequest(url=url, request_id=request_id):
                log.info("webhook.sent", url=url, request_id=request_id, menu=self.runner.current_menu)
                self._webhook_sent_at = now
                self._webhook_task = self._spawn(self._webhook(action))
            case WebhookAnswered(url=url, kind=kind):
                self._observer.webhook(kind, now - self._webhook_sent_at)
                log.info("webhook.answered", url=url, kind=kind, menu=self.runner.current_menu)
            case WebhookFailed(url=url, why=why):
                self._observer.webhook(webhook_outcome(why), now - self._webhook_sent_at)
                log.warning("webhook.failed", url=url, why=why, menu=self.runner.current_menu)
                if self._webhook_task is not None:  # a timeout: the runner has moved on
                    self._webhook_task.cancel()
            case Speak():
                self._spawn(self._speak(action))
            case SpeechSkipped(kind=kind, text=text, why=why):
                self._speech_trouble(kind=kind, text=text, why=why)
            case StartRecording(max_length=max_length):
                self._start_recording(max_length, now)
            case StopRecording():
                self._stop_recording(action)
            case MailboxRequest(op=op, mailbox=mailbox):
                log.info("voicemail.request", op=op, mailbox=mailbox)
                self._spawn(self._mailbox(action))
            case Hangup(reason=reason):
                self.info.end_reason = reason
                if reason == "transfer":
                    return  # the SIP layer sent the BYE when the NOTIFY reported success
                if self._prompt_ended_at is None:
                    self.call.hangup()  # nothing was playing to the end: no reason to wait
                else:  # the goodbye ended: the BYE is due once the caller has heard it
                    self._bye_at = self._prompt_ended_at + self._bye_allowance
                    if self._bye_at <= now:
                        self._send_bye(now)
            case _:
                assert_never(action)  # mypy proves every Action is handled above

    def _play(self, action: PlayPrompts, due: float | None = None) -> None:
        prompts = [
            ref.audio if ref.audio is not None else self._prompts.load(ref.path) for ref in action.prompts
        ]
        if self._playing:
            self.media.stop_playback()
        self._playing = True
        log.info(
            "prompt.started",
            prompts=[ref.path.name for ref in action.prompts],
            duration=round(sum(p.duration for p in prompts), 3),
            barge_in=action.barge_in,
        )
        self.media.play(prompts, self._on_prompt_done, since=due)

    async def _speak(self, action: Speak) -> None:
        """Render the texts (the synthesizer has its own time limit; the runner another)."""
        prompts = await asyncio.gather(*(self._render(text) for text in action.texts))
        pairs = zip(action.texts, prompts, strict=True)
        rendered: dict[str, Rendered] = {
            text: p if isinstance(p, str) else spoken(text, p) for text, p in pairs
        }
        if not self._done:
            self._run(self.runner.speech_rendered(action.id, rendered, self._loop.time()))

    async def _render(self, text: str) -> Prompt | str:
        """The prompt, or why not (the runner reports it in ``SpeechSkipped``: logged once)."""
        if self._speech is None:
            return "no speech synthesizer configured"
        try:
            return await self._speech.render(text)
        except SpeechError as exc:
            return exc.reason
        except Exception as exc:  # a bug must not keep the call from its prompt: skip, log
            log.exception("speech.render_error")
            return repr(exc)

    def _speech_trouble(self, *, kind: str, text: str, why: str) -> None:
        """An item not said: logged once per call at warning (then debug), the call goes on."""
        level = log.debug if self._speech_failed else log.warning
        self._speech_failed = True
        level("speech.skipped", kind=kind, chars=len(text), why=why, menu=self.runner.current_menu)

    async def _authenticate(self, mailbox: str, pin: str) -> None:
        try:
            ok = await self._verify_pin(mailbox, pin)
        except Exception:
            log.exception("call.pin_check_failed")
            ok = False
        log.info("call.authenticated" if ok else "call.auth_refused", mailbox=mailbox)
        if not self._done:
            self._run(self.runner.auth_result(ok, self._loop.time()))

    async def _webhook(self, request: WebhookRequest) -> None:
        """POST it; report the answer or the failure (a cancellation is the runner's timeout)."""
        try:
            answer = await self._post_webhook(request.url, request.payload)
        except WebhookError as exc:
            outcome = self.runner.webhook_failed(request.request_id, exc.why, self._loop.time())
        except Exception:
            log.exception("webhook.error", url=request.url)
            outcome = self.runner.webhook_failed(request.request_id, "error", self._loop.time())
        else:
            outcome = self.runner.webhook_answered(request.request_id, answer, self._loop.time())
        finally:
            if self._webhook_task is asyncio.current_task():
                self._webhook_task = None
        if not self._done:
            self._run(outcome)

    # -- record and voicemail steps ------------------------------------------------------
    def _on_speech(self, at: float) -> None:
        if not self._done:
            self._run(self.runner.speech(at))

    def _start_recording(self, max_length: float, now: float) -> None:
        slots = self._recording_slots
        if slots is not None:
            self._slot = slots.take()
            if self._slot is None:  # the runner runs the step's on-failed, after this action list
                log.warning("record.refused", why=f"{slots.limit} recordings at once (max-recordings)",
                            menu=self.runner.current_menu)
                self._follow_up = self.runner.recording_refused(now)
                return
        log.info("record.started", max_length_s=max_length, menu=self.runner.current_menu)
        self.media.start_recording(self._on_speech, max_seconds=max_length + 1.0)

    def _stop_recording(self, stop: StopRecording) -> None:
        slot, self._slot = self._slot, None  # held until the audio is written or dropped
        recorder = self.media.stop_recording()
        self._recordings += 1
        safe_id = _FILE_UNSAFE.sub("_", self.info.call_id)[:48]
        name = f"{safe_id}-{int(self.info.started_wall)}-{self._recordings}"
        mailboxes, caller = self._mailboxes, self.info.caller

        def save() -> str:  # in a worker thread: decoding the G.711 and the file write
            if mailboxes is None or recorder is None:
                raise OSError("no data directory for recordings")
            return mailboxes.save_recording(stop, recorder.audio(stop.trim), caller=caller, name=name)

        seconds = max(0.0, recorder.seconds - stop.trim) if recorder is not None else 0.0
        log.info(
            "record.stopped", reason=stop.reason, keep=stop.keep, seconds=round(seconds, 2),
            mailbox=stop.mailbox,
        )
        self._spawn(self._save(save, stop, seconds, slot), kept=True)

    async def _save(
        self, save: Callable[[], str], stop: StopRecording, seconds: float, slot: RecordingSlot | None
    ) -> None:
        """Write the recording in a worker thread (up to a few MB), then tell the runner."""
        try:
            path, seconds = await asyncio.to_thread(keep_recording, save, stop, seconds)
        finally:
            if slot is not None:
                slot.release()
        if path:
            log.info("record.saved", path=path, seconds=round(seconds, 2), mailbox=stop.mailbox)
        if not self._done:
            self._run(self.runner.recording_saved(path, seconds, self._loop.time()))

    async def _mailbox(self, request: MailboxRequest) -> None:
        result = await asyncio.to_thread(self._prepare_mailbox, request)
        shown = {k: v for k, v in result.values.items() if k != "message_ids"}
        log.info("voicemail.result", op=request.op, ok=result.ok, why=result.why or None, values=shown)
        if not self._done:
            self._run(self.runner.mailbox_result(result, self._loop.time()))

    def _prepare_mailbox(self, request: MailboxRequest) -> MailboxResult:
        """In a worker thread: the store's file work and the G.711 conversion of a message (a
        two-minute message is a second of table look-ups: not on the event loop). Messages are not
        put in the prompt cache: each is heard a few times, then deleted."""
        if self._mailboxes is None:
            return MailboxResult(ok=False, why="no voicemail store")
        result = self._mailboxes.perform(request)
        try:
            audio = tuple(
                dataclasses.replace(ref, audio=playback_prompt(ref.path))
                for ref in result.audio
            )
        except PromptError as exc:
            return MailboxResult(ok=False, why=str(exc))
        return dataclasses.replace(result, audio=audio)

    def _spawn(self, coro: Awaitable[None], *, kept: bool = False) -> asyncio.Task[None]:
        """A task of the call, cancelled when it ends; ``kept``: one that outlives it (a save)."""
        loop = asyncio.get_running_loop()  # a PIN check is I/O: only a real loop runs one
        task: asyncio.Task[None] = loop.create_task(coro, context=self._ctx)  # type: ignore[arg-type]
        if kept:
            held = self._saves = self._saves if self._saves is not None else set()
        else:
            held = self._tasks = self._tasks if self._tasks is not None else set()
        held.add(task)
        task.add_done_callback(held.discard)
        return task

    # -- the driver's side (Pollable) ---------------------------------------------------
    def _arm(self) -> None:
        if not self._done:
            self._media_seen(self._loop.time())
            self._driver.arm()

    def _media_seen(self, now: float) -> None:
        """Tell the media guard of the caller's packets: two reads, so no packet costs a timer."""
        self.runner.media_seen(self.media.last_received_at, on_hold=self.media.on_hold, now=now)

    def next_deadline(self) -> float | None:
        if self._done:
            return None
        return self._bye_at if self._bye_at is not None else self.runner.next_deadline()

    def _send_bye(self, now: float) -> None:
        """The BYE after the goodbye; its lateness is measured from when it was due (the
        allowance is the configured wait, not lateness)."""
        assert self._bye_at is not None
        self._observer.lateness("hangup", now - self._bye_at)
        self._bye_at = None
        self.call.hangup()

    def poll(self, now: float) -> bool:
        """Act on what the interpreter finds due at ``now`` (True when something was)."""
        if self._done:
            return False
        if self._bye_at is not None:
            if now < self._bye_at:
                return False
            self._send_bye(now)
            return True
        woke_for = self._driver.timer.armed_at
        self.media.drain()  # a digit (or a packet for the media guard) that came before the deadline
        if self._done:
            return True
        self._media_seen(now)  # lazily: what arrived since the last event
        actions = self.runner.poll(now)
        self._run(actions, due=min(woke_for, now))
        return bool(actions)
