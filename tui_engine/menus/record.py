"""The ``record`` step: keep the caller's audio until a key, a maximum length or silence.

Silence is one more inactivity timeout, on the same idle core as the menus' no-input timer: a
:class:`~tui_engine.core.IdleSession` with one period of ``silence`` seconds whose *activity* is
"a frame with speech energy" (the media layer reports it, throttled). The runner schedules its
deadline with the others, so the one timer driver of the call times it; nothing here reads a clock.

A recording in which no speech was ever heard ends at the silence timeout too; it is discarded and
counts as a no-input attempt (the step is played again, and after ``max-attempts`` of them the
menu's no-input rule ends the call), as Asterisk ``VoiceMail`` drops a message of silence.

What is kept, and the trimmed tail (after Asterisk ``Record``'s silence trim and the key tail):

* ended by a key: the last :data:`KEY_TRIM` seconds go (the key's own tone, when it is in-band);
* ended by silence: everything after :data:`SPEECH_TAIL` seconds past the last speech report goes;
* ended by the maximum length, a caller's hang-up or a call-wide guard: all of it (a voicemail
  caller who hangs up after speaking expects the message kept).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tui_engine.config.values import parse_duration
from tui_engine.core import Activity, Disconnect, IdleSession, Started, Stopped, call_policy
from tui_engine.media.codecs import samples_to_pcm16
from tui_engine.media.recorder import SAMPLE_RATE, SPEECH_REPORT_INTERVAL
from tui_engine.obs.logging import get_logger

if TYPE_CHECKING:
    from tui_engine.menus.checks import Checker
    from tui_engine.menus.model import Step
    from tui_engine.menus.yamlnodes import JsonPath

log = get_logger("tui_engine.record")

KEY_TRIM = 0.25  #: seconds cut from the end of a recording ended by a key
SPEECH_TAIL = 0.6  #: seconds kept after the last speech report when silence ended it
ANY_KEY = "0123456789*#"
#: longest the runner waits for the driver's file work (a recording written, a mailbox operation):
#: both hold the no-input timer, so a worker that hangs (a stuck disk) or dies must not hold the
#: call forever; then the step fails as on a disk error (``on-failed`` / ``on-failure``)
FILE_WORK_TIMEOUT = 30.0
#: longest ``max-length`` a dialplan may ask for (the recorder keeps the audio in memory: 28.8 MB)
MAX_RECORD_LENGTH = 3600.0
#: the variables a ``record`` step sets for its ``next`` step (for ``check``'s known names)
RECORD_VARIABLES = ("recording", "recording_length")


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordStep:
    """``record:`` — see the module docstring; ``mailbox`` (a template) files a kept recording as a
    new voicemail message of that mailbox, even when the caller hangs up."""

    next: Step
    max_length: float = 120.0
    silence: float = 5.0
    end_keys: str = ANY_KEY
    mailbox: str | None = None
    on_no_speech: Step | None = None  # None: a no-input attempt; the step again
    on_failed: Step | None = None  # None: the dialplan's invalid prompt, then the menu again


class EndReason(enum.Enum):
    #: a key of ``end-keys`` was pressed.
    KEY = "key"
    #: ``max-length`` was reached.
    MAX_LENGTH = "max-length"
    #: speech, then ``silence`` seconds without it.
    SILENCE = "silence"
    #: no speech at all for ``silence`` seconds.
    NO_SPEECH = "no-speech"
    #: the caller hung up, a guard expired, or the call failed.
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, kw_only=True, slots=True)
class StartRecording:
    """Keep the caller's audio from now on and report speech energy (``MenuRunner.speech``)."""

    max_length: float


@dataclass(frozen=True, kw_only=True, slots=True)
class StopRecording:
    """Stop keeping audio. When ``keep``, drop its last ``trim`` seconds and write it (as a new
    message of ``mailbox`` when given); then report ``MenuRunner.recording_saved`` (after a
    hang-up nobody listens, but the file is still written)."""

    keep: bool
    trim: float
    reason: str
    mailbox: str | None = None


