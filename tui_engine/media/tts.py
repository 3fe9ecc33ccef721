"""Text to speech with espeak-ng, straight to the engine's prompt format (G.711 frames).

espeak-ng (Debian package ``espeak-ng``) is run as a program: text on stdin (never on the
command line, so a caller's value can never become an option), ``--stdout`` gives a 22 050 Hz
16-bit WAV. sox (Debian package ``sox``) makes it 8 kHz µ-law and trims the leading and
trailing silence, exactly as ``scripts/synth-prompts.py`` makes the recorded prompts, so a
rendered ``say:`` sounds like the prompt files beside it and the no-input timer, which starts
when a prompt ends, is not stretched by dead air. The µ-law bytes become frames at C speed
(:func:`~tui_engine.media.prompts.prompt_from_ulaw`).

Why programs and not Python: the maintained bindings (py-espeak-ng, pyttsx3) wrap the same
program or need a sound server, and a subprocess can be timed out and killed where a library
call hung in C cannot. Why sox and not the engine's own resampler (media/codecs.py): that one
is pure Python, ~60 ms of CPU per spoken second, which would be taken from the event loop of
every call in the process (a worker thread still holds the GIL); sox does it in a few ms, in
another process.

Two ways in:

* :func:`render_sync` at dialplan load (``say:`` without placeholders): blocking, cached for
  the process, so a reload re-renders only texts that changed;
* :class:`Synthesizer` at call time (text with variables): asyncio subprocesses under one time
  limit (killed past it; the wait for one of the MAX_RUNNING slots counts in it), one rendering
  per text in flight however many calls ask for it, and a bounded LRU cache of the results.
"""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
import subprocess
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from tui_engine.media.errors import PromptError
from tui_engine.media.prompts import Prompt, prompt_from_ulaw

PROGRAM = "espeak-ng"
CONVERTER = "sox"
#: sox: WAV on stdin → raw 8 kHz mono µ-law on stdout, silence trimmed at both ends
#: (silence … reverse silence … reverse, as scripts/synth-prompts.py); -D: no dither (random
#: noise), so the same text gives the same bytes every time: a cache is exact, tests can compare
_CONVERT = ("-D", "-t", "wav", "-", "-t", "raw", "-r", "8000", "-c", "1", "-e", "mu-law", "-",
            "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse")  # fmt: skip
#: espeak-ng ``-s``: words per minute it accepts (its own limits: 80 to 450)
RATES = (80, 450)
VOICE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)?$")
#: espeak-ng renderings running at once per process (the machine's cores, not the calls, bound it)
MAX_RUNNING = 2
#: speech the call-time cache keeps at most, in seconds of audio (both codecs' frames, ~19 KB per
#: second in memory: ~35 MB): besides ``speech-cache-size`` texts, because a text with a caller's
#: value may be 1000 characters (~100 s of speech, ~2 MB) and 256 of those would be ~0.5 GB
MAX_CACHE_SECONDS = 1800.0
_SOURCE = Path("say")  # what a rendered prompt names as its "file" in messages


class SpeechError(PromptError):
    """espeak-ng is missing, refused the voice, failed or took too long."""

    def __init__(self, reason: str) -> None:
        super().__init__(_SOURCE, reason)


@dataclass(frozen=True, kw_only=True, slots=True)
class Voice:
    """An espeak-ng voice (``-v``: ``en-us``, ``fr``, ``en-us+f3``) and rate (``-s``, words per minute)."""

    name: str = "en-us"
    rate: int = 175

    def __post_init__(self) -> None:
        if not VOICE_PATTERN.match(self.name):  # never an option of espeak-ng's command line
            raise ValueError(f"{self.name!r} is not an espeak-ng voice name")
        if not RATES[0] <= self.rate <= RATES[1]:
            raise ValueError(f"rate {self.rate} is outside {RATES[0]}..{RATES[1]} words per minute")

    def command(self) -> list[str]:
        """The espeak-ng command line (the program resolved on PATH)."""
        return [_which(PROGRAM), "-v", self.name, "-s", str(self.rate), "-b", "1", "--stdin", "--stdout"]


