"""WAV loading: µ-law, A-law and PCM16 files written by sox, and clear errors for broken ones."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from media_helpers import make_wav

from tui_engine.core.errors import TuiEngineError
from tui_engine.media.errors import PromptError
from tui_engine.media.wav import read_wav


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
@pytest.mark.parametrize(
    ("sox_encoding", "encoding", "width"),
    [("u-law", "ulaw", 1), ("a-law", "alaw", 1), ("signed", "pcm16", 2)],
)
def test_reads_each_encoding_and_rate(
    tmp_path: Path, rate: int, sox_encoding: str, encoding: str, width: int
) -> None:
    path = make_wav(tmp_path / "p.wav", rate=rate, encoding=sox_encoding, seconds=0.5)
    audio = read_wav(path)
    assert audio.sample_rate == rate
    assert audio.channels == 1
    assert audio.encoding == encoding
    assert len(audio.data) == rate // 2 * width
    assert audio.duration == pytest.approx(0.5)


def test_stereo_pcm16(tmp_path: Path) -> None:
    audio = read_wav(make_wav(tmp_path / "s.wav", rate=16000, encoding="signed", channels=2, seconds=0.25))
    assert (audio.channels, audio.encoding, len(audio.data)) == (2, "pcm16", 4000 * 4)


def _wav(fmt_code: int, bits: int, data: bytes, *, data_size: int | None = None, fmt_size: int = 16) -> bytes:
    block = max(bits // 8, 1)
    fmt = struct.pack("<HHIIHH", fmt_code, 1, 8000, 8000 * block, block, bits)[:fmt_size]
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a RIFF/WAVE"),
        (b"ID3\x03 this is an mp3" + bytes(64), "not a RIFF/WAVE"),
        (b"RIFF\x10\x00\x00\x00AVI LIST", "not a RIFF/WAVE"),
        (_wav(2, 4, b"\x00" * 100), "unsupported format code 2"),
        (_wav(3, 32, b"\x00" * 100), "unsupported format code 3"),
        (_wav(1, 8, b"\x00" * 100), "unsupported PCM sample size 8"),
        (_wav(7, 8, b"\xff" * 100, data_size=8000), "truncated"),
        (_wav(7, 8, b"", fmt_size=10), "truncated"),
        (_wav(7, 8, b"\xff" * 100)[:36], "no 'data' chunk"),
    ],
)
def test_broken_files_give_a_prompt_error_with_path_and_reason(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(PromptError) as caught:
        read_wav(path)
    assert reason in caught.value.reason
    assert caught.value.path == path
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, TuiEngineError)


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="unreadable"):
        read_wav(tmp_path / "nope.wav")


def test_streamed_wav_with_open_ended_data_size_is_read_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "pipe.wav"
    path.write_bytes(_wav(7, 8, b"\xff" * 800, data_size=0xFFFFFFFF))
    assert read_wav(path).duration == pytest.approx(0.1)


def test_chunks_after_data_and_odd_padding_are_skipped(tmp_path: Path) -> None:
    raw = bytearray(_wav(6, 8, b"\xd5" * 161))
    raw += b"\x00" + b"LIST" + struct.pack("<I", 3) + b"abc" + b"\x00"  # pad byte after odd data, odd chunk
    path = tmp_path / "extra.wav"
    path.write_bytes(bytes(raw))
    audio = read_wav(path)
    assert (audio.encoding, len(audio.data)) == ("alaw", 161)
