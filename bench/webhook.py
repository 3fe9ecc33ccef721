"""Webhooks: what checking an answer costs, and a signed request's round trip over loopback.

* **answer** - ``parse_answer`` (the dialplan's JSON Schema, its semantic checks, its builder)
  on a step answer and on a whole-menu answer, CPU microseconds each: the work the runner does
  on the event loop before an answer runs.
* **round trip** - :class:`~tui_engine.tui.webhooks.WebhookClient` (signed, one keep-alive pool)
  against an aiohttp server in this process on a loopback port, answering a fixed step at once:
  latency percentiles one request at a time and with 50 in flight, requests per second, and the
  connections the pool opened (distinct client ports the server saw).

    .venv/bin/python -m bench --only webhook
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

from aiohttp import web

from tui_engine.menus import load_dialplan
from tui_engine.menus.answers import parse_answer
from tui_engine.testing import free_port
from tui_engine.tui.settings import WebhookSettings
from tui_engine.tui.webhooks import WebhookClient

PLAN = """\
name: bench
prompts:
  p: {file: p.wav}
menus:
  main:
    prompts: [p]
    choices: {"1": {webhook: {url: "http://127.0.0.1:9/x"}}}
  other:
    prompts: [p]
    choices: {"1": {goto: main}}
"""
STEP = {"play": ["p", "p"], "goto": "other"}
MENU = {"menu": {"prompts": ["p"], "choices": {str(k): {"play": "p", "goto": "main"} for k in range(10)}}}
VARIABLES = {"caller": "+4930123456", "dialled": "200", "call_id": "x" * 20, "account": "1234"}
PAYLOAD = {
    "event": "webhook", **VARIABLES, "dialplan": "bench", "menu": "account", "attempt": 1, "entry": "1234",
    "variables": VARIABLES,
}


def _metric(value: float, unit: str, note: str = "") -> dict[str, Any]:
    return {"value": round(value, 3), "unit": unit, **({"note": note} if note else {})}


def _answers(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with wave.open(str(base / "p.wav"), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\0\0" * 800)
        (base / "bench.yaml").write_text(PLAN, encoding="utf-8")
        plan = load_dialplan(base / "bench.yaml")
    metrics = {}
    for name, answer in (("step answer", STEP), ("menu answer (10 choices)", MENU)):
        parse_answer(answer, plan)  # warm the validator cache
        t = time.process_time()
        for _ in range(n):
            parse_answer(answer, plan)
        metrics[name] = _metric((time.process_time() - t) / n * 1e6, "µs CPU", f"{n} answers")
    return {"name": "answer", "params": {"answers": n}, "metrics": metrics}


async def _round_trip(n: int) -> dict[str, Any]:
    peers: set[int] = set()

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        peers.add(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        return web.json_response(STEP)

    app = web.Application()
    app.router.add_post("/hook", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port(socket.SOCK_STREAM)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = WebhookClient(WebhookSettings(secret=b"bench-key", max_connections=100))
    await client.start()
    url = f"http://127.0.0.1:{port}/hook"
    try:
        await client.post(url, PAYLOAD)  # the first connection
        one: list[float] = []
        for _ in range(n):
            t = time.perf_counter()
            await client.post(url, PAYLOAD)
            one.append(time.perf_counter() - t)
        sequential_peers = len(peers)
        many: list[float] = []

        async def timed() -> None:
            t = time.perf_counter()
            await client.post(url, PAYLOAD)
            many.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        for start in range(0, n, 50):
            await asyncio.gather(*(timed() for _ in range(min(50, n - start))))
        burst_s = time.perf_counter() - t0
    finally:
        await client.close()
        await runner.cleanup()
    q1, q50 = statistics.quantiles(one, n=100), statistics.quantiles(many, n=100)
    return {
        "name": "round trip (loopback, server in this process)",
        "params": {"requests": n, "in flight": 50},
        "metrics": {
            "one at a time p50": _metric(q1[49] * 1e3, "ms"),
            "one at a time p99": _metric(q1[98] * 1e3, "ms"),
            "connections, one at a time": _metric(sequential_peers, "", "keep-alive: 1 expected"),
            "50 in flight p50": _metric(q50[49] * 1e3, "ms"),
            "50 in flight p99": _metric(q50[98] * 1e3, "ms"),
            "50 in flight rate": _metric(n / burst_s, "requests/s", "client and server share one loop"),
            "connections, all": _metric(len(peers), "", "at most webhook-max-connections (100)"),
        },
    }


def run(quick: bool) -> dict[str, Any]:
    n_answers, n_requests = (200, 200) if quick else (5000, 3000)
    sections = [_answers(n_answers), asyncio.run(_round_trip(n_requests))]
    return {
        "title": "Webhooks: answer checks and signed round trips",
        "summary": "parse_answer cost per answer; WebhookClient latency over loopback keep-alive.",
        "sections": sections,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
