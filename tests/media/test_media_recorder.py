"""The recorder on the RTP receive path: G.711 in, PCM16 kept, speech energy reported throttled."""

from __future__ import annotations

import itertools
import math
import wave
from pathlib import Path

import pytest

from tui_engine.media.codecs import pcm16_to_alaw, pcm16_to_ulaw, samples_to_pcm16
from tui_engine.media.recorder import SPEECH_REPORT_INTERVAL, Recorder, write_wav

TONE = samples_to_pcm16([int(6000 * math.sin(2 * math.pi * 300 * i / 8000)) for i in range(160)])
HUSH = samples_to_pcm16([(-1) ** i * 40 for i in range(160)])  # line noise, far below speech


@pytest.mark.parametrize(("codec", "encode"), [("PCMU", pcm16_to_ulaw), ("PCMA", pcm16_to_alaw)])
def test_speech_is_reported_at_most_every_interval_and_noise_never(codec: str, encode: object) -> None:
    heard: list[float] = []
    recorder = Recorder(codec, heard.append)
    for n in range(50):  # one second of noise, then one of speech
        recorder.feed(encode(HUSH if n < 25 else TONE), n * 0.02)  # type: ignore[operator]
    for n in range(50, 100):
        recorder.feed(encode(TONE), n * 0.02)  # type: ignore[operator]
    assert heard[0] == pytest.approx(0.5)
    assert all(b - a >= SPEECH_REPORT_INTERVAL - 1e-9 for a, b in itertools.pairwise(heard))
    assert len(heard) == 6 and recorder.speech_frames == 75
    assert recorder.seconds == pytest.approx(2.0)


def test_trim_drops_the_tail_and_the_cap_bounds_memory(tmp_path: Path) -> None:
    recorder = Recorder("PCMU", max_seconds=1.0)
    for n in range(100):
        recorder.feed(pcm16_to_ulaw(TONE), n * 0.02)
    assert recorder.seconds == pytest.approx(1.0)  # two seconds fed, one kept
    audio = recorder.audio(trim=0.25)
    assert len(audio) == 2 * 6000
    write_wav(tmp_path / "m.wav", audio)
    with wave.open(str(tmp_path / "m.wav")) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnframes()) == (8000, 2, 6000)
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_the_kept_audio_is_the_codec_s_own_decoding(codec: str) -> None:
    from tui_engine.media.codecs import alaw_to_samples, ulaw_to_samples

    every_code = bytes(range(256))
    recorder = Recorder(codec)
    recorder.feed(every_code[:160], 0.0)
    recorder.feed(every_code[160:], 0.02)
    decode = ulaw_to_samples if codec == "PCMU" else alaw_to_samples
    assert recorder.audio() == samples_to_pcm16(decode(every_code))


def test_a_recording_plays_back_as_the_frames_of_what_was_heard(tmp_path: Path) -> None:
    from tui_engine.media.codecs import ulaw_to_samples
    from tui_engine.media.recorder import playback_prompt

    recorder = Recorder("PCMU")
    for n in range(50):
        recorder.feed(pcm16_to_ulaw(TONE), n * 0.02)
    write_wav(tmp_path / "m.wav", recorder.audio())
    prompt = playback_prompt(tmp_path / "m.wav")
    assert prompt.duration == pytest.approx(1.0)
    assert prompt.payloads("PCMU")[10] == pcm16_to_ulaw(TONE)  # the caller's own bytes come back
    heard = samples_to_pcm16(ulaw_to_samples(pcm16_to_ulaw(TONE)))
    assert prompt.payloads("PCMA")[10] == pcm16_to_alaw(heard)  # and as A-law, for A-law callers
