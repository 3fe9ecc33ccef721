"""Recording the caller: received G.711 frames decoded to 8 kHz PCM16, with a cheap speech detector.

The recorder sits on the per-packet path, so it does little per frame: append the G.711 payload
(decoded only at the end, in a worker thread), one table-driven mean-magnitude sum for the energy,
and a report to the call at most every :data:`SPEECH_REPORT_INTERVAL` seconds — the menu runner's
silence timer only needs to know that speech went on, not every frame of it.

Energy threshold: a 20 ms frame counts as speech when its mean absolute sample is at least
:data:`SPEECH_LEVEL` (about -40 dBFS; G.711 idle noise and comfort silence decode to a few units,
telephone speech to hundreds or thousands), the usual fixed-threshold energy VAD of IVR recorders
(Asterisk ``Record``'s silence threshold works the same way on the mean sample).
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

from tui_engine.media import codecs
from tui_engine.media.prompts import Prompt, prompt_from_ulaw, prompt_from_wav
from tui_engine.media.wav import read_wav

SAMPLE_RATE = 8000
SPEECH_LEVEL = 300  #: mean |sample| of a 20 ms frame that counts as speech
SPEECH_REPORT_INTERVAL = 0.25  #: seconds between two speech reports to the call

SpeechHandler = Callable[[float], None]
"""``(at)``: speech energy was heard at loop time ``at``."""

_DECODE = {"PCMU": codecs.ulaw_to_samples, "PCMA": codecs.alaw_to_samples}
#: per codec, the code -> |sample| / 128 table (0-255): a frame's energy is then one C-level
#: ``bytes.translate`` and ``sum``, instead of decoding 160 samples in Python on every packet
_MAGNITUDE = {
    codec: bytes(min(255, abs(sample) >> 7) for sample in decode(bytes(range(256))))
    for codec, decode in _DECODE.items()
}
#: per codec, the low and the high byte of each code's PCM16 sample (little-endian, as WAV stores
#: it): decoding a whole message is two ``bytes.translate`` and an interleave, all in C
_PCM_BYTES = {
    codec: (bytes(s & 0xFF for s in samples), bytes((s >> 8) & 0xFF for s in samples))
    for codec, samples in ((c, decode(bytes(range(256)))) for c, decode in _DECODE.items())
}


class Recorder:
    """Keeps the G.711 payloads of one recording in memory until :meth:`audio` turns them into
    8 kHz mono PCM16 (table look-ups in C: a two-minute message in a few milliseconds).

    In memory, not streamed to disk: a message is at most a few minutes (``max-length``: two minutes
    is under 1 MB of G.711), and one write at the end keeps file I/O off the per-packet path.
    """

    def __init__(
        self, codec: str, on_speech: SpeechHandler | None = None, *, max_seconds: float = 3600.0
    ) -> None:
        self._low, self._high = _PCM_BYTES[codec]
        self._magnitude = _MAGNITUDE[codec]
        self._raw = bytearray()
        #: a bound of its own (the runner stops it at ``max-length``): memory never grows without end
        self._max_bytes = int(max_seconds * SAMPLE_RATE)
        self._on_speech = on_speech
        self._reported_at: float | None = None
        self.speech_frames = 0

    @property
    def seconds(self) -> float:
        return len(self._raw) / SAMPLE_RATE

    def feed(self, payload: bytes, at: float) -> None:
        """One received audio frame (G.711 payload) at loop time ``at``."""
        if len(self._raw) >= self._max_bytes or not payload:
            return
        self._raw += payload
        if sum(payload.translate(self._magnitude)) * 128 < SPEECH_LEVEL * len(payload):
            return
        self.speech_frames += 1
        if self._reported_at is None or at - self._reported_at >= SPEECH_REPORT_INTERVAL:
            self._reported_at = at
            if self._on_speech is not None:
                self._on_speech(at)

    def audio(self, trim: float = 0.0) -> bytes:
        """The audio recorded so far as PCM16, without its last ``trim`` seconds."""
        keep = max(0, len(self._raw) - int(trim * SAMPLE_RATE))
        raw = bytes(self._raw[:keep])
        pcm = bytearray(2 * keep)
        pcm[0::2] = raw.translate(self._low)
        pcm[1::2] = raw.translate(self._high)
        return bytes(pcm)


#: recordings the engine holds at once by default (``[engine] max-recordings``): 960 MB of audio
#: at the default two-minute ``max-length``, 28.8 GB at the longest a dialplan may ask for (1 h)
MAX_RECORDINGS = 1000


class RecordingSlot:
    """One recording's share of :class:`RecordingSlots`; :meth:`release` gives it back, once."""

    __slots__ = ("_slots",)

    def __init__(self, slots: RecordingSlots) -> None:
        self._slots: RecordingSlots | None = slots

    def release(self) -> None:
        slots, self._slots = self._slots, None
        if slots is not None:
            slots.in_use -= 1


class RecordingSlots:
    """The engine-wide bound on recordings in memory (each holds its audio: 8 000 B/s), so that
    callers cannot run the engine out of memory by all recording at once. A slot is held from the
    start of a recording until its audio is written or dropped; a recording that gets none does
    not start (the ``record`` step's ``on-failed`` runs, the call goes on)."""

    __slots__ = ("in_use", "limit")

    def __init__(self, limit: int = MAX_RECORDINGS) -> None:
        self.limit = limit  #: replaced by a reload; recordings running keep their slot
        self.in_use = 0

    def take(self) -> RecordingSlot | None:
        if self.in_use >= self.limit:
            return None
        self.in_use += 1
        return RecordingSlot(self)


def write_wav(path: Path, pcm16: bytes) -> None:
    """Write 8 kHz mono PCM16 as a WAV file (stdlib ``wave``: it writes integer PCM, all we need),
    via a temporary name so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    try:
        with wave.open(str(partial), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(pcm16)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)  # a full disk: no half file nobody lists, counts or deletes
        raise


def playback_prompt(path: Path) -> Prompt:
    """A recording (or any WAV) ready to send: the recorder's own format (8 kHz mono PCM16) is
    encoded once to µ-law and framed at C speed (``prompt_from_ulaw``: ~0.1 s for two minutes),
    anything else takes the general resampling path. Raises ``PromptError``."""
    audio = read_wav(path)
    if audio.encoding == "pcm16" and audio.sample_rate == SAMPLE_RATE and audio.channels == 1:
        return prompt_from_ulaw(path, codecs.pcm16_to_ulaw(audio.data))
    return prompt_from_wav(path, audio)


def pcm_seconds(pcm16: bytes) -> float:
    return len(pcm16) / 2 / SAMPLE_RATE
