"""Speech out end to end: a collect menu reads the caller's digits back, checked in the RTP.

SIPp types 4 then 2 (SIP INFO) into a real ``tui-engine serve``; its SDP offer names a socket
of this test, so every RTP packet the engine sends lands here. The read-back must be, frame
for frame, the recorded words "four" "two" (say-digits) followed by espeak-ng's rendering of
"You entered 42." (a step's ``say:`` with a variable, rendered during the call), the same
bytes as those prompts converted here.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tui_engine.media.prompts import PromptCache
from tui_engine.media.tts import Voice, render_sync
from tui_engine.menus.speech import WORDS_DIR

from .conftest import ULAW_8K, StartEngine
from .helpers import RtpCapture, assert_sipp_ok, call_events, call_ids, place_call

#: espeak-ng renders the say: line (tests/conftest.py fails a CI run without it; elsewhere: skip)
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="not installed: espeak-ng"),
]

READBACK = """\
name: readback
goodbye: goodbye
prompts:
  ask: {file: ask.wav, text: "Enter two digits."}
  goodbye: {file: goodbye.wav}
menus:
  main:
    prompts: [ask]
    collect: {variable: entry, max-digits: 2}
    next:
      play: {say-digits: "{entry}"}
      say: "You entered {entry}."
      hangup: completed
"""


@pytest.fixture
def readback_plans(tmp_path: Path) -> Path:
    plans = tmp_path / "dialplans"
    plans.mkdir()
    (plans / "readback.yaml").write_text(READBACK, encoding="utf-8")
    for name in ("ask", "goodbye"):
        tone = ["sox", "-n", *ULAW_8K, str(plans / f"{name}.wav"), "synth", "0.3", "sine", "440"]
        subprocess.run(tone, check=True, capture_output=True)
    return plans


async def test_a_collect_menu_reads_the_digits_back_with_say_digits_and_say(
    tui: StartEngine, tmp_path: Path, readback_plans: Path
) -> None:
    plans = readback_plans
    engine = await tui({"phone.tui.dialplans": str(plans), "phone.tui.default-dialplan": "readback"})

    loop = asyncio.get_running_loop()
    transport, capture = await loop.create_datagram_endpoint(
        RtpCapture, local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    try:
        port = transport.get_extra_info("sockname")[1]
        keys = {"first": "4", "second": "2", "rtp_port": str(port)}
        result = await place_call(engine, tmp_path, "uac_info_readback", keys=keys)
        assert_sipp_ok(result)
        (call_id,) = call_ids(engine)
        ended = await engine.wait_event("call.ended", call_id=call_id)
        await asyncio.sleep(0.2)  # the last packets are on the loopback already
    finally:
        transport.close()
    assert (ended["reason"], ended["digits"]) == ("completed", 2)
    events = call_events(engine, call_id)
    assert not [e for e in events if e["event"] == "speech.skipped"]
    played = [e["prompts"] for e in events if e["event"] == "prompt.started"]
    assert played[-1] == ["4.wav", "2.wav", "say"]

    # what should have been heard: the same conversion the engine does, of the same sources
    cache = PromptCache()
    words = [cache.load(WORDS_DIR / "en" / f"{digit}.wav").payloads("PCMU") for digit in "42"]
    said = render_sync("You entered 42.", Voice()).payloads("PCMU")
    assert len(said) * 0.02 > 0.5  # real speech, not an empty rendering
    expected = [*words[0], *words[1], *said]
    assert capture.played(expected), (
        f"{len(capture.frames)} frames received; the read-back's {len(expected)} frames not among them"
    )
