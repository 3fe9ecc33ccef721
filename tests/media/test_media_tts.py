"""espeak-ng → prompts: real renderings, the call-time cache, and a hung or broken program."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from pathlib import Path

import pytest

from tui_engine.media.prompts import PromptCache
from tui_engine.media.tts import MAX_RUNNING, SpeechError, Synthesizer, Voice, render_sync, to_prompt

#: espeak-ng renders say: text (tests/conftest.py fails a CI run without it; elsewhere: skip)
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="not installed: espeak-ng")


def fake_espeak(directory: Path, body: str) -> Path:
    """An ``espeak-ng`` first on PATH that runs ``body`` (a shell script) instead of speaking."""
    program = directory / "espeak-ng"
    program.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


def test_a_rendering_is_speech_in_both_codecs_and_the_same_every_time() -> None:
    prompt = render_sync("Your balance is twelve dollars.", Voice())
    assert 1.0 < prompt.duration < 4.0
    ulaw, alaw = prompt.payloads("PCMU"), prompt.payloads("PCMA")
    assert len(ulaw) == len(alaw) == round(prompt.duration / 0.02)
    assert all(len(frame) == 160 for frame in ulaw)
    assert len(set(ulaw)) > len(ulaw) // 2  # speech: frames differ, not one silence frame repeated
    again = asyncio.run(Synthesizer(Voice(), cache_size=0).render("Your balance is twelve dollars."))
    assert again.payloads("PCMU") == ulaw  # deterministic: what the end-to-end test relies on


def test_the_rate_changes_the_length() -> None:
    slow = render_sync("one two three four five six", Voice(rate=100))
    fast = render_sync("one two three four five six", Voice(rate=300))
    assert slow.duration > 1.5 * fast.duration


async def test_the_cache_renders_each_text_once_and_forgets_the_least_recently_used() -> None:
    speech = Synthesizer(Voice(), cache_size=2)
    first = await speech.render("alpha")
    assert await speech.render("alpha") is first
    await speech.render("bravo")
    await speech.render("alpha")  # alpha is now the most recently used
    await speech.render("charlie")  # evicts bravo
    assert speech.rendered == 3 and len(speech) == 2
    assert speech.cached("alpha") is first and speech.cached("bravo") is None
    await speech.render("bravo")
    assert speech.rendered == 4


async def test_the_cache_holds_a_bounded_amount_of_speech_not_only_a_number_of_texts() -> None:
    """Texts with a caller's value (``say: "Hello {caller}"``) may each be up to 1000 characters,
    ~100 s of audio: 256 of them would be ~0.5 GB. The cache keeps at most ``cache_seconds``."""
    speech = Synthesizer(Voice(), cache_size=100, cache_seconds=4.0)
    texts = [f"Account {n}, your balance is {n} dollars." for n in range(4)]  # ~2 s each
    prompts = [await speech.render(text) for text in texts]
    assert all(p.duration > 1.5 for p in prompts)
    kept = [p for t, p in zip(texts, prompts, strict=True) if speech.cached(t) is p]
    assert 0 < sum(p.duration for p in kept) <= 4.0
    assert speech.cached(texts[-1]) is prompts[-1]  # the least recently used went first
    long = await speech.render(" ".join(texts))  # longer than the whole budget: played, not kept
    assert long.duration > 4.0 and speech.cached(" ".join(texts)) is None
    assert speech.cached(texts[-1]) is prompts[-1]


async def test_calls_asking_for_the_same_text_at_once_share_one_rendering() -> None:
    speech = Synthesizer(Voice(), cache_size=0)
    prompts = await asyncio.gather(*(speech.render("You have three new messages.") for _ in range(6)))
    assert speech.rendered == 1 and len({id(p) for p in prompts}) == 1


async def test_a_voice_espeak_ng_does_not_know_fails_with_its_message() -> None:
    with pytest.raises(SpeechError, match="does not exist"):
        await Synthesizer(Voice(name="xx-nope")).render("hello")


async def test_a_hung_espeak_ng_is_killed_at_the_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "pid"
    fake_espeak(tmp_path, f"echo $$ > {pid_file}\nexec sleep 60")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    speech = Synthesizer(Voice(), timeout=0.5)
    with pytest.raises(SpeechError, match=r"rendering took more than 0\.5 s"):
        await speech.render("hello")
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped: no orphan left behind
        os.kill(pid, 0)
    assert len(speech) == 0  # a failure is not cached: the next call tries again


async def test_a_failing_espeak_ng_reports_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_espeak(tmp_path, "echo 'cannot open audio' >&2\nexit 3")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(SpeechError, match="espeak-ng failed: cannot open audio"):
        await Synthesizer(Voice()).render("hello")


async def test_a_missing_espeak_ng_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SpeechError, match="espeak-ng is not installed"):
        await Synthesizer(Voice()).render("hello")


def test_a_text_that_renders_to_silence_is_an_error() -> None:
    with pytest.raises(SpeechError, match="no speech"):
        render_sync("...", Voice())
    with pytest.raises(SpeechError, match="no speech"):
        to_prompt(b"")


async def test_a_missing_sox_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    espeak = shutil.which("espeak-ng")
    assert espeak is not None
    (tmp_path / "espeak-ng").symlink_to(espeak)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SpeechError, match="sox is not installed"):
        await Synthesizer(Voice()).render("hello")


def test_the_frames_are_those_of_the_prompt_files_conversion(tmp_path: Path) -> None:
    """prompt_from_ulaw (C-speed table) gives the frames prompt_from_wav gives for the same audio."""
    prompt = render_sync("Checking both conversions.", Voice())
    ulaw = b"".join(prompt.payloads("PCMU"))
    wav = tmp_path / "same.wav"
    wav.write_bytes(
        b"RIFF" + (50 + len(ulaw)).to_bytes(4, "little") + b"WAVEfmt " + (18).to_bytes(4, "little")
        + bytes.fromhex("0700 0100 401f0000 401f0000 0100 0800 0000")
        + b"data" + len(ulaw).to_bytes(4, "little") + ulaw
    )  # fmt: skip
    from_file = PromptCache().load(wav)
    assert from_file.payloads("PCMU") == prompt.payloads("PCMU")
    assert from_file.payloads("PCMA") == prompt.payloads("PCMA")


async def test_a_rendering_waiting_for_a_slot_past_the_time_limit_fails_without_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting for one of the MAX_RUNNING slots counts in the time limit: a burst of texts never
    becomes a backlog that runs for callers who have given up (and makes every later one late)."""
    starts = tmp_path / "starts"
    fake_espeak(tmp_path, f"echo x >> {starts}\nsleep 0.6\nexit 1")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    speech = Synthesizer(Voice(), timeout=1.0)
    texts = [f"text {n}" for n in range(3 * MAX_RUNNING)]  # three rounds of 0.6 s: 1.8 s > 1.0 s
    results = await asyncio.gather(*(speech.render(t) for t in texts), return_exceptions=True)
    assert all(isinstance(r, SpeechError) for r in results), results
    assert "took more than 1 s" in str(results[-1])
    assert len(starts.read_text().split()) < len(texts)  # the last round never started
