"""The sans-I/O menu interpreter: events in (with ``now``), actions out.

One :class:`MenuRunner` per call. It never reads a clock and never sleeps: the driver passes
``now`` (``loop.time()``), performs the returned actions and calls :meth:`MenuRunner.poll`
at :meth:`MenuRunner.next_deadline`. The same runner serves real calls and ``simulate``.

Timing rules (after VoiceXML 2.1 §4.1.7 and FreeSWITCH ``ivr_menu``):

* The no-input cycle is the idle core's (:class:`~tui_engine.core.IdleSession`): a prompt
  playing is a *progress*, so the silent period starts when the prompt ends; any digit is
  activity and resets the no-input count. Each menu visit gets a fresh session (VoiceXML:
  counters reset when a form is re-entered).
* Invalid input has its own counter (FreeSWITCH ``max-failures``); a valid choice resets it.
* Escalating prompts: play n of a menu visit uses ``prompts[n-1]``, the last one repeating
  (VoiceXML ``<prompt count>``). Without invalid input, play n is no-input attempt n.
* Type-ahead: digits are never lost. A digit during a barge-in prompt stops it
  (:class:`StopPlayback`) and is kept; digits during a prompt without barge-in, or while an
  authentication is pending, wait in a buffer and are used, in order, once it is over. A
  barge-in prompt is skipped when digits are already waiting for it.
* Digit entry (collect menus): after the first digit the no-input timer is held (typing is
  progress) and only the inter-digit timer runs, so a whole-entry timer can never swallow
  the inter-digit timeout (a complaint in Asterisk/FreeSWITCH trackers).
* Call-wide guards (:class:`~tui_engine.core.CallGuards`) run beside the menus from the
  answer on: ``max-call-duration``, ``max-silence-total`` (the time the no-input timer ran,
  summed over every menu) and ``media-timeout``. The first to expire interrupts whatever
  plays (:class:`StopPlayback`), then the goodbye and ``Hangup(reason=<guard>)``; during the
  goodbye itself it hangs up at once.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from tui_engine.core import (
    Activity,
    CallGuards,
    Disconnect,
    GuardExpired,
    IdleSession,
    IdleState,
    PolicyChanged,
    ProgressFinished,
    ProgressStarted,
    Started,
    Stopped,
)
from tui_engine.core import Reprompt as CoreReprompt
from tui_engine.menus.actions import (
    Action,
    AttemptsExhausted,
    Authenticate,
    DigitsCollected,
    GuardTripped,
    Hangup,
    MenuEntered,
    PlayPrompts,
    Reprompt,
    Speak,
    StopPlayback,
    SwitchTaken,
    Transfer,
    TransferFailed,
    VariablesSet,
)
from tui_engine.menus.answers import AnswerError, parse_answer
from tui_engine.menus.errors import MenuError
from tui_engine.menus.model import AuthStep, Dialplan, HangupReason, Menu, PromptItem, PromptRef, Step
from tui_engine.menus.record import FILE_WORK_TIMEOUT, EndReason, Recording, RecordStep, StartRecording
from tui_engine.menus.settings import Effective, MenuDefaults, effective
from tui_engine.menus.speech import Rendered, Resolution, resolve
from tui_engine.menus.switch import Switch
from tui_engine.menus.template import render
from tui_engine.menus.variables import apply_set, clock_values, sip_uri, time_zone, without_clock
from tui_engine.menus.voicemail import MailboxRequest, MailboxResult, VoicemailStep
from tui_engine.menus.webhook import (
    MAX_WEBHOOK_CHAIN,
    WebhookAnswered,
    WebhookFailed,
    WebhookRequest,
    WebhookSpec,
    WebhookWait,
    request_payload,
)

DTMF_KEYS = frozenset("0123456789*#ABCD")  # RFC 4733 §3.2 events 0-15
_Then = Callable[[float], list[Action]]
#: switch menus entered in a row without waiting for the caller: past this, a loop (refused at
#: load; this bounds menus built at run time, and the recursion) ends the call: goodbye, ``error``
MAX_ROUTES = 20


class Phase(enum.Enum):
    #: created; ``start`` not called yet.
    NEW = "new"
    #: prompts are playing; the no-input timer is held.
    PLAYING = "playing"
    #: waiting for the caller's digits; timers run.
    WAITING = "waiting"
    #: credentials sent to the driver; waiting for ``auth_result``.
    AUTHENTICATING = "authenticating"
    #: ``say:`` text with variables is being rendered (:class:`Speak`); the no-input timer is held.
    RENDERING = "rendering"
    #: a REFER is out; waiting for its outcome (``transfer_failed``) or ``transfer-timeout``.
    TRANSFERRING = "transferring"
    #: a ``record`` step keeps the caller's audio; its silence and max-length timers run.
    RECORDING = "recording"
    #: a ``StopRecording`` was sent; waiting for ``recording_saved``.
    SAVING = "saving"
    #: a ``MailboxRequest`` was sent; waiting for ``mailbox_result``.
    MAILBOX = "mailbox"
    #: a webhook request is out; waiting for its answer, its failure or its timeout (the filler
    #: prompt, when it plays, is PLAYING with the request still out).
    WEBHOOK = "webhook"
    #: a ``Hangup`` was returned; every call now returns nothing.
    ENDED = "ended"


class MenuRunner:
    """Runs one dialplan for one call. See the module docstring for the timing rules.

    The driver's side of the contract:

    * after each :class:`PlayPrompts`, call :meth:`prompt_finished` exactly once — also after a
      :class:`StopPlayback` (with ``completed=False``); no second ``PlayPrompts`` comes before it;
    * after each :class:`Authenticate`, call :meth:`auth_result` once;
    * call :meth:`poll` at :meth:`next_deadline` (early or late is harmless: nothing fires
      before it is due, and a late poll measures the next period from the deadline);
    * after a :class:`Transfer` the runner waits (``Transfer.timeout``): call
      :meth:`transfer_failed` when the REFER or its NOTIFY reports failure (the caller returns
      to the dialplan's ``on-transfer-failed`` step), :meth:`transfer_succeeded` when it worked
      (or just end the call: the SIP layer's BYE does);
    * after a :class:`~tui_engine.menus.webhook.WebhookRequest`, call :meth:`webhook_answered`
      or :meth:`webhook_failed` once (late reports are ignored); cancel the request on the
      :class:`~tui_engine.menus.webhook.WebhookFailed` of a timeout;
    * after a :class:`Speak`, call :meth:`speech_rendered` once (late or never is harmless:
      past ``Speak.timeout`` the runner plays the sequence without the missing texts);
    * after a :class:`Hangup` every method returns ``[]``.
    """

    #: one call's runner: slots, not an instance dict (~1.2 KiB less a call in flight)
    __slots__ = (
        "_answer_menu", "_auth_failures", "_barge_in", "_buffer", "_closing", "_defaults", "_eff", "_entry",
        "_guards", "_invalid", "_last_digit_at", "_menu", "_no_speech", "_passes", "_pending_auth",
        "_pending_mailbox", "_record_kept", "_record_step", "_recording", "_rendering", "_routes", "_session",
        "_speak_id", "_stopping", "_then", "_transfer_deadline", "_transfer_uri", "_visits", "_webhook",
        "_webhook_chain", "_webhooks_sent", "_work_deadline", "_zone", "dialplan", "epoch_offset",
        "hangup_reason", "phase", "variables",
    )

    def __init__(
        self,
        dialplan: Dialplan,
        defaults: MenuDefaults,
        *,
        variables: Mapping[str, str] | None = None,
        epoch_offset: float = 0.0,
    ) -> None:
        self.dialplan = dialplan
        #: the call's one variable store: the dialplan's declared ``variables``, built-ins from
        #: the driver (``caller``, ``dialled``, ``call_id``), ``entry`` and the clock's (see
        #: menus/variables.py), collected entries, and what later steps set
        self.variables: dict[str, str] = {**dialplan.variables, **(variables or {})}
        #: Unix time = ``now + epoch_offset`` (the driver's wall clock, passed as a value)
        self.epoch_offset = epoch_offset
        self._zone = time_zone(dialplan.time_zone or defaults.time_zone)
        self._routes = 0  # switch menus entered since the caller was last waited for
        self.phase = Phase.NEW
        self.hangup_reason: str | None = None
        self._defaults = defaults
        self._menu: Menu = dialplan.menus[dialplan.start]
        self._eff: Effective = self._effective(self._menu)
        self._session = IdleSession(self._eff.idle_policy())
        self._visits = 0  # menu prompt plays in this visit (escalation index)
        self._invalid = 0  # invalid entries in this visit
        self._buffer: list[str] = []  # type-ahead digits not yet used (a few: a list, not a deque)
        self._entry = ""  # digits of a collect entry so far
        self._last_digit_at: float | None = None
        self._then: _Then | None = None  # what follows the playing prompts
        self._barge_in = False  # the playing prompts may be stopped by a digit
        self._stopping = False  # StopPlayback sent, prompt_finished not yet seen
        self._pending_auth: AuthStep | None = None
        self._auth_failures: dict[str, int] = {}
        self._guards: CallGuards | None = None  # from start() on
        self._closing = False  # the goodbye is playing: the call ends after it
        self._transfer_uri: str | None = None  # while TRANSFERRING
        self._transfer_deadline = 0.0
        self._webhook: WebhookWait | None = None  # the request in flight (WEBHOOK, or its filler)
        self._webhooks_sent = 0
        self._webhook_chain = 0  # webhooks since the caller's last key or no-input wait
        self._answer_menu: Menu | None = None  # a webhook's temporary menu, while the caller is in it
        self._rendering: _Rendering | None = None  # while RENDERING
        self._speak_id = 0
        self._recording: Recording | None = None  # while RECORDING
        self._record_step: Step | None = None  # the step that records (played again after no speech)
        self._record_kept = False  # the last StopRecording kept audio
        self._no_speech = 0  # recordings without speech since the last input (no-input attempts)
        self._work_deadline = 0.0  # while SAVING or MAILBOX: then the driver's work counts as failed
        self._pending_mailbox: VoicemailStep | None = None  # while MAILBOX
        self._passes: dict[str, int] = {}  # announcement passes since the caller's last input

    # -- read-only views ---------------------------------------------------------------
    @property
    def current_menu(self) -> str:
        """The menu the caller is in; ``""`` before :meth:`start`."""
        return "" if self.phase is Phase.NEW else self._menu.name

    @property
    def attempt(self) -> int:
        """The no-input attempt in progress (1-based, never above ``max_attempts``)."""
        return min(self._session.attempt, self._eff.max_attempts)

    @property
    def max_attempts(self) -> int:
        return self._eff.max_attempts

    @property
    def invalid_count(self) -> int:
        return self._invalid

    @property
    def entry(self) -> str:
        """Digits of the collect entry typed so far (the inter-digit timer runs while non-empty)."""
        return self._entry

    @property
    def settings(self) -> Effective:
        """The settings the current menu runs with."""
        return self._eff

    @property
    def guards(self) -> CallGuards | None:
        """The call-wide guards (``None`` before :meth:`start`)."""
        return self._guards

    def next_deadline(self) -> float | None:
        """When :meth:`poll` next has something to do (no-input, inter-digit or a guard)."""
        if self.phase is Phase.ENDED:
            return None
        menu = self.menu_deadline()
        guard = self._guards.next_deadline() if self._guards is not None else None
        if menu is None or guard is None:
            return guard if menu is None else menu
        return min(menu, guard)

    def menu_deadline(self) -> float | None:
        """The menu's own next deadline: no-input, inter-digit or ``transfer-timeout``."""
        if self.phase is Phase.TRANSFERRING:
            return self._transfer_deadline
        if self.phase is Phase.RENDERING and self._rendering is not None:
            hook = self._webhook.next_deadline(False) if self._webhook is not None else None
            return self._rendering.deadline if hook is None else min(hook, self._rendering.deadline)
        if self.phase is Phase.RECORDING and self._recording is not None:
            return self._recording.next_deadline()
        if self.phase in (Phase.SAVING, Phase.MAILBOX):
            return self._work_deadline
        if self._webhook is not None:
            return self._webhook.next_deadline(self.phase is Phase.WEBHOOK)
        if self.phase is not Phase.WAITING:
            return None
        if self._last_digit_at is not None:
            return self._last_digit_at + self._eff.digit_timeout
        return self._session.next_deadline()

    def seconds_left(self, now: float) -> float | None:
        """Seconds until the menu's running timer expires (``None`` while prompts play)."""
        deadline = self.menu_deadline()
        return None if deadline is None else max(0.0, deadline - now)

    # -- driver events -----------------------------------------------------------------
    def start(self, now: float) -> list[Action]:
        """The call is answered: enter the start menu and play its first prompt."""
        if self.phase is not Phase.NEW:
            raise MenuError(f"start() called in phase {self.phase.value}")
        self._guards = CallGuards(self._defaults.limits, now)
        return self._counted(now, self._enter(self.dialplan.start, now))

    def prompt_finished(self, now: float, completed: bool) -> list[Action]:
        """The prompts of the last :class:`PlayPrompts` ended (``completed`` False: stopped)."""
        if self.phase is Phase.ENDED:
            return []
        if self.phase is not Phase.PLAYING or self._then is None:
            raise MenuError(f"prompt_finished() with nothing playing (phase {self.phase.value})")
        then, self._then = self._then, None
        self._stopping = False
        self._close_progress(now)
        self.phase = Phase.WAITING
        return self._counted(now, then(now))

    def digit(self, digit: str, now: float) -> list[Action]:
        """A DTMF digit from the caller (RFC 4733 event, SIP INFO or in-band)."""
        if digit not in DTMF_KEYS:
            raise MenuError(f"not a DTMF key: {digit!r}")
        if self.phase is Phase.ENDED:
            return []
        self._webhook_chain = 0
        if self._session.state in (IdleState.WAITING, IdleState.SUSPENDED):
            self._session.send(Activity(now=now))
        if self.phase is Phase.WAITING:
            return self._counted(now, self._input(digit, now))
        if self.phase is Phase.RECORDING:
            return self._counted(now, self._record_key(digit, now))
        self._buffer.append(digit)
        if self.phase is Phase.RENDERING and self._rendering is not None and self._rendering.barge_in:
            return self._counted(now, self._speech_done({}, "barge-in", now, play=False))
        if self.phase is Phase.PLAYING and self._barge_in and not self._stopping:
            self._stopping = True
            return [StopPlayback()]
        return []

    def auth_result(self, ok: bool, now: float) -> list[Action]:
        """The driver's verdict on the last :class:`Authenticate`."""
        if self.phase is Phase.ENDED or (self._closing and self._pending_auth is None):
            return []  # a guard ended the call while the check ran
        auth = self._pending_auth
        if self.phase is not Phase.AUTHENTICATING or auth is None:
            raise MenuError(f"auth_result() with no authentication pending (phase {self.phase.value})")
        self._pending_auth = None
        pin = self.variables.pop(auth.pin, None)  # a PIN is not kept once checked
        if pin is not None and self.variables.get("entry") == pin:
            self.variables["entry"] = ""  # nor as the last entry
        self._close_progress(now)
        self.phase = Phase.WAITING
        if ok:
            self._auth_failures[auth.key] = 0
            return self._counted(now, self._run_step(auth.on_success, now))
        failures = self._auth_failures.get(auth.key, 0) + 1
        self._auth_failures[auth.key] = failures
        if failures >= auth.max_failures:
            return self._counted(now, self._final(auth.on_max_failures, HangupReason.MAX_INVALID, now))
        return self._counted(now, self._run_step(auth.on_failure, now))

    def poll(self, now: float) -> list[Action]:
        """Act on every timer due at ``now``; never before its deadline."""
        if self.phase is Phase.ENDED:
            return []
        if self._guards is not None:
            self._guards.silence(now, self._silence_running())  # count up to now first
            expired = self._guards.poll(now)
            if expired is not None:
                return self._counted(now, self._guard_expired(expired, now))
        return self._counted(now, self._poll_menu(now))

    def media_seen(self, at: float | None, *, on_hold: bool, now: float) -> None:
        """What the media layer knows: the caller's last RTP arrival, and whether on hold."""
        if self._guards is not None and self.phase is not Phase.ENDED:
            self._guards.hold(now, on_hold)
            self._guards.media_seen(at)

    def transfer_failed(self, why: str, now: float) -> list[Action]:
        """The REFER was refused, or its NOTIFY reported failure (``why``: e.g. ``"603"``)."""
        if self.phase is not Phase.TRANSFERRING:
            return []  # a late report: the timeout already brought the caller back
        return self._counted(now, self._transfer_outcome(why, now))

    def transfer_succeeded(self, now: float) -> list[Action]:
        """The transfer worked: the call is over (``Hangup("transfer")``; no BYE of ours)."""
        if self.phase is not Phase.TRANSFERRING:
            return []
        self._transfer_uri = None
        return self._end(HangupReason.TRANSFER.value, now)

    def speech_rendered(self, speak_id: int, rendered: Mapping[str, Rendered], now: float) -> list[Action]:
        """The driver rendered the texts of :class:`Speak` ``speak_id`` (a ``str``: why that one
        failed, reported in :class:`SpeechSkipped`)."""
        if self.phase is not Phase.RENDERING or self._rendering is None or self._rendering.id != speak_id:
            return []  # late: the time limit, a barge-in or a guard already went on without it
        return self._counted(now, self._speech_done(rendered, "rendering failed", now))

    def speech(self, now: float) -> list[Action]:
        """The media layer heard speech energy (throttled): the recording's silence timer restarts."""
        if self.phase is Phase.RECORDING and self._recording is not None:
            self._recording.speech(now)
            self._passes.clear()
        return []

    def recording_saved(self, path: str, seconds: float, now: float) -> list[Action]:
        """The driver wrote the last ``StopRecording`` to ``path`` (``""``: nothing kept, or it failed)."""
        step = self._record_step
        if self.phase is not Phase.SAVING or step is None or step.record is None:
            return []  # the call ended, or a guard took over, while the file was written
        self._close_progress(now)
        self.phase = Phase.WAITING
        spec = step.record
        if path:
            self._no_speech = 0
            self.variables["recording"] = path
            self.variables["recording_length"] = str(max(1, round(seconds)))
            return self._counted(now, self._run_step(spec.next, now))
        if not self._record_kept:
            return self._counted(now, self._no_speech_input(step, spec, now))
        return self._counted(now, self._run_step(self._record_failed(spec), now))

    def recording_refused(self, now: float) -> list[Action]:
        """The driver could not start the last :class:`StartRecording` (the engine's recordings are
        all in use): the step's ``on-failed`` runs and the call goes on. An ``on-failed`` that
        leads back to the recording without the caller's input is bounded as any such loop is
        (an announcement's passes; a nested step's own ``on-failed``)."""
        step = self._record_step
        if self.phase is not Phase.RECORDING or step is None or step.record is None:
            return []
        self._recording = None
        self._close_progress(now)
        self.phase = Phase.WAITING
        return self._counted(now, self._run_step(self._record_failed(step.record), now))

    def _record_failed(self, spec: RecordStep) -> Step:
        return spec.on_failed or Step(play=self.dialplan.invalid)

    def mailbox_result(self, result: MailboxResult, now: float) -> list[Action]:
        """The driver's answer to the last :class:`MailboxRequest`."""
        spec = self._pending_mailbox
        if self.phase is not Phase.MAILBOX or spec is None:
            return []  # a guard ended the call while the operation ran
        self._pending_mailbox = None
        self._close_progress(now)
        self.phase = Phase.WAITING
        if not result.ok:
            failed = spec.on_failure or Step(play=self.dialplan.invalid)
            return self._counted(now, self._run_step(failed, now))
        self.variables.update(result.values)
        then = spec.then or Step()
        if not result.audio:
            return self._counted(now, self._run_step(then, now))
        # the message (or greeting) first, then the step: a key during it stops it and is kept
        after = lambda at: self._run_step(then, at)  # noqa: E731
        return self._counted(now, self._play_refs(result.audio, self._eff.barge_in, after, now))

    def _poll_menu(self, now: float) -> list[Action]:
        if self.phase is Phase.TRANSFERRING and now >= self._transfer_deadline:
            return self._transfer_outcome("timeout", self._transfer_deadline)
        wait = self._webhook
        if wait is not None and wait.outcome is None and now >= wait.deadline:
            return self._webhook_settle("timeout", wait.deadline)
        if self.phase is Phase.RENDERING and self._rendering is not None:
            if now >= self._rendering.deadline:
                return self._speech_done({}, "time limit", now)
            return []
        if self.phase in (Phase.SAVING, Phase.MAILBOX) and now >= self._work_deadline:
            if self.phase is Phase.SAVING:
                return self.recording_saved("", 0.0, now)
            return self.mailbox_result(MailboxResult(ok=False, why="timed out"), now)
        if self.phase is Phase.RECORDING and self._recording is not None:
            reason = self._recording.poll(now)
            return [] if reason is None else self._finish_recording(reason, now)
        if self._webhook is not None:
            return self._poll_webhook(now)
        if self.phase is not Phase.WAITING:
            return []
        if self._last_digit_at is not None:
            if now >= self._last_digit_at + self._eff.digit_timeout:
                return self._finish_entry(now)
            return []
        decisions = self._session.poll(now)
        actions: list[Action] = []
        for decision in decisions:
            if isinstance(decision, Disconnect):
                step = self._menu.on_no_input
                done = AttemptsExhausted(
                    menu=self._menu.name, attempts=decision.attempts, due=decision.due, then=_next_of(step)
                )
                return [
                    *actions,
                    done,
                    *self._final(self._menu.on_no_input, HangupReason.INACTIVITY_TIMEOUT, now),
                ]
            if isinstance(decision, CoreReprompt):
                actions.append(
                    Reprompt(menu=self._menu.name, attempt=decision.attempt, of=decision.of, due=decision.due)
                )
        if actions:
            actions += self._play_menu(now)
        return actions

    def update_defaults(self, defaults: MenuDefaults, now: float) -> list[Action]:
        """Apply a configuration reload to this running call; returns what became due."""
        self._defaults = defaults
        self._zone = time_zone(self.dialplan.time_zone or defaults.time_zone)
        self._eff = self._effective(self._menu)
        if self._session.state is not IdleState.STOPPED:
            self._session.send(PolicyChanged(now=now, policy=self._eff.idle_policy()))
        if self._guards is not None:
            self._guards.silence(now, self._silence_running())
            self._guards.change_limits(defaults.limits, now)
        return self.poll(now)

    def caller_hangup(self, now: float) -> list[Action]:
        """The caller hung up (BYE or CANCEL): stop everything."""
        if self.phase is Phase.ENDED:
            return []
        return self._end(HangupReason.CALLER_HANGUP.value, now)

    def media_failed(self, now: float) -> list[Action]:
        """Sending RTP failed for good: nothing can be heard, so no goodbye; hang up now."""
        if self.phase is Phase.ENDED:
            return []
        return self._end(HangupReason.MEDIA_FAILED.value, now)

    def call_ended(self, now: float) -> None:
        """The call is over, whatever ended it (the runner's own hang-up, a BYE, an error).

        Stops the idle session and drops the continuation of a prompt still playing: that
        continuation is a method of this runner, a reference cycle a full garbage collection
        would otherwise have to find. No actions: there is no call left to act on.
        """
        if self.phase is not Phase.ENDED:
            self._stop(now)

    # -- menus -------------------------------------------------------------------------
    def _effective(self, menu: Menu) -> Effective:
        return effective(self._defaults, self.dialplan.settings, menu.settings)

    def _enter(self, name: str, now: float) -> list[Action]:
        self.variables.update(clock_values(now + self.epoch_offset, self._zone))
        answer = self._answer_menu
        menu = answer if answer is not None and answer.name == name else self.dialplan.menus[name]
        if self.phase is not Phase.NEW or menu is not self._menu:  # the start menu's: from __init__
            self._eff = self._effective(menu)  # (or from update_defaults, which recomputes it)
        self._menu = menu
        self._session = IdleSession(self._eff.idle_policy())
        self._session.send(Started(now=now))
        self._visits = 0
        self._invalid = 0
        self._entry = ""
        self._last_digit_at = None
        if self._menu.route is not None:
            return [MenuEntered(menu=name), *self._route(self._menu.route, now)]
        return [MenuEntered(menu=name), *self._play_menu(now)]

    def _route(self, step: Step, now: float) -> list[Action]:
        """A switch menu: its step at once; a chain of them that never waits is cut off."""
        self._routes += 1
        if self._routes > MAX_ROUTES:
            return self._goodbye(HangupReason.ERROR.value, now)
        return self._run_step(step, now)

    def _play_menu(self, now: float, lead: tuple[PromptItem, ...] = ()) -> list[Action]:
        """Play the menu's prompt for this visit (after ``lead``, e.g. the invalid prompt)."""
        self._visits += 1
        prompts = self._menu.prompts
        names = lead + prompts[min(self._visits, len(prompts)) - 1]
        return self._play(names, self._eff.barge_in, self._listen, now)

    def _play(self, items: tuple[PromptItem, ...], barge_in: bool, then: _Then, now: float) -> list[Action]:
        if not items or (barge_in and self._buffer):
            return then(now)  # nothing to play, or the caller already answered (type-ahead)
        resolved = resolve(self.dialplan, items, self.variables)
        if resolved.texts:
            return [*resolved.skipped, *self._render(resolved, barge_in, then, now)]
        refs = tuple(p for p in resolved.parts if isinstance(p, PromptRef))
        return [*resolved.skipped, *self._play_refs(refs, barge_in, then, now)]

    def _play_refs(
        self, refs: tuple[PromptRef, ...], barge_in: bool, then: _Then, now: float
    ) -> list[Action]:
        if not refs:
            return then(now)  # everything was skipped (a value that cannot be said)
        if self._session.state is not IdleState.STOPPED:
            self._session.send(ProgressStarted(now=now))
        self.phase = Phase.PLAYING
        self._then = then
        self._barge_in = barge_in
        return [PlayPrompts(prompts=refs, barge_in=barge_in)]

    def _render(self, resolved: Resolution, barge_in: bool, then: _Then, now: float) -> list[Action]:
        """Ask the driver to render the sequence's texts; a prompt is about to play, so the
        no-input timer is held meanwhile (and ``speech-timeout`` bounds the wait)."""
        self._speak_id += 1
        timeout = self._defaults.speech_timeout
        self._rendering = _Rendering(self._speak_id, resolved, barge_in, then, now + timeout)
        if self._session.state is not IdleState.STOPPED:
            self._session.send(ProgressStarted(now=now))
        self.phase = Phase.RENDERING
        return [Speak(id=self._speak_id, texts=resolved.texts, timeout=timeout)]

    def _speech_done(
        self, rendered: Mapping[str, Rendered], why: str, now: float, *, play: bool = True
    ) -> list[Action]:
        """Rendering over (done, failed, timed out, or a barge-in: ``play`` False skips it all)."""
        pending, self._rendering = self._rendering, None
        assert pending is not None
        self._close_progress(now)
        self.phase = Phase.WAITING
        if not play:
            return pending.then(now)
        refs, skipped = pending.resolved.fill(rendered, why)
        return [*skipped, *self._play_refs(refs, pending.barge_in, pending.then, now)]

    def _close_progress(self, now: float) -> None:
        if self._session.progress_open and self._session.state is not IdleState.STOPPED:
            self._session.send(ProgressFinished(now=now))

    def _listen(self, now: float) -> list[Action]:
        """Prompts over: wait for input, using type-ahead digits first."""
        self.phase = Phase.WAITING
        menu = self._menu
        if menu.next is not None and menu.collect is None and not menu.choices:
            return self._announced(menu, menu.next, now)
        self._passes.clear()  # a menu that waits for input: its own no-input cycle bounds it
        self._routes = 0  # waiting for the caller: switch menus count from zero again
        self._webhook_chain = 0  # the no-input timer runs again (and max-silence-total counts it)
        actions: list[Action] = []
        while self._buffer and self.phase is Phase.WAITING:
            actions += self._input(self._buffer.pop(0), now)
        return actions

    def _announced(self, menu: Menu, step: Step, now: float) -> list[Action]:
        """An announcement played: on to its step. Nothing waits for the caller here, so a loop
        back to it (its step plays and returns, a failed transfer, a mailbox operation) would run
        for ever with a silent caller: more than ``max-attempts`` passes through one announcement
        without input are the no-input end."""
        passes = self._passes[menu.name] = self._passes.get(menu.name, 0) + 1
        if passes <= self._eff.max_attempts:
            return self._run_step(step, now)
        self._passes.clear()
        final = menu.on_no_input
        done = AttemptsExhausted(menu=menu.name, attempts=passes - 1, due=now, then=_next_of(final))
        return [done, *self._final(final, HangupReason.INACTIVITY_TIMEOUT, now)]

    def _input(self, digit: str, now: float) -> list[Action]:
        self._no_speech = 0  # input is activity: recordings without speech count from zero again
        self._passes.clear()
        if self._menu.collect is not None:
            return self._collect_digit(digit, now)
        step = self._menu.choices.get(digit)
        if step is None:
            return self._invalid_input(now)
        self._invalid = 0  # a valid choice resets the invalid counter (FreeSWITCH)
        return self._run_step(step, now)

    def _invalid_input(self, now: float) -> list[Action]:
        self._invalid += 1
        if self._invalid >= self._eff.max_invalid:
            return self._final(self._menu.on_max_invalid, HangupReason.MAX_INVALID, now)
        lead = self._menu.invalid if self._menu.invalid is not None else self.dialplan.invalid
        return self._play_menu(now, lead)

    # -- digit collection --------------------------------------------------------------
    def _collect_digit(self, digit: str, now: float) -> list[Action]:
        collect = self._menu.collect
        assert collect is not None
        if collect.terminator and digit == collect.terminator:
            return self._finish_entry(now)
        if not self._entry:
            self._session.send(ProgressStarted(now=now))  # typing: hold the no-input timer
        self._entry += digit
        self._last_digit_at = now
        if len(self._entry) >= collect.max_digits:
            return self._finish_entry(now)
        return []

    def _finish_entry(self, now: float) -> list[Action]:
        collect = self._menu.collect
        assert collect is not None and self._menu.next is not None
        value, self._entry, self._last_digit_at = self._entry, "", None
        self._close_progress(now)
        if len(value) < collect.min_digits:
            return self._invalid_input(now)
        self._invalid = 0
        self.variables[collect.variable] = self.variables["entry"] = value
        return [DigitsCollected(var=collect.variable, value=value), *self._run_step(self._menu.next, now)]

    # -- steps -------------------------------------------------------------------------
    def _run_step(self, step: Step, now: float) -> list[Action]:
        here = self._menu.name
        self.variables.update(clock_values(now + self.epoch_offset, self._zone))
        done: list[Action] = []
        if step.set:
            apply_set(step.set, self.variables)
            done.append(VariablesSet(values=tuple((name, self.variables[name]) for name, _ in step.set)))

        def terminal(at: float) -> list[Action]:
            if step.goto is not None:
                return self._enter(step.goto, at)
            if step.hangup is not None:
                return self._end(step.hangup.value, at)
            if step.transfer is not None:
                return self._transfer(step.transfer, at)
            if step.authenticate is not None:
                return self._authenticate(step.authenticate, at)
            if step.switch is not None:
                return self._switch(step.switch, at)
            if step.record is not None:
                return self._record(step, step.record, at)
            if step.voicemail is not None:
                return self._mailbox(step.voicemail, at)
            if step.webhook is not None:
                return self._send_webhook(step.webhook, at)
            return self._enter(here, at)  # "play, then back"

        return done + self._play(step.play, self._eff.barge_in, terminal, now)

    def _switch(self, switch: Switch, now: float) -> list[Action]:
        """Evaluated at once: the case (or default) step runs in the same event."""
        value = self.variables.get(switch.variable, "")
        case, step = switch.choose(value)
        return [SwitchTaken(variable=switch.variable, value=value, case=case), *self._run_step(step, now)]

    def _final(self, step: Step | None, reason: HangupReason, now: float) -> list[Action]:
        """Attempts ran out: the dialplan's step, else goodbye (no barge-in) and hang up."""
        if step is not None:
            return self._run_step(step, now)
        return self._goodbye(reason.value, now)

    def _goodbye(self, reason: str, now: float) -> list[Action]:
        """The goodbye prompt (no barge-in), then ``Hangup(reason)``."""
        self._closing = True
        return self._play(self.dialplan.goodbye, False, lambda at: self._end(reason, at), now)

    # -- call-wide guards --------------------------------------------------------------
    def _silence_running(self) -> bool:
        """Whether the no-input timer runs now (what ``max-silence-total`` counts)."""
        return (
            self.phase is Phase.WAITING
            and self._last_digit_at is None
            and self._session.expiry_at() is not None
        )

    def _counted(self, now: float, actions: list[Action]) -> list[Action]:
        """After an event: tell the silence budget whether the no-input timer now runs."""
        if self._guards is not None:
            self._guards.silence(now, self._silence_running())
        return actions

    def _guard_expired(self, expired: GuardExpired, now: float) -> list[Action]:
        reason = expired.guard.value
        tripped = GuardTripped(guard=reason, due=expired.due, limit=expired.limit)
        closing = self._closing
        self._buffer.clear()
        self._entry, self._last_digit_at = "", None

        def goodbye(at: float) -> list[Action]:
            return self._end(reason, at) if closing else self._goodbye(reason, at)

        self._closing = True
        if self._webhook is not None:
            self._webhook = None  # a late answer is ignored; the call's end cancels the request
            self._close_progress(now)
        if self.phase is Phase.PLAYING:
            self._then = goodbye  # prompt_finished(completed=False) follows the StopPlayback
            if self._stopping:
                return [tripped]
            self._stopping = True
            return [tripped, StopPlayback()]
        if self.phase is Phase.AUTHENTICATING:
            self._pending_auth = None  # its auth_result, when it comes, is ignored
            self._close_progress(now)
        if self.phase is Phase.TRANSFERRING:
            self._transfer_uri = None  # a late outcome is ignored; our BYE ends the call
            self._close_progress(now)
        if self.phase is Phase.RENDERING:
            self._rendering = None  # its speech_rendered, when it comes, is ignored
            self._close_progress(now)
        stopped = self._interrupt(now)  # a recording is closed (and kept when the caller spoke)
        self.phase = Phase.WAITING
        return [tripped, *stopped, *goodbye(now)]

    def _transfer(self, template: str, now: float) -> list[Action]:
        uri = render(template, self.variables)
        if not sip_uri(uri):  # a variable filled in something that is no SIP URI: never REFER it
            self._transfer_uri = uri
            return self._transfer_outcome("bad-uri", now)
        timeout = self._defaults.transfer_timeout
        self.phase = Phase.TRANSFERRING
        self._transfer_uri, self._transfer_deadline = uri, now + timeout
        if self._session.state is not IdleState.STOPPED:
            self._session.send(ProgressStarted(now=now))  # the system is working, not the caller silent
        return [Transfer(uri=uri, timeout=timeout)]

    def _transfer_outcome(self, why: str, at: float) -> list[Action]:
        """Failed or unconfirmed: back to the dialplan, the no-input timer running again."""
        uri, self._transfer_uri = self._transfer_uri or "", None
        self._close_progress(at)
        self.phase = Phase.WAITING
        plan = self.dialplan
        step = self._menu.on_transfer_failed or Step(play=plan.transfer_failed or plan.invalid)
        return [TransferFailed(uri=uri, why=why, due=at), *self._run_step(step, at)]

    def _authenticate(self, auth: AuthStep, now: float) -> list[Action]:
        self._pending_auth = auth
        self.phase = Phase.AUTHENTICATING
        if self._session.state is not IdleState.STOPPED:
            self._session.send(ProgressStarted(now=now))  # the system is working, not the caller silent
        mailbox = self.variables.get(auth.mailbox, "")
        return [Authenticate(mailbox=mailbox, pin=self.variables.get(auth.pin, ""))]

    # -- record and voicemail steps (menus/record.py, menus/voicemail.py) ----------------
    def _record(self, step: Step, spec: RecordStep, now: float) -> list[Action]:
        self._record_step = step
        self._buffer.clear()  # a key that skipped the prompt does not end the recording
        self._recording = Recording(spec, now)
        self.phase = Phase.RECORDING
        if self._session.state is not IdleState.STOPPED:
            self._session.send(ProgressStarted(now=now))  # the silence timer is the recording's own
        return [StartRecording(max_length=spec.max_length)]

    def _record_key(self, digit: str, now: float) -> list[Action]:
        spec = self._recording.spec if self._recording is not None else None
        if spec is None or digit not in spec.end_keys:
            return []  # other keys are not input while recording
        return self._finish_recording(EndReason.KEY, now)

    def _finish_recording(self, reason: EndReason, now: float) -> list[Action]:
        recording, self._recording = self._recording, None
        assert recording is not None
        self.phase = Phase.SAVING
        self._work_deadline = now + FILE_WORK_TIMEOUT
        stop = recording.stop(reason, now, self._record_mailbox(recording.spec))
        self._record_kept = stop.keep
        return [stop]

    def _record_mailbox(self, spec: RecordStep) -> str | None:
        return None if spec.mailbox is None else render(spec.mailbox, self.variables)

    def _no_speech_input(self, step: Step, spec: RecordStep, now: float) -> list[Action]:
        """Nothing was said: a no-input attempt; after ``max-attempts`` the menu's no-input rule."""
        self._no_speech += 1
        of = self._eff.max_attempts
        if self._no_speech >= of:
            final = self._menu.on_no_input
            done = AttemptsExhausted(menu=self._menu.name, attempts=of, due=now, then=_next_of(final))
            return [done, *self._final(final, HangupReason.INACTIVITY_TIMEOUT, now)]
        again = Reprompt(menu=self._menu.name, attempt=self._no_speech + 1, of=of, due=now)
        return [again, *self._run_step(spec.on_no_speech or step, now)]

    def _mailbox(self, spec: VoicemailStep, now: float) -> list[Action]:
        self._pending_mailbox = spec
        self.phase = Phase.MAILBOX
        self._work_deadline = now + FILE_WORK_TIMEOUT
        if self._session.state is not IdleState.STOPPED:
            self._session.send(ProgressStarted(now=now))  # the system is working, not the caller silent
        mailbox = render(spec.mailbox, self.variables)
        return [MailboxRequest(op=spec.op, mailbox=mailbox, variables=dict(self.variables))]

    def _interrupt(self, now: float) -> list[Action]:
        """A guard or the end of the call: close a recording (kept when the caller spoke), drop a
        pending save or mailbox operation (its late answer is ignored)."""
        out: list[Action] = []
        recording = self._recording
        if self.phase is Phase.RECORDING and recording is not None:
            out.append(recording.stop(EndReason.INTERRUPTED, now, self._record_mailbox(recording.spec)))
        if self.phase in (Phase.RECORDING, Phase.SAVING, Phase.MAILBOX):
            self._recording, self._pending_mailbox = None, None
            self.phase = Phase.WAITING
            self._close_progress(now)
        return out

    # -- webhooks (menus/webhook.py: the step; menus/answers.py: the answer) -----------
    def webhook_answered(self, request_id: int, answer: object, now: float) -> list[Action]:
        """The JSON answer (parsed) to :class:`WebhookRequest` ``request_id``."""
        wait = self._webhook
        if not self._awaiting(request_id) or wait is None:
            return []  # late (timed out, a guard ended the call, hung up) or already answered
        try:
            outcome: Step | Menu | str = parse_answer(answer, self.dialplan, source=wait.url)
        except AnswerError as exc:
            outcome = str(exc)
        return self._counted(now, self._webhook_settle(outcome, now))

    def webhook_failed(self, request_id: int, why: str, now: float) -> list[Action]:
        """The request failed (connection refused, ``HTTP 500``, not JSON, ...)."""
        if not self._awaiting(request_id):
            return []
        return self._counted(now, self._webhook_settle(why, now))

    def _awaiting(self, request_id: int) -> bool:
        wait = self._webhook
        return wait is not None and wait.request_id == request_id and wait.outcome is None

    def _send_webhook(self, spec: WebhookSpec, now: float) -> list[Action]:
        quoted = {name: quote(value, safe="") for name, value in self.variables.items()}
        self._webhook_chain += 1
        if self._webhook_chain > MAX_WEBHOOK_CHAIN:  # not sent: the apology, then the menu's rules
            why = f"{MAX_WEBHOOK_CHAIN} webhooks in a row without a key from the caller"
            failed = WebhookFailed(request_id=0, url=render(spec.url, quoted), why=why, due=now)
            apology = Step(play=self.dialplan.webhook_failed or self.dialplan.invalid)
            return [failed, *self._run_step(apology, now)]
        self._webhooks_sent += 1
        timeout = spec.timeout if spec.timeout is not None else self._defaults.webhook_timeout
        delay = spec.filler_delay if spec.filler_delay is not None else self._defaults.webhook_filler_delay
        wait = WebhookWait(
            request_id=self._webhooks_sent, spec=spec, url=render(spec.url, quoted), menu=self._menu.name,
            deadline=now + timeout, filler_delay=delay, filler_at=now + delay if spec.filler else None,
        )  # fmt: skip
        self._webhook = wait
        self.phase = Phase.WEBHOOK
        if self._session.state is not IdleState.STOPPED:
            self._session.send(ProgressStarted(now=now))  # the server works for the caller: not silence
        collect = self._menu.collect
        payload = request_payload(
            dialplan=self.dialplan.name, menu=self._menu.name, attempt=self.attempt,
            entry=self.variables.get(collect.variable, "") if collect else "",
            variables=without_clock(self.variables),  # the server has a clock of its own
        )  # fmt: skip
        return [WebhookRequest(request_id=wait.request_id, url=wait.url, payload=payload, timeout=timeout)]

    def _poll_webhook(self, now: float) -> list[Action]:
        wait = self._webhook
        assert wait is not None
        if self.phase is Phase.WEBHOOK and wait.filler_at is not None and now >= wait.filler_at:
            wait.filler_at, wait.filler_started = None, now
            return self._play(wait.spec.filler, False, self._after_filler, now)
        return []

    def _after_filler(self, now: float) -> list[Action]:
        wait = self._webhook
        if wait is None:
            return []
        if wait.outcome is not None:
            return self._webhook_act(now)
        self.phase = Phase.WEBHOOK  # still out: the filler again after another filler-delay
        if now > wait.filler_started or wait.filler_delay > 0:  # (nothing played and no delay: stop)
            wait.filler_at = now + wait.filler_delay
        return []

    def _webhook_settle(self, outcome: Step | Menu | str, now: float) -> list[Action]:
        """The answer (or failure) is known; act on it now, or once the filler has stopped."""
        wait = self._webhook
        assert wait is not None
        wait.outcome = outcome
        if isinstance(outcome, str):
            done: Action = WebhookFailed(request_id=wait.request_id, url=wait.url, why=outcome, due=now)
        else:
            kind = "step" if isinstance(outcome, Step) else "menu"
            done = WebhookAnswered(request_id=wait.request_id, url=wait.url, kind=kind)
        if self.phase is Phase.PLAYING:  # the filler: stop it, _after_filler acts
            if self._stopping:
                return [done]
            self._stopping = True
            return [done, StopPlayback()]
        if self.phase is Phase.RENDERING:  # the filler's speech is not wanted any more
            self._rendering = None  # its speech_rendered, when it comes, is ignored
            self._close_progress(now)
        return [done, *self._webhook_act(now)]

    def _webhook_act(self, now: float) -> list[Action]:
        wait, self._webhook = self._webhook, None
        assert wait is not None and wait.outcome is not None
        self._close_progress(now)
        self.phase = Phase.WAITING
        outcome = wait.outcome
        if isinstance(outcome, Menu):
            self._answer_menu = outcome
            return self._enter(outcome.name, now)
        if isinstance(outcome, Step):
            return self._run_step(outcome, now)
        plan = self.dialplan
        menu = self._menu if self._menu.name == wait.menu else plan.menus.get(wait.menu, self._menu)
        step = wait.spec.on_failed or menu.on_webhook_failed or Step(play=plan.webhook_failed or plan.invalid)
        return self._run_step(step, now)

    def _end(self, reason: str, now: float) -> list[Action]:
        self.hangup_reason = reason
        stopped = self._interrupt(now)
        self._stop(now)
        return [*stopped, Hangup(reason=reason)]

    def _stop(self, now: float) -> None:
        """Over: no more digits, no continuation, no idle timer (``Stopped`` is legal in every state)."""
        if self._guards is not None:
            self._guards.silence(now, False)
        self.phase = Phase.ENDED
        self._buffer.clear()
        self._then = None
        self._webhook = None
        self._rendering = None
        self._session.send(Stopped(now=now))


def _next_of(step: Step | None) -> str:
    """What a final step does, for logs: ``hangup``, ``goto:MENU``, ``transfer`` or ``authenticate``."""
    if step is None or step.hangup is not None:
        return "hangup"
    if step.goto is not None:
        return f"goto:{step.goto}"
    if step.switch is not None:
        return "switch"
    if step.webhook is not None:
        return "webhook"
    return "transfer" if step.transfer is not None else "authenticate" if step.authenticate else "menu"


@dataclass(frozen=True, slots=True)
class _Rendering:
    """A :class:`Speak` in flight: what plays once its texts are rendered."""

    id: int
    resolved: Resolution
    barge_in: bool
    then: _Then
    deadline: float
