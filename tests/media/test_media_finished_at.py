"""``MediaSession.finished_at``: the grid slot at which a prompt ran out, for the idle timer's anchor.

Why: the silence after a prompt starts when its audio ended; a late loop learns that only
later, and anchoring at the loop's time would add every tick's lateness to a call. Over
loopback with a real socket playing the phone; assertions on order and the grid, not speed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from media_helpers import Capture, make_wav, offer

from tui_engine.media.clock import PERIOD
from tui_engine.media.engine import MediaEngine


async def test_finished_at_is_the_grid_slot_after_the_last_frame(
    engine: MediaEngine, phone: Capture, tmp_path: Path
) -> None:
    prompt = engine.prompts.load(make_wav(tmp_path / "p.wav", rate=8000, encoding="u-law", seconds=0.1))
    session = await engine.open_session(offer(phone.port), call_id="fin")
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    assert session.finished_at is None
    asked = loop.time()
    session.play([prompt], lambda completed: done.set_result(loop.time()))
    noticed = await asyncio.wait_for(done, 10)
    finished = session.finished_at
    assert finished is not None
    assert finished <= noticed  # never later than the loop noticed it
    assert len(prompt.payloads("PCMU")) == 5
    assert finished >= asked + 5 * PERIOD - 1e-6  # never before five 20 ms frames could have played
    session.play([prompt], lambda completed: None)
    assert session.finished_at is None  # a new playback forgets the previous end
    session.close()


async def test_a_stopped_playback_sets_no_end(engine: MediaEngine, phone: Capture, tmp_path: Path) -> None:
    prompt = engine.prompts.load(make_wav(tmp_path / "q.wav", rate=8000, encoding="u-law", seconds=0.5))
    session = await engine.open_session(offer(phone.port), call_id="stop")
    results: list[bool] = []
    session.play([prompt], results.append)
    session.stop_playback()
    assert results == [False]
    assert session.finished_at is None
    session.close()
