"""A fake call driver for testing dialplans with a :class:`~tui_engine.core.FakeClock`.

It plays the glue's part the way a real call does — prompts take their WAV duration, a
:class:`StopPlayback` ends the prompt at once, deadlines are polled exactly when due — but
time only moves when the test says so. Users can test their own dialplans with it::

    call = MenuHarness(load_dialplan(Path("dialplans/main.yaml")))
    call.start()
    call.finish_prompt()          # the greeting played to the end
    call.press("2")               # -> MenuEntered("support"), PlayPrompts(...)
    call.advance(30)              # silence: reprompts, then goodbye and Hangup

``say:`` text with variables (:class:`Speak`) is "rendered" by ``speech``: a function of the
text giving its duration in seconds (``None``: that text fails), answered at once; by default
0.4 s per word. With ``speech=None`` the rendering waits for :meth:`MenuHarness.speech_done`,
so a test can let time pass while it is under way.

Recording: ``talk(seconds)`` is the caller talking (speech reports as the media layer sends them,
a tone in the recorded audio); a :class:`~tui_engine.menus.voicemail.Mailboxes` given as
``mailboxes`` (e.g. ``tui_engine.voicemail.Voicemail(tmp_path)``) performs ``voicemail`` steps and
keeps recordings; without one, recordings are named ``memory:recording-N`` and not written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from tui_engine.core import FakeClock
from tui_engine.media.recorder import SAMPLE_RATE, SPEECH_REPORT_INTERVAL, RecordingSlot, RecordingSlots
from tui_engine.menus.actions import Action, Hangup, PlayPrompts, Speak, StopPlayback
from tui_engine.menus.errors import MenuError
from tui_engine.menus.model import Dialplan, PromptRef
from tui_engine.menus.record import StartRecording, StopRecording, keep_recording, synthetic_speech
from tui_engine.menus.runner import MenuRunner
from tui_engine.menus.settings import MenuDefaults
from tui_engine.menus.speech import SAY_SOURCE, Rendered
from tui_engine.menus.voicemail import Mailboxes, MailboxRequest, MailboxResult
from tui_engine.menus.webhook import WebhookRequest

SpeechFake = Callable[[str], float | None]


def words_seconds(text: str) -> float:
    """The default fake rendering: 0.4 s per word."""
    return 0.4 * max(1, len(text.split()))


class MenuHarness:
    """Drives one :class:`MenuRunner`; every method returns the actions it caused, in order."""

    def __init__(
        self,
        dialplan: Dialplan,
        defaults: MenuDefaults | None = None,
        *,
        start: float = 0.0,
        wall: datetime | None = None,
        variables: Mapping[str, str] | None = None,
        speech: SpeechFake | None = words_seconds,
        mailboxes: Mailboxes | None = None,
        recording_slots: RecordingSlots | None = None,
    ) -> None:
        """``wall``: the wall clock at ``start`` (an aware datetime; default the Unix epoch),
        for the clock variables; ``variables``: the built-ins a real call would bring;
        ``recording_slots``: the engine's recordings, shared with other harnesses (default: no bound)."""
        self.clock = FakeClock(start)
        offset = 0.0 if wall is None else wall.timestamp() - start
        defaults = defaults or MenuDefaults()
        self.runner = MenuRunner(dialplan, defaults, variables=variables, epoch_offset=offset)
        self.speech = speech
        self.speaking: Speak | None = None  # a rendering waiting for speech_done()
        self.mailboxes = mailboxes
        self.recording_since: float | None = None  # while a StartRecording runs
        self.recording_slots = recording_slots
        self._slot: RecordingSlot | None = None  # the running recording's, until it is saved
        self._spoken: list[float] = []  # speech reports of the running recording
        self.recordings = 0
        self.log: list[tuple[float, Action]] = []  # every action, with the time it was returned
        self.playing: PlayPrompts | None = None
        self.play_ends: float | None = None
        self.webhook: WebhookRequest | None = None  # the last request sent

    @property
    def now(self) -> float:
        return self.clock.now()

    @property
    def ended(self) -> bool:
        return any(isinstance(a, Hangup) for _, a in self.log)

    def _absorb(self, actions: list[Action]) -> list[Action]:
        out: list[Action] = []
        for action in actions:
            self.log.append((self.now, action))
            out.append(action)
            if isinstance(action, WebhookRequest):
                self.webhook = action
            if isinstance(action, PlayPrompts):
                self.playing = action
                self.play_ends = self.now + sum(p.duration for p in action.prompts)
            elif isinstance(action, Speak):
                self.speaking = action
                if self.speech is not None:
                    out += self.speech_done({text: self.speech(text) for text in action.texts})
            elif isinstance(action, StopPlayback):
                # The glue stops the audio at once and reports the prompt as not completed.
                out += self._finished(completed=False)
            elif isinstance(action, StartRecording):
                if self.recording_slots is not None:
                    self._slot = self.recording_slots.take()
                    if self._slot is None:  # as the call glue does: the step's on-failed
                        out += self._absorb(self.runner.recording_refused(self.now))
                        continue
                self.recording_since, self._spoken = self.now, []
            elif isinstance(action, StopRecording):
                out += self._saved(action)
            elif isinstance(action, MailboxRequest):
                result = self.mailboxes.perform(action) if self.mailboxes else MailboxResult(ok=False)
                out += self._absorb(self.runner.mailbox_result(result, self.now))
        return out

    def _saved(self, stop: StopRecording) -> list[Action]:
        """Write what the caller "said" (a tone per speech report) as the call glue would."""
        since, self.recording_since = self.recording_since, None
        pcm = synthetic_speech(since or self.now, self.now, self._spoken, stop.trim)
        self.recordings += 1
        name = f"recording-{self.recordings}"
        caller = self.runner.variables.get("caller", "")
        mailboxes = self.mailboxes

        def save() -> str:
            if mailboxes is None:
                return f"memory:{name}"
            return mailboxes.save_recording(stop, pcm, caller=caller, name=name)

        path, seconds = keep_recording(save, stop, len(pcm) / 2 / SAMPLE_RATE)
        if self._slot is not None:
            self._slot.release()
            self._slot = None
        return self._absorb(self.runner.recording_saved(path, seconds, self.now))

    def _finished(self, *, completed: bool) -> list[Action]:
        self.playing, self.play_ends = None, None
        return self._absorb(self.runner.prompt_finished(self.now, completed))

    # -- what a caller / the network does -----------------------------------------------
    def start(self) -> list[Action]:
        return self._absorb(self.runner.start(self.now))

    def press(self, digits: str) -> list[Action]:
        """Digits pressed at the current time, one after the other."""
        out: list[Action] = []
        for digit in digits:
            out += self._absorb(self.runner.digit(digit, self.now))
        return out

    def auth(self, ok: bool) -> list[Action]:
        return self._absorb(self.runner.auth_result(ok, self.now))

    def transfer_ok(self) -> list[Action]:
        """The REFER's NOTIFY reported success: the call is over."""
        return self._absorb(self.runner.transfer_succeeded(self.now))

    @property
    def variables(self) -> dict[str, str]:
        return self.runner.variables

    def transfer_failed(self, why: str = "603") -> list[Action]:
        """The REFER was refused (or its NOTIFY reported failure): back to the dialplan."""
        return self._absorb(self.runner.transfer_failed(why, self.now))

    def talk(self, seconds: float) -> list[Action]:
        """The caller talks for ``seconds`` (speech reported every ``SPEECH_REPORT_INTERVAL``)."""
        out: list[Action] = []
        end = self.now + seconds
        while self.now < end - 1e-9:
            if self.recording_since is not None:
                self._spoken.append(self.now)
                out += self._absorb(self.runner.speech(self.now))
            out += self.advance(min(SPEECH_REPORT_INTERVAL, end - self.now))
        return out

    def webhook_answer(self, answer: object) -> list[Action]:
        """The application server answered the last :class:`WebhookRequest` (parsed JSON)."""
        if self.webhook is None:
            raise MenuError("webhook_answer(): no webhook request was sent")
        return self._absorb(self.runner.webhook_answered(self.webhook.request_id, answer, self.now))

    def webhook_fail(self, why: str = "HTTP 500") -> list[Action]:
        """The last :class:`WebhookRequest` failed (connection refused, non-2xx, not JSON)."""
        if self.webhook is None:
            raise MenuError("webhook_fail(): no webhook request was sent")
        return self._absorb(self.runner.webhook_failed(self.webhook.request_id, why, self.now))
    def speech_done(self, seconds: dict[str, float | None] | None = None) -> list[Action]:
        """The pending :class:`Speak` is rendered: ``seconds`` per text (``None``/missing: failed);
        by default every text, at 0.4 s per word."""
        if self.speaking is None:
            raise MenuError("speech_done(): no rendering pending")
        speak, self.speaking = self.speaking, None
        durations = seconds if seconds is not None else {t: words_seconds(t) for t in speak.texts}
        rendered: dict[str, Rendered] = {
            text: None
            if (d := durations.get(text)) is None
            else PromptRef(name="say", path=SAY_SOURCE, text=text, duration=d)
            for text in speak.texts
        }
        return self._absorb(self.runner.speech_rendered(speak.id, rendered, self.now))

    def hang_up(self) -> list[Action]:
        return self._absorb(self.runner.caller_hangup(self.now))

    def update(self, defaults: MenuDefaults) -> list[Action]:
        return self._absorb(self.runner.update_defaults(defaults, self.now))

    # -- time ---------------------------------------------------------------------------
    def finish_prompt(self) -> list[Action]:
        """Let the playing prompt run to its end (time moves to its end)."""
        if self.playing is None or self.play_ends is None:
            raise MenuError("finish_prompt(): nothing is playing")
        self.clock.set(self.play_ends)
        return self._finished(completed=True)

    def advance(self, seconds: float) -> list[Action]:
        """Let ``seconds`` pass: prompts end and timers fire exactly at their times, in order."""
        target = self.now + seconds
        out: list[Action] = []
        for _ in range(100_000):  # bounded: a runner whose deadline never moves is a bug to report
            deadline = self.runner.next_deadline()
            due = [t for t in (self.play_ends, deadline) if t is not None and t <= target]
            if not due:
                break
            self.clock.set(max(self.now, min(due)))
            if self.play_ends is not None and self.play_ends <= self.now:
                out += self._finished(completed=True)
            else:
                out += self._absorb(self.runner.poll(self.now))
        else:
            raise MenuError(f"advance(): deadline {self.runner.next_deadline()} never moves past {self.now}")
        self.clock.set(target)
        return out

