"""G.711 µ-law / A-law and resampling of 16-bit PCM to 8 kHz mono.

Why hand-written: ``audioop`` is deprecated (PEP 594) and gone in Python 3.13, and G.711 is a fixed
table (ITU-T G.711 tables 1a/2a). All four tables are built once at import: encoding a prompt is then
one table look-up per sample, and decoding received audio (in-band DTMF) likewise.

Resampling method: band-limited interpolation with a Blackman-windowed sinc kernel (J. O. Smith,
"Digital Audio Resampling"), low-pass cut-off at 0.9 × the lower Nyquist frequency, ±8 output-rate
zero crossings. The in/out rate ratio is rational, so the fractional positions repeat every
``8000 / gcd(rate, 8000)`` outputs: the kernel weights are computed once per phase, not per sample.
Channels are first mixed down by averaging (prompts are speech; stereo is an accident of the editor).
"""

from __future__ import annotations

import math
import operator
import sys
from array import array
from collections.abc import Sequence
from functools import lru_cache

TARGET_RATE = 8000
_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635
_ALAW_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _ulaw_encode_one(sample: int) -> int:
    """G.711 µ-law of one signed 16-bit sample (bias 0x84, 8 segments)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sign else sample, _ULAW_CLIP) + _ULAW_BIAS
    exponent = magnitude.bit_length() - 8
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _ulaw_decode_one(code: int) -> int:
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return -magnitude if code & 0x80 else magnitude


def _alaw_encode_one(sample: int) -> int:
    """G.711 A-law of one signed 16-bit sample (13-bit magnitude, even bits inverted with 0x55)."""
    pcm = sample >> 3
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    for segment, end in enumerate(_ALAW_SEGMENT_ENDS):
        if pcm <= end:
            shift = 1 if segment < 2 else segment
            return ((segment << 4) | ((pcm >> shift) & 0x0F)) ^ mask
    return 0x7F ^ mask


def _alaw_decode_one(code: int) -> int:
    code ^= 0x55
    value = (code & 0x0F) << 4
    segment = (code & 0x70) >> 4
    if segment == 0:
        value += 8
    elif segment == 1:
        value += 0x108
    else:
        value = (value + 0x108) << (segment - 1)
    return value if code & 0x80 else -value


def _signed(index: int) -> int:
    return index - 0x10000 if index & 0x8000 else index


# Indexed by the *unsigned* 16-bit view of a sample, so a buffer cast to 'H' maps straight through.
_ULAW_ENCODE = bytes(_ulaw_encode_one(_signed(i)) for i in range(0x10000))
_ALAW_ENCODE = bytes(_alaw_encode_one(_signed(i)) for i in range(0x10000))
_ULAW_DECODE = tuple(_ulaw_decode_one(c) for c in range(256))
_ALAW_DECODE = tuple(_alaw_decode_one(c) for c in range(256))


def _samples_u16(pcm16: bytes) -> array[int]:
    """Little-endian 16-bit PCM as unsigned machine words (byte-swapped on big-endian hosts)."""
    words = array("H", pcm16[: len(pcm16) & ~1])
    if sys.byteorder == "big":
        words.byteswap()
    return words


def pcm16_to_ulaw(pcm16: bytes) -> bytes:
    """Little-endian signed 16-bit PCM → µ-law, one byte per sample."""
    return bytes(map(_ULAW_ENCODE.__getitem__, _samples_u16(pcm16)))


def pcm16_to_alaw(pcm16: bytes) -> bytes:
    """Little-endian signed 16-bit PCM → A-law, one byte per sample."""
    return bytes(map(_ALAW_ENCODE.__getitem__, _samples_u16(pcm16)))


def ulaw_to_samples(data: bytes) -> list[int]:
    """µ-law bytes → signed linear samples (for in-band DTMF detection and conversions)."""
    return list(map(_ULAW_DECODE.__getitem__, data))


def alaw_to_samples(data: bytes) -> list[int]:
    """A-law bytes → signed linear samples."""
    return list(map(_ALAW_DECODE.__getitem__, data))


def samples_to_pcm16(samples: Sequence[int]) -> bytes:
    """Signed samples (clipped to 16 bits) → little-endian PCM16 bytes."""
    words = array("h", (max(-32768, min(32767, s)) for s in samples))
    if sys.byteorder == "big":
        words.byteswap()
    return words.tobytes()


def pcm16_to_samples(pcm16: bytes) -> list[int]:
    """Little-endian PCM16 bytes → signed samples."""
    words = array("h", pcm16[: len(pcm16) & ~1])
    if sys.byteorder == "big":
        words.byteswap()
    return words.tolist()


def mix_to_mono(samples: Sequence[int], channels: int) -> list[int]:
    """Average interleaved channels into one."""
    if channels == 1:
        return list(samples)
    frames = len(samples) // channels
    return [sum(samples[i * channels : (i + 1) * channels]) // channels for i in range(frames)]


def resample_to_8k(samples: Sequence[int], rate: int) -> list[int]:
    """Resample mono signed samples from ``rate`` Hz to 8 kHz (method in the module docstring)."""
    if rate == TARGET_RATE:
        return list(samples)
    step = math.gcd(rate, TARGET_RATE)
    up, down = TARGET_RATE // step, rate // step  # output n sits at input position n * down / up
    phases, half = _phase_weights(rate, up, down)
    padded = [0] * half + list(samples) + [0] * (half + 1)
    out: list[int] = []
    for n in range(len(samples) * up // down):
        base, weights = phases[n % up]
        start = (n // up) * down + base  # index in ``padded`` of the first tap
        window = padded[start : start + len(weights)]
        out.append(max(-32768, min(32767, round(sum(map(operator.mul, window, weights))))))
    return out


@lru_cache(maxsize=16)
def _phase_weights(rate: int, up: int, down: int) -> tuple[tuple[tuple[int, tuple[float, ...]], ...], int]:
    """Per output phase: (first tap's index in the padded input, normalised weights), and the padding."""
    cutoff = 0.9 * min(rate, TARGET_RATE) / 2 / rate  # cycles per input sample
    half = math.ceil(8 * max(1.0, rate / TARGET_RATE))  # input taps each side of the position
    phases: list[tuple[int, tuple[float, ...]]] = []
    for phase in range(up):
        position = phase * down / up
        centre = math.floor(position)
        taps = range(centre - half + 1, centre + half + 1)
        weights = [_sinc(2 * cutoff * (k - position)) * _blackman((k - position) / half) for k in taps]
        total = sum(weights)  # normalise to unity DC gain
        phases.append((centre + 1, tuple(w / total for w in weights)))
    return tuple(phases), half


def _sinc(x: float) -> float:
    return 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x)


def _blackman(x: float) -> float:
    """Blackman window on [-1, 1] (0 outside)."""
    if abs(x) >= 1:
        return 0.0
    u = (x + 1) / 2
    return 0.42 - 0.5 * math.cos(2 * math.pi * u) + 0.08 * math.cos(4 * math.pi * u)
