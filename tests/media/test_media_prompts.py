"""Prompts: converted once per file version, 160-byte frames for PCMU and PCMA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from media_helpers import make_wav

from tui_engine.media.errors import PromptError
from tui_engine.media.prompts import PromptCache


@pytest.mark.parametrize(
    ("rate", "encoding"), [(8000, "u-law"), (8000, "a-law"), (16000, "signed"), (44100, "signed")]
)
def test_prompt_has_20ms_frames_in_both_codecs(tmp_path: Path, rate: int, encoding: str) -> None:
    prompt = PromptCache().load(make_wav(tmp_path / "p.wav", rate=rate, encoding=encoding, seconds=0.51))
    assert set(prompt.frames) == {"PCMU", "PCMA"}
    for codec in ("PCMU", "PCMA"):
        frames = prompt.payloads(codec)
        assert len(frames) == 26  # 510 ms → 25.5 frames, the last one padded
        assert all(len(f) == 160 for f in frames)
    assert prompt.duration == pytest.approx(0.52)
    assert prompt.payloads("PCMU")[-1][-1] == 0xFF  # padding is µ-law silence
    assert prompt.payloads("PCMA")[-1][-1] == 0xD5


def test_ulaw_file_is_sent_unchanged_as_pcmu(tmp_path: Path) -> None:
    path = make_wav(tmp_path / "u.wav", rate=8000, encoding="u-law", seconds=0.1)
    prompt = PromptCache().load(path)
    from tui_engine.media.wav import read_wav

    assert b"".join(prompt.payloads("PCMU")) == read_wav(path).data


def test_cache_converts_once_and_again_after_an_edit(tmp_path: Path) -> None:
    cache = PromptCache()
    path = make_wav(tmp_path / "p.wav", rate=8000, encoding="u-law", seconds=0.2)
    first = cache.load(path)
    assert cache.load(path) is first
    make_wav(path, rate=8000, encoding="u-law", seconds=0.4)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = cache.load(path)
    assert second is not first
    assert second.duration == pytest.approx(0.4)
    assert len(cache) == 1  # the old version was dropped


def test_missing_prompt_is_a_prompt_error(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="unreadable"):
        PromptCache().load(tmp_path / "missing.wav")
