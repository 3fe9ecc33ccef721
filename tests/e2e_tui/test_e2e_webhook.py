"""The example application server and the engine, end to end over SIPp (issue 12, item 1 and 6).

The example server (examples/webhook-balance/server.py) runs as its own process; the engine runs
the example dialplan (its prompts replaced by short tones of distinct pitches, its URL pointed at
the server's port) with the example's secret. SIPp dials in, presses 1 and types the account
number as SIP INFO digits; the test listens on the RTP port SIPp's SDP offered and checks, in the
RTP the engine sent, that the answer's prompt ("Your balance is") played after the webhook, and
not the apology: the server accepted the signature and its answer passed the dialplan's schema.
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
from tui_engine.testing import free_port
from tui_engine.tui.webhooks import SIGNATURE_HEADER, verify_signature

from .conftest import ULAW_8K, StartEngine
from .helpers import assert_sipp_ok, call_ids, metric_samples, place_call

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhook-balance"


class RtpSink(asyncio.DatagramProtocol):
    """Keeps the PCMU payloads of every RTP packet received (RFC 3550 §5.1 header, no CSRC/ext)."""

    def __init__(self) -> None:
        self.payload = bytearray()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > 12 and data[0] >> 6 == 2 and data[1] & 0x7F == 0:
            skip = 12 + 4 * (data[0] & 0x0F)
            self.payload += data[skip:]


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


def frames(path: Path) -> bytes:
    """What the engine sends for a prompt file: its PCMU frames, back to back."""
    return b"".join(PromptCache().load(path).payloads("PCMU"))


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
        "engine.overload-lag": "0s",  # a busy CI machine must not 503 this one call: not what is tested
    })  # fmt: skip
    loop = asyncio.get_running_loop()
    sink = RtpSink()
    rtp_port = free_port(socket.SOCK_DGRAM)
    transport, _ = await loop.create_datagram_endpoint(lambda: sink, local_addr=("127.0.0.1", rtp_port))
    try:
        keys = {"rtp_port": str(rtp_port), "first": "1", "d1": "1", "d2": "2", "d3": "3", "d4": "4"}
        result = await place_call(engine, tmp_path, "uac_info_webhook", service="200", keys=keys)
    finally:
        transport.close()
    assert_sipp_ok(result)  # and the engine's BYE came: no call was left waiting
    (call_id,) = call_ids(engine)
    sent = engine.find_events("webhook.sent", call_id=call_id)
    answered = engine.find_events("webhook.answered", call_id=call_id)
    assert len(sent) == 1 and [e["kind"] for e in answered] == ["step"]
    assert not engine.find_events("webhook.failed", call_id=call_id)
    prompts = example_dialplans / "prompts"
    heard = bytes(sink.payload)
    balance = heard.find(frames(prompts / "balance-is.wav"))
    assert balance > 0, "the answer's prompt is not in the RTP the engine sent"
    assert heard.find(frames(prompts / "welcome.wav"), balance) > balance  # then the main menu again
    assert heard.find(frames(prompts / "webhook-failed.wav")) == -1  # no apology: it worked
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