def _which(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise SpeechError(f"{program} is not installed (Debian: apt-get install {program})")
    return path


def converter() -> list[str]:
    """The sox command line: espeak-ng's WAV → trimmed 8 kHz µ-law."""
    return [_which(CONVERTER), *_CONVERT]


def to_prompt(ulaw: bytes) -> Prompt:
    """sox's output → a prompt; nothing left after trimming (a text of punctuation) is an error."""
    if not ulaw:
        raise SpeechError("no speech (the text rendered to silence)")
    return prompt_from_ulaw(_SOURCE, ulaw)


def _failed(program: str, code: int, stderr: bytes) -> SpeechError:
    detail = stderr.decode("utf-8", "replace").strip().splitlines()
    return SpeechError(f"{program} failed: {detail[-1] if detail else f'exit status {code}'}")


def _run(command: list[str], data: bytes, timeout: float) -> bytes:
    name = Path(command[0]).name
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SpeechError(f"{name} took more than {timeout:g} s") from None
    except OSError as exc:
        raise SpeechError(f"cannot run {name}: {exc}") from None
    if done.returncode != 0:
        raise _failed(name, done.returncode, done.stderr)
    return done.stdout


@functools.lru_cache(maxsize=1024)
def render_sync(text: str, voice: Voice, timeout: float = 10.0) -> Prompt:
    """``text`` spoken by ``voice``, blocking (dialplan load); raises :class:`SpeechError`."""
    wav = _run(voice.command(), text.encode("utf-8"), timeout)
    return to_prompt(_run(converter(), wav, timeout))


class Synthesizer:
    """Call-time rendering: LRU cache by (text, voice, rate) bounded in texts and in seconds of
    speech, time-limited subprocesses."""

    def __init__(
        self,
        voice: Voice,
        *,
        cache_size: int = 256,
        timeout: float = 5.0,
        cache_seconds: float = MAX_CACHE_SECONDS,
    ) -> None:
        self.voice = voice
        self.timeout = timeout
        self.cache_size = cache_size
        self.cache_seconds = cache_seconds
        self._cache: OrderedDict[tuple[str, Voice], Prompt] = OrderedDict()
        self._cached_seconds = 0.0
        self._running: dict[tuple[str, Voice], asyncio.Future[Prompt]] = {}
        self._slots = asyncio.Semaphore(MAX_RUNNING)
        #: renderings done (cache misses), for tests and the bench
        self.rendered = 0

    def __len__(self) -> int:
        return len(self._cache)

    def cached(self, text: str) -> Prompt | None:
        key = (text, self.voice)
        prompt = self._cache.get(key)
        if prompt is not None:
            self._cache.move_to_end(key)
        return prompt

    async def render(self, text: str) -> Prompt:
        """``text`` spoken; raises :class:`SpeechError` (missing program, failure, time limit)."""
        prompt = self.cached(text)
        if prompt is not None:
            return prompt
        key = (text, self.voice)
        running = self._running.get(key)
        if running is None:  # the first to ask renders; the others wait for the same result
            running = asyncio.ensure_future(self._render(key))
            self._running[key] = running
            running.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(running)

    def _finished(self, key: tuple[str, Voice], done: asyncio.Future[Prompt]) -> None:
        self._running.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved: every caller may have hung up before it failed

    async def _render(self, key: tuple[str, Voice]) -> Prompt:
        text, voice = key
        try:  # the wait for a slot counts: a burst never queues work for callers who gave up
            async with asyncio.timeout(self.timeout), self._slots:
                wav = await self._run(voice.command(), text.encode("utf-8"))
                ulaw = await self._run(converter(), wav)
        except TimeoutError:
            raise SpeechError(f"rendering took more than {self.timeout:g} s") from None
        prompt = to_prompt(ulaw)
        self.rendered += 1
        if self.cache_size > 0 and prompt.duration <= self.cache_seconds:
            self._cache[key] = prompt
            self._cached_seconds += prompt.duration
            while len(self._cache) > self.cache_size or self._cached_seconds > self.cache_seconds:
                self._cached_seconds -= self._cache.popitem(last=False)[1].duration
        return prompt

    @staticmethod
    async def _run(command: list[str], data: bytes) -> bytes:
        name = Path(command[0]).name
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise SpeechError(f"cannot run {name}: {exc}") from None
        try:
            out, stderr = await proc.communicate(data)
        except asyncio.CancelledError:  # the time limit (or the engine stopping): no orphan left
            if proc.returncode is None:
                proc.kill()
                await asyncio.shield(proc.wait())
            raise
        if proc.returncode != 0:
            raise _failed(name, proc.returncode or 0, stderr)
        return out
