"""Text to speech with espeak-ng, straight to the engine's prompt format (G.711 frames).

espeak-ng (Debian package ``espeak-ng``) is run as a program: text on stdin (never on the
command line, so a caller's value can never become an option), ``--stdout`` gives a 22 050 Hz
16-bit WAV, converted by :func:`~tui_engine.media.prompts.prompt_from_wav` like any prompt
file. Why a program and not a Python binding: the maintained bindings (py-espeak-ng, pyttsx3)
wrap the same program or need a sound server; a subprocess can be timed out and killed, a
library call hung in C cannot.

Two ways in:

* :func:`render_sync` at dialplan load (``say:`` without placeholders): blocking, cached for
  the process, so a reload re-renders only texts that changed;
* :class:`Synthesizer` at call time (text with variables): an asyncio subprocess with a time
  limit (killed past it), the WAV → frames conversion in a worker thread (it is pure Python
  resampling, ~30 ms per spoken second: off the event loop), one rendering per text in flight
  however many calls ask for it, and a bounded LRU cache of the results.
"""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
import struct
import subprocess
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from tui_engine.media.errors import PromptError
from tui_engine.media.prompts import Prompt, prompt_from_wav
from tui_engine.media.wav import parse_wav

PROGRAM = "espeak-ng"
#: espeak-ng ``-s``: words per minute it accepts (its own limits: 80 to 450)
RATES = (80, 450)
VOICE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)?$")
#: espeak-ng renderings running at once per process (the machine's cores, not the calls, bound it)
MAX_RUNNING = 2
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

    def command(self) -> list[str]:
        return [PROGRAM, "-v", self.name, "-s", str(self.rate), "-b", "1", "--stdin", "--stdout"]


def _program() -> str:
    path = shutil.which(PROGRAM)
    if path is None:
        raise SpeechError(f"{PROGRAM} is not installed (Debian: apt-get install espeak-ng)")
    return path


def to_prompt(wav: bytes, stderr: bytes = b"") -> Prompt:
    """espeak-ng's ``--stdout`` WAV → a prompt.

    espeak-ng writes to a pipe, so it cannot seek back to fill in the sizes: the RIFF and
    data sizes say 0x7FFFF000. They are set to what was really written before parsing.
    """
    raw = bytearray(wav)
    at = raw.find(b"data", 12)
    if len(raw) < 44 or raw[:4] != b"RIFF" or at < 0:
        detail = stderr.decode("utf-8", "replace").strip()
        raise SpeechError(f"{PROGRAM} gave no audio{': ' + detail if detail else ''}")
    struct.pack_into("<I", raw, 4, len(raw) - 8)
    struct.pack_into("<I", raw, at + 4, len(raw) - at - 8)
    return prompt_from_wav(_SOURCE, parse_wav(bytes(raw), path=_SOURCE))


def _failed(code: int, stderr: bytes) -> SpeechError:
    detail = stderr.decode("utf-8", "replace").strip() or f"exit status {code}"
    return SpeechError(f"{PROGRAM} failed: {detail}")


@functools.lru_cache(maxsize=1024)
def render_sync(text: str, voice: Voice, timeout: float = 10.0) -> Prompt:
    """``text`` spoken by ``voice``, blocking (dialplan load); raises :class:`SpeechError`."""
    try:
        done = subprocess.run(
            [_program(), *voice.command()[1:]],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SpeechError(f"{PROGRAM} took more than {timeout:g} s") from None
    except OSError as exc:
        raise SpeechError(f"cannot run {PROGRAM}: {exc}") from None
    if done.returncode != 0:
        raise _failed(done.returncode, done.stderr)
    return to_prompt(done.stdout, done.stderr)


class Synthesizer:
    """Call-time rendering: bounded LRU cache by (text, voice, rate), time-limited subprocesses."""

    def __init__(self, voice: Voice, *, cache_size: int = 256, timeout: float = 5.0) -> None:
        self.voice = voice
        self.timeout = timeout
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, Voice], Prompt] = OrderedDict()
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
            running.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(running)

    async def _render(self, key: tuple[str, Voice]) -> Prompt:
        text, voice = key
        async with self._slots:
            try:
                wav, stderr = await asyncio.wait_for(self._run(text, voice), self.timeout)
            except TimeoutError:
                raise SpeechError(f"{PROGRAM} took more than {self.timeout:g} s") from None
            prompt = await asyncio.to_thread(to_prompt, wav, stderr)
        self.rendered += 1
        if self.cache_size > 0:
            self._cache[key] = prompt
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return prompt

    @staticmethod
    async def _run(text: str, voice: Voice) -> tuple[bytes, bytes]:
        try:
            proc = await asyncio.create_subprocess_exec(
                _program(),
                *voice.command()[1:],
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise SpeechError(f"cannot run {PROGRAM}: {exc}") from None
        try:
            wav, stderr = await proc.communicate(text.encode("utf-8"))
        except asyncio.CancelledError:  # the time limit (or the engine stopping): no orphan left
            if proc.returncode is None:
                proc.kill()
                await asyncio.shield(proc.wait())
            raise
        if proc.returncode != 0:
            raise _failed(proc.returncode or 0, stderr)
        return wav, stderr
