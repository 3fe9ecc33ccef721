"""Fixtures for the menu tests: dialplans written to a temp dir with WAVs of exact durations."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from tui_engine.menus import Dialplan, load_dialplan

RATE = 8000

#: prompt file -> seconds; the runner scenarios rely on these exact durations.
DURATIONS = {
    "long.wav": 4.0,
    "short.wav": 2.0,
    "invalid.wav": 1.0,
    "goodbye.wav": 1.5,
    "info.wav": 3.0,
    "ask.wav": 2.0,
    "thanks.wav": 0.5,
}

BASE = """\
name: test
numbers: ["42"]
goodbye: goodbye
invalid: invalid
prompts:
  long: {file: long.wav, text: "Welcome. Press 1 for the account menu."}
  short: {file: short.wav, text: "Press 1, 2 or 3."}
  invalid: {file: invalid.wav, text: "Invalid."}
  goodbye: {file: goodbye.wav, text: "Goodbye."}
  info: {file: info.wav, text: "We are open."}
  ask: {file: ask.wav, text: "Enter your account."}
  thanks: {file: thanks.wav, text: "Thanks."}
menus:
  main:
    prompts: [long, short]
    choices:
      "1": {goto: account}
      "2": {play: info}
      "3": {play: thanks, hangup: completed}
      "0": {transfer: "sip:operator@127.0.0.1"}
      "4": {goto: quiet}
  account:
    prompts: [ask]
    collect: {variable: acct, min-digits: 2, max-digits: 4, terminator: "#"}
    next: {goto: main}
    no-input-timeout: 4s
    max-attempts: 2
    inter-digit-timeout: 3s
  quiet:
    prompts: [long]
    barge-in: false
    choices:
      "1": {goto: main}
"""


def write_wav(path: Path, seconds: float) -> None:
    """A silent 8 kHz 16-bit PCM WAV exactly ``seconds`` long."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(b"\x00\x00" * round(seconds * RATE))


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    for name, seconds in DURATIONS.items():
        write_wav(tmp_path / name, seconds)
    return tmp_path


@pytest.fixture
def make_plan(plan_dir: Path) -> Callable[..., Dialplan]:
    def make(text: str = BASE, file: str = "test.yaml") -> Dialplan:
        path = plan_dir / file
        path.write_text(text, encoding="utf-8")
        return load_dialplan(path)

    return make


@pytest.fixture
def base_plan(make_plan: Callable[..., Dialplan]) -> Dialplan:
    return make_plan()


@pytest.fixture
def base_text() -> str:
    """The YAML of ``base_plan``, for tests that edit it."""
    return BASE


@pytest.fixture
def wav_writer() -> Callable[[Path, float], None]:
    return write_wav
