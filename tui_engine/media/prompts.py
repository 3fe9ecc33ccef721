"""Prompts: a WAV file converted once to 20 ms G.711 frames for both PCMU and PCMA, then cached.

Converting at load time keeps the per-packet path to "send the next prepared 160-byte frame"
(RFC 3551 §4.5.14: G.711 at 8 kHz, 20 ms default packetisation = 160 samples = 160 bytes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from tui_engine.media import codecs
from tui_engine.media.errors import PromptError
from tui_engine.media.wav import WavAudio, read_wav

CodecName = Literal["PCMU", "PCMA"]
FRAME_SAMPLES = 160  #: 20 ms at 8 kHz
FRAME_SECONDS = 0.02
#: The code of a zero sample, used to pad the last frame (RFC 3551 §4.5.14; G.711 tables).
SILENCE: MappingProxyType[str, int] = MappingProxyType({"PCMU": 0xFF, "PCMA": 0xD5})


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Prompt:
    """A prompt ready to send: ``frames[codec]`` is a tuple of 160-byte payloads.

    Compared and hashed by identity: the cache hands out one object per file version.
    """

    path: Path
    duration: float  #: seconds, of the audio as sent (whole frames)
    frames: MappingProxyType[str, tuple[bytes, ...]]

    def payloads(self, codec: str) -> tuple[bytes, ...]:
        """The frames for ``codec`` ("PCMU" or "PCMA")."""
        return self.frames[codec]


def prompt_from_wav(path: Path, audio: WavAudio) -> Prompt:
    """Convert decoded WAV audio to PCMU and PCMA frames."""
    pcm = _to_8k_pcm16(audio)
    if not pcm:
        raise PromptError(path, "no audio samples")
    ulaw = _frames(codecs.pcm16_to_ulaw(pcm), SILENCE["PCMU"])
    alaw = _frames(codecs.pcm16_to_alaw(pcm), SILENCE["PCMA"])
    return Prompt(
        path=path,
        duration=len(ulaw) * FRAME_SECONDS,
        frames=MappingProxyType({"PCMU": ulaw, "PCMA": alaw}),
    )


def prompt_from_ulaw(path: Path, ulaw: bytes) -> Prompt:
    """8 kHz µ-law bytes → frames, without decoding: PCMA by a 256-entry table (``bytes.translate``,
    C speed; the same mapping ``prompt_from_wav`` makes through 16-bit samples)."""
    if not ulaw:
        raise PromptError(path, "no audio samples")
    frames = _frames(ulaw, SILENCE["PCMU"])
    return Prompt(
        path=path,
        duration=len(frames) * FRAME_SECONDS,
        frames=MappingProxyType(
            {"PCMU": frames, "PCMA": _frames(ulaw.translate(_ULAW_TO_ALAW), SILENCE["PCMA"])}
        ),
    )


_ULAW_TO_ALAW = codecs.pcm16_to_alaw(codecs.samples_to_pcm16(codecs.ulaw_to_samples(bytes(range(256)))))


def _to_8k_pcm16(audio: WavAudio) -> bytes:
    """Any supported WAV → 8 kHz mono PCM16 (G.711 input is decoded first so one path resamples)."""
    if audio.encoding == "ulaw":
        samples = codecs.ulaw_to_samples(audio.data)
    elif audio.encoding == "alaw":
        samples = codecs.alaw_to_samples(audio.data)
    else:
        samples = codecs.pcm16_to_samples(audio.data)
    mono = codecs.mix_to_mono(samples, audio.channels)
    return codecs.samples_to_pcm16(codecs.resample_to_8k(mono, audio.sample_rate))


def _frames(encoded: bytes, silence: int) -> tuple[bytes, ...]:
    """Cut into 160-byte frames, padding the last one with the codec's silence code."""
    remainder = len(encoded) % FRAME_SAMPLES
    if remainder:
        encoded += bytes([silence]) * (FRAME_SAMPLES - remainder)
    return tuple(encoded[i : i + FRAME_SAMPLES] for i in range(0, len(encoded), FRAME_SAMPLES))


class PromptCache:
    """Prompts keyed by (resolved path, mtime): an edited file is converted again on its next load.

    ``load`` reads and converts synchronously; call it when a dialplan is loaded (or in a worker
    thread), not per call: a 10 s 44.1 kHz prompt takes tens of milliseconds to resample.
    """

    def __init__(self) -> None:
        self._prompts: dict[tuple[Path, int], Prompt] = {}
        # Why memoised: calls load() on every play, and Path.resolve() is a realpath walk (an
        # lstat per path component plus Python string work): ~60 µs, most of the per-play cost
        # in a profile of 2 000 calls. The stat below still sees every edit of the file itself.
        self._resolved: dict[Path, Path] = {}

    def load(self, path: Path) -> Prompt:
        """The prompt for ``path``; raises ``PromptError`` for a missing or unusable file."""
        resolved = self._resolved.get(path)
        if resolved is None:
            resolved = self._resolved[path] = path.resolve()
        try:
            mtime = os.stat(resolved).st_mtime_ns
        except OSError as exc:
            raise PromptError(path, f"unreadable: {exc.strerror or exc}") from exc
        key = (resolved, mtime)
        prompt = self._prompts.get(key)
        if prompt is None:
            self._forget(resolved)
            prompt = prompt_from_wav(path, read_wav(path))
            self._prompts[key] = prompt
        return prompt

    def _forget(self, resolved: Path) -> None:
        """Drop older versions of a file so an edited prompt does not leak its previous frames."""
        for key in [k for k in self._prompts if k[0] == resolved]:
            del self._prompts[key]

    def __len__(self) -> int:
        return len(self._prompts)
