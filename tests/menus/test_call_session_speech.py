"""Call-time ``say:`` on a whole CallSession: the real glue, a real asyncio loop and real
espeak-ng (or a broken one first on PATH); only the media and the SIP call are fakes."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from call_fakes import FakeMedia, make_call
from structlog.testing import capture_logs

from tui_engine.media.tts import Synthesizer, Voice
from tui_engine.menus import Dialplan, MenuDefaults

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="not installed: espeak-ng")

SAYING = """\
name: saying
prompts:
  short: {file: short.wav}
  goodbye: {file: goodbye.wav}
goodbye: goodbye
menus:
  main:
    prompts: [short]
    choices:
      "1": {play: short, say: "Hello {caller}, you pressed one.", hangup: completed}
"""


@pytest.fixture
def saying(make_plan: Callable[..., Dialplan]) -> Dialplan:
    return make_plan(SAYING, "saying.yaml")


async def until(media: FakeMedia, count: int) -> None:
    """Wait (10 s at most) until ``count`` prompt sequences were played."""
    enough = asyncio.Event()
    play = media.play

    def counted(*args: Any, **kwargs: Any) -> None:
        play(*args, **kwargs)
        if len(media.played) >= count:
            enough.set()

    media.play = counted  # type: ignore[method-assign]
    if len(media.played) < count:
        async with asyncio.timeout(10):
            await enough.wait()


async def test_text_with_variables_is_rendered_during_the_call_and_played(saying: Dialplan) -> None:
    speech = Synthesizer(Voice())
    session, _, media, _, _ = make_call(
        saying, MenuDefaults(), loop=asyncio.get_running_loop(), speech=speech
    )
    session.start()
    media.stop_playback()  # the greeting barged in by the key below
    session._on_digit("1", "info")
    await until(media, 2)
    assert media.played[-1][1] == ["short.wav", "say"]
    assert speech.cached("Hello alice, you pressed one.") is not None  # the caller's variable
    session.end()


async def test_a_hung_espeak_ng_skips_the_text_and_the_call_goes_on(
    saying: Dialplan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hung = tmp_path / "espeak-ng"
    hung.write_text("#!/bin/sh\nexec sleep 60\n", encoding="utf-8")
    hung.chmod(hung.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    speech = Synthesizer(Voice(), timeout=0.3)
    loop = asyncio.get_running_loop()
    session, _, media, _, _ = make_call(saying, MenuDefaults(speech_timeout=5.0), loop=loop, speech=speech)
    with capture_logs() as logs:
        session.start()
        media.stop_playback()
        session._on_digit("1", "info")
        await until(media, 2)
    assert media.played[-1][1] == ["short.wav"]  # the rest of the step, without the speech
    skipped = [e for e in logs if e["event"] == "speech.skipped"]
    assert len(skipped) == 1 and skipped[0]["log_level"] == "warning"
    assert "rendering took more than 0.3 s" in skipped[0]["why"] and "Hello" not in str(skipped[0])
    session.end()
