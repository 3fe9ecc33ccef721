"""``tui-engine check`` on spoken items: the configured voice and language are used, errors
have the dialplan's file and line."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from tui_engine.cli import main

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="not installed: espeak-ng")

PLAN = """\
prompts:
  hello: {file: hello.wav}
menus:
  main:
    prompts:
      - [hello, {say: "Welcome."}, {say-number: "{count}"}]
    choices:
      "1": {say: "You pressed one, {caller}."}
"""


def setup(tmp_path: Path, options: str) -> Path:
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "main.yaml").write_text(PLAN, encoding="utf-8")
    with wave.open(str(plans / "hello.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 800)
    config = tmp_path / "t.toml"
    config.write_text(
        f'[applications.phone]\ntype = "tui"\n[applications.phone.tui]\ndialplans = "plans"\n{options}',
        encoding="utf-8",
    )
    return config


def test_check_renders_with_the_configured_voice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(setup(tmp_path, 'speech-voice = "en-gb"\n'))]) == 0
    assert "ok: phone: 1 dialplan" in capsys.readouterr().out


def test_check_names_file_and_line_of_what_the_voice_and_language_cannot_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = setup(tmp_path, 'speech-voice = "xx-nope"\nspeech-language = "de"\n')
    assert main(["check", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    plan = tmp_path / "plans" / "main.yaml"
    problems = [line.strip() for line in err.splitlines() if line.startswith(" ")]
    assert [line for line in err.splitlines() if line.startswith(str(plan))] == [
        f"{plan}:6",
        f"{plan}:6",
        f"{plan}:8",
    ]
    assert problems == [
        "problem: column 23: say: cannot render 'Welcome.' with voice 'xx-nope': "
        "espeak-ng failed: Error: The specified espeak-ng voice does not exist.",
        "problem: column 49: say-number plays recorded words, shipped for 'en' only; speech-language is 'de'",
        "problem: column 18: say: cannot speak with voice 'xx-nope': "
        "espeak-ng failed: Error: The specified espeak-ng voice does not exist.",
    ]
