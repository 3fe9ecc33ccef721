"""The example application server and the engine, end to end over SIPp (issue 12, item 1 and 6).

The example server (examples/webhook-balance/server.py) runs as its own process; the engine runs
the example dialplan (its prompts replaced by short tones of distinct pitches, its URL pointed at
the server's port) with the example's secret. SIPp dials in, presses 1 and types the account
number as SIP INFO digits; the test listens on the RTP port SIPp's SDP offered and checks, in the
RTP the engine sent, that the answer's prompt ("Your balance is") played after the webhook, at
once followed by the balance the server answered with ``say:``, frame for frame espeak-ng's
rendering of "42 dollars and 10 cents." (rendered during the call, the same bytes as that text
rendered here by tui_engine.media.tts), and not the apology: the server accepted the signature
and its answer passed the dialplan's schema.
The status webhook (call start and end) goes to a small server of the test's own.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tui_engine.media.prompts import PromptCache
from tui_engine.media.tts import Voice, render_sync
from tui_engine.testing import free_port
from tui_engine.tui.webhooks import SIGNATURE_HEADER, verify_signature

from .conftest import ULAW_8K, StartEngine
from .helpers import RtpCapture, assert_sipp_ok, call_events, call_ids, metric_samples, place_call

#: espeak-ng says the balance (tests/conftest.py fails a CI run without it; elsewhere: skip)
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="not installed: espeak-ng"),
]
#: what the example server answers for account 1234 (4210 cents), spoken with say:
BALANCE = "42 dollars and 10 cents."

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhook-balance"


@pytest.fixture
async def example_server(tmp_path: Path) -> AsyncIterator[int]:
    port = free_port(socket.SOCK_STREAM)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE / "server.py"), "--port", str(port),
        "--secret-file", str(EXAMPLE / "secret.txt"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(20):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                break
        yield port
    finally:
        proc.terminate()
        await proc.wait()


@pytest.fixture
def example_dialplans(tmp_path: Path, example_server: int) -> Path:
    """The example dialplan, prompts as 0.4 s tones of distinct pitches, URL on the server's port."""
    target = tmp_path / "dialplans"
    (target / "prompts").mkdir(parents=True)
    text = (EXAMPLE / "dialplans" / "balance.yaml").read_text(encoding="utf-8")
    for i, wav in enumerate(sorted((EXAMPLE / "dialplans" / "prompts").glob("*.wav"))):
        tone = ["synth", "0.4", "sine", str(300 + 97 * i)]
        out = target / "prompts" / wav.name
        subprocess.run(["sox", "-n", *ULAW_8K, str(out), *tone], check=True, capture_output=True)
    (target / "balance.yaml").write_text(text.replace(":8099/", f":{example_server}/"), encoding="utf-8")
    return target


@pytest.fixture
async def status_server() -> AsyncIterator[tuple[str, list[dict[str, object]]]]:
    """Collects the status webhook's events whose signature verifies with the example's secret."""
    secret = (EXAMPLE / "secret.txt").read_bytes().strip()
    events: list[dict[str, object]] = []

    async def status(request: web.Request) -> web.Response:
        body = await request.read()
        if verify_signature(secret, request.headers.get(SIGNATURE_HEADER, ""), body, now=time.time()):
            events.append(json.loads(body))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port(socket.SOCK_STREAM)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/status", events
    await runner.cleanup()


def frames(path: Path) -> list[bytes]:
    """What the engine sends for a prompt file: its PCMU frames."""
    return list(PromptCache().load(path).payloads("PCMU"))


async def test_digits_reach_the_example_server_and_its_answer_plays(
    tui: StartEngine, tmp_path: Path, example_dialplans: Path,
    status_server: tuple[str, list[dict[str, object]]],
) -> None:
    status_url, status = status_server
    if shutil.which("sox") is None:
        pytest.fail("sox is needed (scripts/install-peers.sh installs it)")
    engine = await tui({
        "phone.tui.dialplans": str(example_dialplans), "phone.tui.default-dialplan": "balance",
        "phone.tui.webhook-secret-file": str(EXAMPLE / "secret.txt"), "phone.tui.max-attempts": 1,
        "phone.tui.status-webhook": status_url,
    })  # fmt: skip
    loop = asyncio.get_running_loop()
    sink = RtpCapture()
    rtp_port = free_port(socket.SOCK_DGRAM)
    transport, _ = await loop.create_datagram_endpoint(lambda: sink, local_addr=("127.0.0.1", rtp_port))
    try:
        keys = {"rtp_port": str(rtp_port), "first": "1", "d1": "1", "d2": "2", "d3": "3", "d4": "4"}
        result = await place_call(engine, tmp_path, "uac_info_webhook", service="200", keys=keys)
    finally:
        transport.close()
    assert_sipp_ok(result)  # and the engine's BYE came: no call was left waiting
    (call_id,) = call_ids(engine)
    # the engine logs it just after SIPp sees the BYE: wait for it (bounded), then every line is in
    await engine.wait_event("call.ended", call_id=call_id)
    sent = engine.find_events("webhook.sent", call_id=call_id)
    answered = engine.find_events("webhook.answered", call_id=call_id)
    assert len(sent) == 1 and [e["kind"] for e in answered] == ["step"]
    assert not engine.find_events("webhook.failed", call_id=call_id)
    events = call_events(engine, call_id)
    assert not [e for e in events if e["event"] == "speech.skipped"]  # the balance was rendered
    assert ["balance-is.wav", "say"] in [e["prompts"] for e in events if e["event"] == "prompt.started"]
    prompts = example_dialplans / "prompts"
    said = list(render_sync(BALANCE, Voice()).payloads("PCMU"))
    assert len(said) * 0.02 > 1.0  # real speech, not an empty rendering
    answer = sink.played(frames(prompts / "balance-is.wav") + said)
    assert answer, f"{len(sink.frames)} frames received; 'Your balance is' + {BALANCE!r} not among them"
    assert any(at > answer[0] for at in sink.played(frames(prompts / "welcome.wav")))  # then the main menu
    assert not sink.played(frames(prompts / "webhook-failed.wav"))  # no apology: it worked
    ended = engine.find_events("call.ended", call_id=call_id)
    assert [e["reason"] for e in ended] == ["inactivity-timeout"]  # the menu's no-input, after the answer
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/balance", sent[0]["url"])
    async with asyncio.timeout(10):  # fire-and-forget: the end report may land after the BYE
        while len(status) < 2:  # noqa: ASYNC110 - the server's list is all there is to watch
            await asyncio.sleep(0.05)
    started, ended_report = status
    assert (started["event"], started["call_id"], started["dialled"]) == ("call.started", call_id, "200")
    assert ended_report["event"] == "call.ended" and ended_report["reason"] == "inactivity-timeout"
    assert ended_report["menus"] == ["main", "account", "main"] and ended_report["attempts"] == 1
    samples = await metric_samples(engine)
    assert samples[("tui_webhooks_total", (("outcome", "step"),))] == 1
    assert samples[("tui_webhook_seconds_count", ())] == 1
