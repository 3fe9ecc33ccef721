"""G.711 tables against known code points, and the resampler on sines."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui_engine.media import codecs


@pytest.mark.parametrize(
    ("sample", "ulaw", "alaw"),
    # G.711: zero is 0xFF (µ) / 0xD5 (A); full scale 0x80 / 0xAA; negative full scale 0x00 / 0x2A.
    [(0, 0xFF, 0xD5), (32767, 0x80, 0xAA), (-32768, 0x00, 0x2A), (-1, 0x7F, 0x55), (1000, 0xCE, 0xFA)],
)
def test_known_code_points(sample: int, ulaw: int, alaw: int) -> None:
    pcm = codecs.samples_to_pcm16([sample])
    assert codecs.pcm16_to_ulaw(pcm) == bytes([ulaw])
    assert codecs.pcm16_to_alaw(pcm) == bytes([alaw])


def test_every_code_survives_decode_then_encode() -> None:
    codes = bytes(range(256))
    ulaw_linear = codecs.samples_to_pcm16(codecs.ulaw_to_samples(codes))
    alaw_linear = codecs.samples_to_pcm16(codecs.alaw_to_samples(codes))
    # µ-law has two zeros (0x7F and 0xFF); both decode to 0 which encodes as 0xFF.
    assert codecs.pcm16_to_ulaw(ulaw_linear) == codes.replace(b"\x7f", b"\xff")
    assert codecs.pcm16_to_alaw(alaw_linear) == codes


@given(st.integers(min_value=-32768, max_value=32767))
def test_quantisation_error_is_within_the_segment_step(sample: int) -> None:
    pcm = codecs.samples_to_pcm16([sample])
    for encode, decode in (
        (codecs.pcm16_to_ulaw, codecs.ulaw_to_samples),
        (codecs.pcm16_to_alaw, codecs.alaw_to_samples),
    ):
        back = decode(encode(pcm))[0]
        assert abs(back - sample) <= max(1100, abs(sample) // 15)  # top segment step is 1024 (µ) / 1024 (A)
        assert back == 0 or sample == 0 or (back > 0) == (sample > 0) or abs(sample) < 16


def _sine(freq: float, rate: int, seconds: float = 0.5, amplitude: float = 10000) -> list[int]:
    return [int(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(int(rate * seconds))]


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000, 6000])
def test_resampling_keeps_frequency_and_level(rate: int) -> None:
    source = _sine(1000, rate)
    out = codecs.resample_to_8k(source, rate)
    assert len(out) == len(source) * 8000 // rate
    middle = out[500:3500]
    crossings = sum(1 for a, b in itertools.pairwise(middle) if (a < 0) != (b < 0))
    assert crossings == pytest.approx(2 * 1000 * len(middle) / 8000, abs=2)
    assert max(middle) == pytest.approx(10000, rel=0.03)


@pytest.mark.parametrize("rate", [16000, 44100])
def test_resampling_removes_what_8k_cannot_carry(rate: int) -> None:
    out = codecs.resample_to_8k(_sine(6000, rate), rate)  # above the 4 kHz Nyquist limit: would alias
    assert max(abs(s) for s in out[100:-100]) < 100


def test_stereo_is_mixed_by_averaging() -> None:
    assert codecs.mix_to_mono([100, 300, -50, 50], 2) == [200, 0]
