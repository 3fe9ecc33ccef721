"""Run a dialplan in the terminal: the same :class:`MenuRunner` as real calls, no SIP.

Prompts are shown as their ``text:`` and take their real duration (scaled by ``speed``);
keys typed are DTMF digits. On a terminal, single keys are read raw (``q`` hangs up); on a
pipe, input is read line by line so sessions can be scripted::

    1           press 1 (every 0-9 * # A-D on a line is pressed in order)
    1000#       several digits at once (type-ahead)
    wait 12     read nothing more for 12 simulated seconds (timers keep running)
    talk 4      talk for 4 simulated seconds (a ``record`` step hears speech; input waits meanwhile)
    hangup      the caller hangs up

A ``webhook`` step calls its URL for real (signed with the configured secret); the answer is
used when it arrives, the timeout and the filler run on the simulated clock.

At end of input the caller stays silent until the dialplan ends the call. Authentication
is answered by a demo verifier: ``--pin``/``--mailbox`` or the dialplan's ``demo:`` section.
``voicemail`` steps and recordings use the ``mailboxes`` given (the command line's: a temporary
data directory unless ``--data-dir`` names one).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TextIO

from tui_engine.media.errors import PromptError
from tui_engine.media.recorder import SPEECH_REPORT_INTERVAL
from tui_engine.media.tts import render_sync
from tui_engine.menus.actions import (
    Action,
    Authenticate,
    DigitsCollected,
    GuardTripped,
    Hangup,
    MenuEntered,
    PlayPrompts,
    Reprompt,
    Speak,
    SpeechSkipped,
    StopPlayback,
    SwitchTaken,
    Transfer,
    TransferFailed,
    VariablesSet,
)
from tui_engine.menus.errors import DialplanError
from tui_engine.menus.loader import load_dialplan
from tui_engine.menus.model import Dialplan, PromptRef
from tui_engine.menus.record import (
    StartRecording,
    StopRecording,
    keep_recording,
    synthetic_speech,
)
from tui_engine.menus.runner import MenuRunner, Phase
from tui_engine.menus.settings import MenuDefaults
from tui_engine.menus.simulate_webhooks import BackgroundRequests, WebhookTransport
from tui_engine.menus.speech import SAY_SOURCE, WORDS_DIR, Rendered, SpeechOptions, spoken
from tui_engine.menus.terminal import HANGUP, KeyInput, LineInput, Talk, Token, Wait, cbreak, parse_line
from tui_engine.menus.variables import time_zone
from tui_engine.menus.voicemail import Mailboxes, MailboxRequest, MailboxResult
from tui_engine.menus.webhook import WebhookAnswered, WebhookFailed, WebhookRequest

AUTH_DELAY = 0.5  #: simulated seconds the demo verifier "takes"

__all__ = ["HANGUP", "parse_line", "run_simulation"]


class _Simulation:
    """The driver loop. Virtual time = real elapsed time × speed.

    Events reach the runner at their own virtual times (a prompt ends exactly after its
    duration, a timer at its deadline, scripted keys when they arrived or their ``wait`` ended),
    so a scripted session prints the same timeline however busy the machine is.
    """

    def __init__(
        self,
        plan: Dialplan,
        runner: MenuRunner,
        out: TextIO,
        *,
        speed: float,
        live: bool,
        speech: SpeechOptions | None = None,
    ) -> None:
        self.plan, self.runner, self.out = plan, runner, out
        self.speech = speech or SpeechOptions()
        self.speed, self.live = speed, live
        self.t0 = time.monotonic()
        self.at = 0.0  # virtual time of the event being handled (never decreases)
        self.play_ends: float | None = None
        self.auth_at: float | None = None
        self.auth_ok = False
        self.hold_until = 0.0  # a scripted `wait` holds further input until then
        self.pending: list[tuple[float, Token]] = []  # (arrival time, token)
        self.credentials: tuple[str | None, str] = (None, "1234")
        self.status_shown = False
        self.mailboxes: Mailboxes | None = None
        self.recording_since: float | None = None
        self.spoken: list[float] = []  # speech reports of the running recording
        self.talk_at: float | None = None  # the next speech report while the caller talks
        self.talk_until = 0.0
        self.recordings = 0
        self.requests: BackgroundRequests | None = None

    def now(self) -> float:
        return (time.monotonic() - self.t0) * self.speed

    # -- output -------------------------------------------------------------------------
    def say(self, text: str) -> None:
        if self.status_shown:
            self.out.write("\r\x1b[K")
            self.status_shown = False
        self.out.write(f"[{self.at:7.2f}] {text}\n")
        self.out.flush()

    def status(self, now: float) -> None:
        left = self.runner.seconds_left(now)
        if left is None or not self.live:
            return
        runner = self.runner
        entry = f", typed {runner.entry}" if runner.entry else ""
        attempt = f"attempt {runner.attempt}/{runner.max_attempts}"
        self.out.write(f"\r\x1b[K  {runner.current_menu}: {attempt}, {left:4.1f} s left{entry}")
        self.out.flush()
        self.status_shown = True

    # -- actions ------------------------------------------------------------------------
    def handle(self, actions: list[Action]) -> None:
        """Perform ``actions`` returned at ``self.at``."""
        for action in actions:
            self.show(action)
            if isinstance(action, PlayPrompts):
                self.play_ends = self.at + sum(p.duration for p in action.prompts)
            elif isinstance(action, StopPlayback):
                self.play_ends = None
                self.handle(self.runner.prompt_finished(self.at, completed=False))
            elif isinstance(action, Transfer):  # the simulated transfer always works
                self.handle(self.runner.transfer_succeeded(self.at))
            elif isinstance(action, WebhookRequest):
                self.send_webhook(action)
            elif isinstance(action, WebhookFailed) and self.requests is not None:
                self.requests.cancel()  # a timeout: the answer is no longer wanted
            elif isinstance(action, Speak):  # rendered for real (its duration), in no virtual time
                self.handle(self.runner.speech_rendered(action.id, self.render(action), self.at))
            elif isinstance(action, Authenticate):
                mailbox, pin = self.credentials
                self.auth_ok = action.pin == pin and mailbox in (None, action.mailbox)
                self.auth_at = self.at + AUTH_DELAY
            elif isinstance(action, StartRecording):
                self.recording_since, self.spoken = self.at, []
            elif isinstance(action, StopRecording):
                self.handle(self.saved(action))
            elif isinstance(action, MailboxRequest):
                result = self.mailboxes.perform(action) if self.mailboxes else MailboxResult(ok=False)
                self.say(f"VMAIL {action.op} {'done' if result.ok else 'failed: ' + (result.why or '?')}")
                self.handle(self.runner.mailbox_result(result, self.at))
        if self.runner.phase is Phase.WAITING and not self.live:
            left = self.runner.seconds_left(self.at)
            if left is not None and not self.runner.entry:
                attempt = f"attempt {self.runner.attempt} of {self.runner.max_attempts}"
                self.say(f"WAIT  {left:.1f} s for input ({attempt})")

    def render(self, action: Speak) -> dict[str, Rendered]:
        rendered: dict[str, Rendered] = {}
        for text in action.texts:
            try:
                rendered[text] = spoken(text, render_sync(text, self.speech.voice, action.timeout))
            except PromptError as exc:
                rendered[text] = exc.reason  # shown by the SpeechSkipped that follows
        return rendered

    def saved(self, stop: StopRecording) -> list[Action]:
        since, self.recording_since = self.recording_since, None
        pcm = synthetic_speech(since or self.at, self.at, self.spoken, stop.trim)
        self.recordings += 1
        name, mailboxes = f"simulated-{self.recordings}", self.mailboxes

        def save() -> str:
            if mailboxes is None:
                raise OSError("no data directory")
            return mailboxes.save_recording(stop, pcm, caller="simulate", name=name)

        path, seconds = keep_recording(save, stop, len(pcm) / 16000)
        self.say(f"REC   saved {seconds:.1f} s to {path}" if path else "REC   nothing kept")
        return self.runner.recording_saved(path, seconds, self.at)

    def show(self, action: Action) -> None:
        if isinstance(action, PlayPrompts):
            flag = "" if action.barge_in else " (no barge-in)"
            for verb, text, seconds in _lines(action.prompts):
                self.say(f'{verb}  "{text}" ({seconds:.1f} s){flag}')
        elif isinstance(action, Speak):
            self.say(f"SPEAK rendering {len(action.texts)} text{'s' if len(action.texts) != 1 else ''}")
        elif isinstance(action, SpeechSkipped):
            self.say(f"SKIP  {action.kind} {action.text!r}: {action.why}")
        elif isinstance(action, StopPlayback):
            self.say("STOP  prompt stopped by a key (barge-in)")
        elif isinstance(action, MenuEntered):
            self.say(f"MENU  {action.menu}")
        elif isinstance(action, Reprompt):
            self.say(f"AGAIN no input: attempt {action.attempt} of {action.of}")
        elif isinstance(action, DigitsCollected):
            self.say(f"GOT   {action.var} = {action.value}")
        elif isinstance(action, VariablesSet):
            self.say("SET   " + ", ".join(f"{name} = {value!r}" for name, value in action.values))
        elif isinstance(action, SwitchTaken):
            taken = "default" if action.case is None else f"case {action.case!r}"
            self.say(f"SWITCH {action.variable} = {action.value!r}: {taken}")
        elif isinstance(action, Authenticate):
            self.say(f"AUTH  checking mailbox {action.mailbox} with a {len(action.pin)}-digit PIN")
        elif isinstance(action, Transfer):
            self.say(f"XFER  transfer to {action.uri}")
        elif isinstance(action, TransferFailed):
            self.say(f"XFER  transfer to {action.uri} failed ({action.why}): back to the menu")
        elif isinstance(action, GuardTripped):
            self.say(f"LIMIT {action.guard} ({action.limit:g} s) reached")
        elif isinstance(action, StartRecording):
            self.say(f"REC   recording (at most {action.max_length:g} s; 'talk N' talks)")
        elif isinstance(action, StopRecording):
            self.say(f"REC   stopped: {action.reason}")
        elif isinstance(action, WebhookRequest):
            self.say(f"HOOK  POST {action.url} (timeout {action.timeout:g} s)")
        elif isinstance(action, WebhookAnswered):
            self.say(f"HOOK  answered with a {action.kind}")
        elif isinstance(action, WebhookFailed):
            self.say(f"HOOK  failed: {action.why}")
        elif isinstance(action, Hangup):
            self.say(f"BYE   hang up: {action.reason}")

    def send_webhook(self, action: WebhookRequest) -> None:
        if self.requests is None:
            self.handle(self.runner.webhook_failed(action.request_id, "no webhook client", self.at))
            return
        self.requests.send(action.request_id, action.url, action.payload)

    def webhook_outcome(self, now: float) -> bool:
        """Report a finished request at the time it was seen; False when none has finished."""
        done = self.requests.done() if self.requests is not None else None
        if done is None or self.requests is None:
            return False
        self.at = max(self.at, now)
        ok, value = done
        request_id = self.requests.request_id
        if ok:
            self.handle(self.runner.webhook_answered(request_id, value, self.at))
        else:
            self.handle(self.runner.webhook_failed(request_id, str(value), self.at))
        return True

    # -- the loop -----------------------------------------------------------------------
    def next_event(self) -> float | None:
        """When the next prompt end, login answer or runner timer is due."""
        events = (self.play_ends, self.auth_at, self.talk_at, self.runner.next_deadline())
        times = [t for t in events if t is not None]
        return min(times, default=None)

    def next_input(self) -> float | None:
        """When the first pending token may be used (arrived, and any scripted wait over)."""
        return max(self.pending[0][0], self.hold_until) if self.pending else None

    def fire_event(self) -> None:
        """Handle the due event at ``self.at``: a prompt end, the login answer, or a timer."""
        if self.play_ends is not None and self.play_ends <= self.at:
            self.play_ends = None
            self.handle(self.runner.prompt_finished(self.at, completed=True))
        elif self.talk_at is not None and self.talk_at <= self.at:
            if self.recording_since is not None:
                self.spoken.append(self.at)
            self.handle(self.runner.speech(self.at))
            following = self.talk_at + SPEECH_REPORT_INTERVAL
            self.talk_at = following if following < self.talk_until else None
        elif self.auth_at is not None and self.auth_at <= self.at:
            self.auth_at = None
            self.say(f"AUTH  {'accepted' if self.auth_ok else 'rejected'}")
            self.handle(self.runner.auth_result(self.auth_ok, self.at))
        else:
            self.handle(self.runner.poll(self.at))

    def feed(self) -> None:
        """Use the first pending token at ``self.at``."""
        _, token = self.pending.pop(0)
        if isinstance(token, Wait):
            self.hold_until = self.at + token.seconds
        elif isinstance(token, Talk):
            self.say(f"TALK  caller speaks for {token.seconds:g} s")
            self.hold_until = self.talk_until = self.at + token.seconds
            self.talk_at = self.at
        elif token == HANGUP:
            self.say("KEY   caller hangs up")
            self.handle(self.runner.caller_hangup(self.at))
        else:
            self.say(f"KEY   {token}")
            self.handle(self.runner.digit(token, self.at))

    def step(self, now: float) -> bool:
        """Do the earliest thing due by ``now`` (input first on a tie); False when nothing is."""
        event, given = self.next_event(), self.next_input()
        if (event is None or event > now) and self.webhook_outcome(now):
            return True
        if given is not None and given <= now and (event is None or given <= event):
            self.at = max(self.at, given)
            self.feed()
        elif event is not None and event <= now:
            self.at = max(self.at, event)
            self.fire_event()
        else:
            return False
        return True

    def run(self, source: LineInput) -> None:
        self.handle(self.runner.start(self.at))
        while self.runner.phase is not Phase.ENDED:
            now = self.now()
            if self.step(now):
                continue
            if source.eof and not self.pending and self.next_event() is None and self.auth_at is None:
                self.at = max(self.at, now)
                self.say("input closed and nothing left to wait for")
                self.handle(self.runner.caller_hangup(self.at))
                break
            self.status(now)
            wake = [t for t in (self.next_event(), self.next_input()) if t is not None]
            if self.live:
                wake.append(now + 0.25 * self.speed)  # refresh the countdown four times a second
            if self.requests is not None and self.requests.pending:
                wake.append(now + 0.02 * self.speed)  # a real request: look for its answer
            timeout = (min(wake, default=now + self.speed) - now) / self.speed
            self.pending += [(self.now(), token) for token in source.read(timeout)]


def _lines(prompts: tuple[PromptRef, ...]) -> list[tuple[str, str, float]]:
    """``PLAY`` per prompt file, ``SAY`` per spoken text; number words in a row make one ``SAY``."""
    lines: list[tuple[str, str, float]] = []
    words = False
    for prompt in prompts:
        is_word = prompt.path.parent.parent == WORDS_DIR
        text = prompt.text or prompt.path.name
        if is_word and words:
            verb, joined, seconds = lines[-1]
            lines[-1] = (verb, f"{joined} {text}", seconds + prompt.duration)
        else:
            verb = "SAY " if is_word or prompt.path == SAY_SOURCE else "PLAY"
            lines.append((verb, text, prompt.duration))
        words = is_word
    return lines


def _credentials(plan: Dialplan, pin: str | None, mailbox: str | None) -> tuple[str | None, str]:
    demo_pin = pin or (plan.demo.pin if plan.demo else None) or "1234"
    demo_mailbox = mailbox or (plan.demo.mailbox if plan.demo else None)
    return demo_mailbox, demo_pin


def _variables(given: Mapping[str, str] | None) -> dict[str, str]:
    """What a real call brings (``caller``, ``dialled``, ``call_id``), overridden by ``--var``."""
    return {"caller": "", "dialled": "", "call_id": "simulated", **(given or {})}


def _epoch(plan: Dialplan, defaults: MenuDefaults, at: datetime | None) -> float:
    """Unix time at virtual time 0: ``at`` (naive = in the dialplan's zone), else now."""
    if at is None:
        return time.time()
    if at.tzinfo is None:
        at = at.replace(tzinfo=time_zone(plan.time_zone or defaults.time_zone))
    return at.timestamp()


def run_simulation(
    dialplan_path: Path,
    defaults: MenuDefaults,
    *,
    speed: float = 1.0,
    pin: str | None = None,
    mailbox: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    at: datetime | None = None,
    variables: Mapping[str, str] | None = None,
    webhooks: WebhookTransport | None = None,
    speech: SpeechOptions | None = None,
    mailboxes: Mailboxes | None = None,
) -> int:
    """Simulate a call to ``dialplan_path``; 0 when the call ended, 2 when the dialplan is invalid."""
    out = stdout or sys.stdout
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    try:
        plan = load_dialplan(dialplan_path, speech=speech)
    except DialplanError as exc:
        out.write(f"{exc}\n")
        return 2
    source_file = stdin or sys.stdin
    fd = source_file.fileno()
    live = os.isatty(fd)
    epoch = _epoch(plan, defaults, at)
    runner = MenuRunner(plan, defaults, variables=_variables(variables), epoch_offset=epoch)
    sim = _Simulation(plan, runner, out, speed=speed, live=live, speech=speech)
    sim.credentials = _credentials(plan, pin, mailbox)
    sim.mailboxes = mailboxes
    sim.requests = BackgroundRequests(webhooks) if webhooks is not None else None
    who = f"mailbox {sim.credentials[0]}" if sim.credentials[0] else "any mailbox"
    out.write(f"Simulating dialplan {plan.name!r} ({dialplan_path}) at speed x{speed:g}.\n")
    out.write(f"Demo login: {who}, PIN {sim.credentials[1]}. Keys: 0-9 * # (q hangs up).\n")
    try:
        if live:
            with cbreak(fd):
                sim.run(KeyInput(fd))
        else:
            sim.run(LineInput(fd))
    finally:
        if sim.requests is not None:
            sim.requests.close()
    out.write("\n" if sim.status_shown else "")
    return 0
