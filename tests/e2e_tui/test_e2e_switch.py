"""Digits route through a ``switch`` end to end: real SIPp, real engine, the RTP it sends checked.

The dialplan starts in a switch menu on the time of day (the engine's real clock), collects two
digits sent as SIP INFO, and switches on them: 10-19 is "sales", ``_2X`` "support", else "nope".
Each prompt is a tone of its own pitch, so the test tells from the RTP the engine sent (received
on a socket of ours named in the SDP: uac_info_readback) which prompt the switch chose, not from
the engine's logs.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tui_engine.media.codecs import ulaw_to_samples
from tui_engine.testing.engine import EngineProcess

from .conftest import ULAW_8K, StartEngine
from .helpers import RtpCapture, assert_sipp_ok, call_ids, place_call, wait_no_calls

pytestmark = pytest.mark.e2e

TONES = {"ask": 400, "sales": 1000, "support": 1600, "nope": 2200}  #: prompt -> Hz
FRAME = 160  #: 20 ms of 8 kHz µ-law

PLAN = """\
name: lang
numbers: ["300"]
goodbye: nope
prompts:
  ask: {file: prompts/lang/ask.wav}
  sales: {file: prompts/lang/sales.wav}
  support: {file: prompts/lang/support.wav}
  nope: {file: prompts/lang/nope.wav}
start: hours
menus:
  hours:
    switch:
      variable: time
      cases:
        "00:00-24:00": {set: {opened: "{date} {time}"}, goto: dept}
      default: {hangup: completed}
  dept:
    prompts: [ask]
    collect: {variable: dept, min-digits: 2, max-digits: 2, terminator: ""}
    next:
      switch:
        variable: dept
        cases:
          "10-19": {play: sales, hangup: completed}
          "_2X": {play: support, hangup: completed}
        default: {play: nope, hangup: completed}
"""


def heard(frames: list[bytes]) -> list[str]:
    """The prompts in the PCMU frames received, in order: each frame's pitch from its zero crossings."""
    names: list[str] = []
    for frame in frames:
        if len(frame) != FRAME:
            continue
        samples = ulaw_to_samples(frame)
        if max(abs(s) for s in samples) < 1000:
            continue  # silence between prompts
        crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
        pitch = crossings / 2 / 0.02
        name = min(TONES, key=lambda n: abs(TONES[n] - pitch))
        if not names or names[-1] != name:
            names.append(name)
    return names


@pytest.fixture
def lang_dialplans(short_dialplans: Path, tmp_path: Path) -> Path:
    target = tmp_path / "dialplans"
    shutil.copytree(short_dialplans, target)
    (target / "prompts" / "lang").mkdir()
    for name, hz in TONES.items():
        out = target / "prompts" / "lang" / f"{name}.wav"
        tone = ["sox", "-n", *ULAW_8K, str(out), "synth", "0.6", "sine", str(hz)]
        subprocess.run(tone, check=True, capture_output=True)
    (target / "lang.yaml").write_text(PLAN, encoding="utf-8")
    return target


async def test_digits_route_through_a_switch_to_the_prompt_the_rtp_carries(
    tui: StartEngine, lang_dialplans: Path, tmp_path: Path
) -> None:
    engine = await tui({"phone.tui.dialplans": str(lang_dialplans)})
    for digits, expected in [("15", "sales"), ("27", "support"), ("35", "nope")]:
        frames = await call_and_listen(engine, tmp_path / digits, digits)
        call_id = call_ids(engine)[-1]
        ended = await engine.wait_event("call.ended", call_id=call_id)
        assert ended["reason"] == "completed"
        # The question cut short by the first digit (barge-in), then the one prompt the switch chose.
        assert heard(frames) == ["ask", expected], digits
        switches = engine.find_events("menu.switch", call_id=call_id)
        assert [e["variable"] for e in switches] == ["time", "dept"]
    await wait_no_calls(engine)


async def call_and_listen(engine: EngineProcess, workdir: Path, digits: str) -> list[bytes]:
    """One SIPp call sending ``digits`` as INFO; the PCMU frames the engine sent it, in order."""
    loop = asyncio.get_running_loop()
    transport, capture = await loop.create_datagram_endpoint(
        RtpCapture, local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    try:
        port = transport.get_extra_info("sockname")[1]
        keys = {"first": digits[0], "second": digits[1], "rtp_port": str(port)}
        result = await place_call(engine, workdir, "uac_info_readback", service="300", keys=keys)
        await asyncio.sleep(0.2)  # the last packets are on the loopback already
    finally:
        transport.close()
    assert_sipp_ok(result)
    return capture.in_order()