class Recording:
    """One recording in progress: the silence session and the ``max-length`` deadline."""

    def __init__(self, spec: RecordStep, now: float) -> None:
        self.spec = spec
        self.started_at = now
        self.deadline = now + spec.max_length
        self.last_speech: float | None = None
        self._silence = IdleSession(call_policy(spec.silence, 1))
        self._silence.send(Started(now=now))

    def speech(self, now: float) -> None:
        """Speech energy heard at ``now`` (throttled by the media layer)."""
        self.last_speech = now
        self._silence.send(Activity(now=now))

    def next_deadline(self) -> float:
        silence = self._silence.next_deadline()
        return self.deadline if silence is None else min(self.deadline, silence)

    def poll(self, now: float) -> EndReason | None:
        """Why the recording ends at ``now``, if it does."""
        if any(isinstance(d, Disconnect) for d in self._silence.poll(now)):
            return EndReason.SILENCE if self.last_speech is not None else EndReason.NO_SPEECH
        return EndReason.MAX_LENGTH if now >= self.deadline else None

    def stop(self, reason: EndReason, now: float, mailbox: str | None) -> StopRecording:
        self._silence.send(Stopped(now=now))
        keep = self.last_speech is not None and reason is not EndReason.NO_SPEECH
        trim = 0.0
        if reason is EndReason.KEY:
            trim = KEY_TRIM
        elif reason is EndReason.SILENCE and self.last_speech is not None:
            trim = max(0.0, now - (self.last_speech + SPEECH_TAIL))
        return StopRecording(keep=keep, trim=trim, reason=reason.value, mailbox=mailbox)


def build_record(raw: dict[str, Any], step: Any) -> RecordStep:
    """``raw`` passed the schema; ``step(raw, key)`` builds a nested step (the builder's)."""
    return RecordStep(
        next=step(raw["next"], "next"),
        max_length=parse_duration(raw.get("max-length", "120s")),
        silence=parse_duration(raw.get("silence", "5s")),
        end_keys=raw.get("end-keys", ANY_KEY),
        mailbox=raw.get("mailbox"),
        on_no_speech=step(raw["on-no-speech"], "on-no-speech") if "on-no-speech" in raw else None,
        on_failed=step(raw["on-failed"], "on-failed") if "on-failed" in raw else None,
    )


def check_record(checker: Checker, raw: dict[str, Any], path: JsonPath) -> None:
    """``silence: 0`` would turn off the cut-off of a caller who says nothing (the menu's no-input
    timer is held while recording); ``max-length`` bounds the audio kept in memory."""
    limits = (
        ("silence", "5s", "a silent caller is never cut off"), ("max-length", "120s", "nothing is recorded"),
    )
    for key, default, why in limits:
        try:
            seconds = parse_duration(raw.get(key, default))
        except ValueError:
            continue  # the schema names it
        if seconds <= 0:
            checker.fail((*path, key), f"record {key} must be more than 0 ({why} with 0)")
        elif key == "max-length" and seconds > MAX_RECORD_LENGTH:
            most = f"at most {MAX_RECORD_LENGTH:g}s"
            checker.fail((*path, key), f"record max-length must be {most}, got {seconds:g}s")


def keep_recording(save: Any, stop: StopRecording, seconds: float) -> tuple[str, float]:
    """The driver's side of a :class:`StopRecording`, shared by every driver: ``save()`` writes the
    ``seconds`` of audio kept and returns its path; nothing kept, or an error writing it (a full
    disk), gives ``""`` — the call goes on (the step's ``on-failed``), it never crashes."""
    if not stop.keep or seconds <= 0:
        return "", 0.0
    try:
        return str(save()), seconds
    except (OSError, ValueError) as exc:
        log.warning("record.save_failed", why=f"{type(exc).__name__}: {exc}", mailbox=stop.mailbox)
        return "", 0.0


def synthetic_speech(start: float, end: float, spoken: list[float], trim: float) -> bytes:
    """What a test or ``simulate`` caller "said" from ``start`` to ``end`` (minus ``trim``), as
    PCM16: a 400 Hz tone for the report interval after each speech report, zeros elsewhere."""
    total = max(0, int((end - start - trim) * SAMPLE_RATE))
    samples = [0] * total
    span = int(SPEECH_REPORT_INTERVAL * SAMPLE_RATE)
    for at in spoken:
        first = int((at - start) * SAMPLE_RATE)
        for i in range(max(0, first), min(total, first + span)):
            samples[i] = int(8000 * math.sin(2 * math.pi * 400 * i / SAMPLE_RATE))
    return samples_to_pcm16(samples)
