"""In-band DTMF on synthesised tones, and silence on noise and speech."""

from __future__ import annotations

import math
import random
import subprocess
from pathlib import Path

import pytest
from media_helpers import dtmf_tone

from tui_engine.media import codecs
from tui_engine.media.dtmf import GoertzelDetector
from tui_engine.media.wav import read_wav

SILENCE = [0] * 400


def _through_ulaw(samples: list[int]) -> list[int]:
    """What arrives in PCMU packets: the tones after G.711 quantisation."""
    return codecs.ulaw_to_samples(codecs.pcm16_to_ulaw(codecs.samples_to_pcm16(samples)))


def test_every_key_through_ulaw() -> None:
    signal = list(SILENCE)
    for key in "1234567890*#ABCD":
        signal += dtmf_tone(key, 60) + SILENCE
    assert GoertzelDetector().feed(_through_ulaw(signal)) == list("1234567890*#ABCD")


def test_a_held_tone_is_one_digit_and_a_release_makes_the_next_one_count() -> None:
    detector = GoertzelDetector()
    assert detector.feed(dtmf_tone("5", 1500)) == ["5"]
    assert detector.feed(SILENCE) == []
    assert detector.feed(dtmf_tone("5", 100)) == ["5"]


def test_a_held_tone_with_one_bad_block_is_still_one_digit() -> None:
    tone = dtmf_tone("8", 200)
    tone[800:880] = [0] * 80  # a 10 ms dropout (lost packet concealed as silence)
    assert GoertzelDetector().feed(tone) == ["8"]


def test_digits_arrive_in_20ms_packets() -> None:
    detector = GoertzelDetector()
    signal = SILENCE + dtmf_tone("3", 80) + SILENCE + dtmf_tone("9", 80) + SILENCE
    digits: list[str] = []
    for i in range(0, len(signal), 160):
        digits += detector.feed(signal[i : i + 160])
    assert digits == ["3", "9"]


@pytest.mark.parametrize("offset", range(0, 102, 17))
def test_40ms_tones_are_caught_at_any_alignment(offset: int) -> None:
    assert GoertzelDetector().feed([0] * offset + dtmf_tone("6", 40) + SILENCE) == ["6"]


def test_a_short_blip_is_not_a_digit() -> None:
    assert GoertzelDetector().feed(SILENCE + dtmf_tone("6", 15) + SILENCE) == []


def test_quiet_tones_are_ignored() -> None:
    assert GoertzelDetector().feed(dtmf_tone("1", 100, amplitude=150)) == []


def _two_tones(low_amplitude: float, high_amplitude: float) -> list[int]:
    return [
        int(
            low_amplitude * math.sin(2 * math.pi * 697 * i / 8000)
            + high_amplitude * math.sin(2 * math.pi * 1209 * i / 8000)
        )
        for i in range(800)
    ]


@pytest.mark.parametrize(
    ("low", "high", "digits"),
    [
        (6000, 6000, ["1"]),
        (6000, 3000, ["1"]),  # low group 6 dB stronger: within the 8 dB normal twist
        (8000, 500, []),  # 24 dB: a single tone with a trace of another, not a key
        (3000, 6000, []),  # high group 6 dB stronger: beyond the 4 dB reverse twist
    ],
)
def test_twist_limits(low: float, high: float, digits: list[str]) -> None:
    assert GoertzelDetector().feed(_two_tones(low, high)) == digits


def test_tones_in_moderate_noise_are_found() -> None:
    rng = random.Random(7)
    tone = dtmf_tone("0", 100)
    noisy = [s + int(rng.gauss(0, 600)) for s in tone]  # about 20 dB SNR
    assert GoertzelDetector().feed(SILENCE + noisy + SILENCE) == ["0"]


def test_white_noise_is_no_digit() -> None:
    rng = random.Random(1)
    assert GoertzelDetector().feed([int(rng.gauss(0, 5000)) for _ in range(8000 * 5)]) == []


def test_espeak_prompt_is_no_digit(tmp_path: Path) -> None:
    """Speech that names every key: a real prompt must never trigger in-band detection."""
    wav = tmp_path / "speech.wav"
    text = (
        "Welcome. Press one for sales, two for support, star to go back, pound to repeat. "
        "Zero for the operator."
    )
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    audio = read_wav(wav)
    speech = codecs.resample_to_8k(codecs.pcm16_to_samples(audio.data), audio.sample_rate)
    assert len(speech) > 8000 * 3
    assert GoertzelDetector().feed(_through_ulaw(speech)) == []
