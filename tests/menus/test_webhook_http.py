"""Webhooks against a real aiohttp application server on loopback: the client, then whole calls.

The server checks every request's signature itself (its own HMAC code, not the engine's
``verify_signature``), so the documented format is what is tested. The call scenarios run the
real CallSession and menu runner on the real event loop with the real :class:`WebhookClient`;
only the media and the SIP call are fakes (tests/menus/call_fakes.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hashlib
import hmac
import io
import json
import os
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from call_fakes import make_call
from structlog.testing import capture_logs

from tui_engine.core import CallLimits
from tui_engine.menus import Dialplan, MenuDefaults, load_dialplan
from tui_engine.menus.simulate import run_simulation
from tui_engine.menus.webhook import MAX_WEBHOOK_CHAIN
from tui_engine.testing import free_port
from tui_engine.tui.settings import WebhookSettings
from tui_engine.tui.webhooks import SIGNATURE_HEADER, WebhookClient, WebhookError, sign, verify_signature

SECRET = b"s3cret-key"


@dataclass
class AppServer:
    """The application server: what it received, and a gate the slow route waits on."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    peers: list[int] = field(default_factory=list)
    bad_signatures: int = 0
    unsigned: int = 0
    cancelled: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)


def signature_ok(header: str, body: bytes) -> bool:
    """The server side of the documented format, written from the docs, not from the engine."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    if abs(time.time() - int(parts["t"])) > 300:
        return False
    expected = hmac.new(SECRET, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@pytest.fixture
async def server() -> AsyncIterator[AppServer]:
    port = free_port(socket.SOCK_STREAM)
    state = AppServer(url=f"http://127.0.0.1:{port}")

    async def record(request: web.Request) -> dict[str, Any]:
        body = await request.read()
        header = request.headers.get(SIGNATURE_HEADER)
        if header is None:
            state.unsigned += 1
        elif not signature_ok(header, body):
            state.bad_signatures += 1
        state.peers.append(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        payload: dict[str, Any] = json.loads(body)
        state.received.append(payload)
        return payload

    async def fast(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"play": "thanks", "hangup": "completed"})

    async def slow(request: web.Request) -> web.Response:
        await record(request)
        await state.release.wait()
        return web.json_response({"play": "thanks", "hangup": "completed"})

    async def never(request: web.Request) -> web.Response:
        await record(request)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            state.cancelled += 1  # the engine gave up and closed the connection
            raise
        return web.json_response({})

    async def status(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=int(request.match_info["code"]), text="x")

    async def text(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text=request.match_info["body"] * int(request.query.get("n", "1")))

    async def invalid(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"play": "no-such-prompt", "goto": "main"})  # valid JSON, not a valid step

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound("/fast")

    async def again(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"webhook": {"url": str(request.url)}})  # at once, for ever

    app = web.Application()
    app.router.add_post("/again", again)
    app.router.add_post("/fast", fast)
    app.router.add_post("/slow", slow)
    app.router.add_post("/never", never)
    app.router.add_post("/status/{code}", status)
    app.router.add_post("/text/{body}", text)
    app.router.add_post("/redirect", redirect)
    app.router.add_post("/invalid", invalid)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield state
    await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[WebhookClient]:
    webhooks = WebhookClient(WebhookSettings(secret=SECRET, max_connections=4))
    await webhooks.start()
    yield webhooks
    await webhooks.close()


# -- the client ------------------------------------------------------------------------------
async def test_a_signed_post_gets_the_answer_over_one_kept_alive_connection(
    server: AppServer, client: WebhookClient
) -> None:
    for n in range(3):
        answer = await client.post(f"{server.url}/fast", {"call_id": "c1", "n": n})
        assert answer == {"play": "thanks", "hangup": "completed"}
    assert [r["n"] for r in server.received] == [0, 1, 2]
    assert (server.bad_signatures, server.unsigned) == (0, 0)
    assert len(set(server.peers)) == 1  # the same client port each time: the pool kept it open


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/status/500", "HTTP 500"),
        ("/status/404", "HTTP 404"),
        ("/text/garbage", "answer is not JSON"),
        ("/redirect", "HTTP 302"),  # redirects are not followed: the signed body goes where configured
        ("/text/a?n=70000", "answer larger than"),
    ],
)
async def test_a_broken_server_gives_a_webhook_error(
    server: AppServer, client: WebhookClient, path: str, why: str
) -> None:
    with pytest.raises(WebhookError) as caught:
        await client.post(f"{server.url}{path}", {"call_id": "c1"})
    assert caught.value.why.startswith(why)


async def test_a_refused_connection_gives_a_webhook_error(client: WebhookClient) -> None:
    port = free_port(socket.SOCK_STREAM)  # nobody listens there
    with pytest.raises(WebhookError) as caught:
        await client.post(f"http://127.0.0.1:{port}/x", {})
    assert caught.value.why.startswith("connection failed")


async def test_without_a_secret_requests_go_unsigned(server: AppServer) -> None:
    webhooks = WebhookClient(WebhookSettings())
    await webhooks.start()
    try:
        await webhooks.post(f"{server.url}/fast", {})
    finally:
        await webhooks.close()
    assert server.unsigned == 1


def test_verify_signature_refuses_a_changed_body_a_wrong_key_and_an_old_time() -> None:
    body = b'{"a":1}'
    header = sign(SECRET, body, 1_000_000)
    assert verify_signature(SECRET, header, body, now=1_000_100)
    assert not verify_signature(SECRET, header, b'{"a":2}', now=1_000_100)
    assert not verify_signature(b"other", header, body, now=1_000_100)
    assert not verify_signature(SECRET, header, body, now=1_000_000 + 301)  # a replay
    assert not verify_signature(SECRET, "v1=abc", body, now=1_000_000)


async def test_status_reports_are_signed_and_failures_are_logged_once(server: AppServer) -> None:
    webhooks = WebhookClient(
        WebhookSettings(secret=SECRET, status_url=f"{server.url}/status/200", status_timeout=2.0)
    )
    await webhooks.start()
    try:
        webhooks.report({"event": "call.started", "call_id": "c1"})
        await _drain(webhooks)
        webhooks.apply(WebhookSettings(secret=SECRET, status_url=f"{server.url}/status/503"))
        with capture_logs() as logs:
            for n in range(3):
                webhooks.report({"event": "call.ended", "n": n})
            await _drain(webhooks)
            webhooks.apply(WebhookSettings(secret=SECRET, status_url=f"{server.url}/status/200"))
            webhooks.report({"event": "call.ended", "n": 3})
            await _drain(webhooks)
    finally:
        await webhooks.close()
    assert [r.get("event") for r in server.received] == ["call.started", *["call.ended"] * 4]
    assert server.bad_signatures == 0 and server.unsigned == 0
    events = [e["event"] for e in logs if e["event"].startswith("status_webhook")]
    assert events == ["status_webhook.failed", "status_webhook.recovered"]


async def test_the_reports_of_the_last_calls_are_sent_before_the_client_closes(server: AppServer) -> None:
    """The engine stops: the calls' call.ended reports were just made; they reach the CRM (each
    still within status-webhook-timeout: a hung status server cannot hold the stop)."""
    settings = WebhookSettings(status_url=f"{server.url}/status/200", status_timeout=2.0)
    webhooks = WebhookClient(settings)
    await webhooks.start()
    for n in range(3):
        webhooks.report({"event": "call.ended", "n": n})
    await webhooks.close()
    assert sorted(r["n"] for r in server.received) == [0, 1, 2]
    hung = WebhookClient(dataclasses.replace(settings, status_url=f"{server.url}/never", status_timeout=0.3))
    await hung.start()
    hung.report({"event": "call.ended"})
    async with asyncio.timeout(10):  # bounded by status-webhook-timeout, not by the server
        await hung.close()
    assert not hung._reports


async def test_status_reports_beyond_max_pending_are_dropped_not_queued(server: AppServer) -> None:
    webhooks = WebhookClient(
        WebhookSettings(status_url=f"{server.url}/never", status_timeout=0.5, status_max_pending=2)
    )
    await webhooks.start()
    try:
        with capture_logs() as logs:
            for n in range(5):
                webhooks.report({"event": "call.ended", "n": n})
        assert len(webhooks._reports) == 2
        assert [e["event"] for e in logs] == ["status_webhook.dropped"]
    finally:
        await webhooks.close()


async def _drain(webhooks: WebhookClient) -> None:
    while webhooks._reports:
        await asyncio.gather(*webhooks._reports, return_exceptions=True)


# -- whole calls ------------------------------------------------------------------------------
PLAN = """\
name: app
goodbye: goodbye
webhook-failed: sorry
prompts:
  menu: {file: p-menu.wav}
  thanks: {file: p-thanks.wav}
  sorry: {file: p-sorry.wav}
  goodbye: {file: p-goodbye.wav}
menus:
  main:
    prompts: [menu]
    choices:
      "1": {webhook: {url: "URL/slow"}}
      "2": {webhook: {url: "URL/never", timeout: 0.4s}}
      "3": {webhook: {url: "URL/status/500"}}
      "4": {webhook: {url: "URL/text/garbage"}}
      "5": {webhook: {url: "URL/fast"}}
      "6": {webhook: {url: "URL/invalid"}}
      "7": {webhook: {url: "http://127.0.0.1:CLOSED/refused"}}
      "8": {webhook: {url: "URL/again"}}
"""

#: no-input 0.3 s × 1 attempt: a timer that was not held would end the call 0.3 s into the wait
FAST = MenuDefaults(no_input_timeout=0.3, max_attempts=1, webhook_timeout=30.0, limits=CallLimits(
    max_call_duration=0, max_silence_total=0, media_timeout=0))  # fmt: skip


@pytest.fixture
def app_plan(plan_dir: Path, wav_writer: Callable[[Path, float], None], server: AppServer) -> Dialplan:
    for name in ("menu", "thanks", "sorry", "goodbye"):
        wav_writer(plan_dir / f"p-{name}.wav", 0.05)
    path = plan_dir / "app.yaml"
    closed = str(free_port(socket.SOCK_STREAM))  # nobody listens there: connection refused
    path.write_text(PLAN.replace("URL", server.url).replace("CLOSED", closed), encoding="utf-8")
    return load_dialplan(path)


async def _until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the fakes signal nothing: poll them
            await asyncio.sleep(0.01)


async def test_a_slow_server_holds_the_no_input_timer_for_the_whole_wait(
    app_plan: Dialplan, server: AppServer, client: WebhookClient
) -> None:
    loop = asyncio.get_running_loop()
    session, _, media, call, _ = make_call(app_plan, FAST, loop=loop, post_webhook=client.post)
    session.start()
    await _until(lambda: len(media.played) == 1 and media._handle is None)  # the menu played
    media.on_digit("1", "rfc4733")
    await _until(lambda: len(server.received) == 1)
    await asyncio.sleep(FAST.no_input_timeout * 4)  # four no-input periods while the server works
    assert call.hangups == [] and session.runner.phase.value == "webhook"
    server.release.set()
    await _until(lambda: bool(call.hangups))
    assert [names for _, names in media.played] == [["p-menu.wav"], ["p-thanks.wav"]]
    assert session.info.end_reason == "completed"  # the answer's hangup, not inactivity-timeout
    assert server.received[0]["caller"] == "alice" and server.bad_signatures == 0
    session.end()


#: 8: a server answering every webhook with another webhook, at once: after MAX_WEBHOOK_CHAIN of
#: them (no key from the caller between) the next is not sent (before: requests for ever)
@pytest.mark.parametrize("digit", ["2", "3", "4", "6", "7", "8"])
async def test_a_broken_server_gives_the_apology_and_the_menu_again(
    app_plan: Dialplan, server: AppServer, client: WebhookClient, digit: str
) -> None:
    loop = asyncio.get_running_loop()
    session, _, media, call, _ = make_call(app_plan, FAST, loop=loop, post_webhook=client.post)
    with capture_logs() as logs:
        session.start()
        await _until(lambda: len(media.played) == 1)
        media.on_digit(digit, "rfc4733")
        await _until(lambda: bool(call.hangups))  # the menu again, then its no-input ends the call
    played = [names for _, names in media.played]
    assert played == [["p-menu.wav"], ["p-sorry.wav"], ["p-menu.wav"], ["p-goodbye.wav"]]
    failed = [e["why"] for e in logs if e["event"] == "webhook.failed"]
    expected = {
        "2": "timeout", "3": "HTTP 500", "4": "answer is not JSON", "7": "connection failed",
        "6": "invalid answer: unknown prompt 'no-such-prompt'",  # schema-valid JSON, not a valid step
        "8": f"{MAX_WEBHOOK_CHAIN} webhooks in a row without a key from the caller",
    }[digit]  # fmt: skip
    assert len(failed) == 1 and failed[0].startswith(expected), failed
    if digit == "2":
        await _until(lambda: server.cancelled == 1)  # the engine closed the request it gave up on
    assert len(server.received) == (MAX_WEBHOOK_CHAIN if digit == "8" else 0 if digit == "7" else 1)
    assert session.info.end_reason == "inactivity-timeout"
    session.end()


@pytest.mark.parametrize("digit", ["5", "6", "2"])  # answered, an invalid answer, a timeout
async def test_a_finished_webhook_call_leaves_no_reference_cycle(
    app_plan: Dialplan, server: AppServer, client: WebhookClient, digit: str
) -> None:
    """The engine turns automatic full collections off (runtime/gc_policy): cyclic garbage left by
    each call would pile up (an answer's checker and its JSON with it) until a scheduled one."""

    async def one_call() -> None:
        session, _, media, call, _ = make_call(app_plan, FAST, loop=asyncio.get_running_loop(),
                                               post_webhook=client.post)  # fmt: skip
        session.start()
        await _until(lambda: len(media.played) == 1)
        media.on_digit(digit, "rfc4733")
        await _until(lambda: bool(call.hangups))
        session.end()
        await asyncio.sleep(0.05)  # the request's task is done

    gc.collect()
    gc.disable()  # from here on only reference counting frees anything
    try:
        await one_call()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        ours = Counter(type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("tui_"))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert ours == {}, f"a finished webhook call left reference cycles: {dict(ours)}"


async def test_a_caller_hang_up_cancels_the_request(
    app_plan: Dialplan, server: AppServer, client: WebhookClient
) -> None:
    loop = asyncio.get_running_loop()
    session, _, media, _, _ = make_call(app_plan, FAST, loop=loop, post_webhook=client.post)
    session.start()
    await _until(lambda: len(media.played) == 1)
    media.on_digit("2", "rfc4733")
    await _until(lambda: len(server.received) == 1)
    session.runner.caller_hangup(loop.time())
    session.end()
    await _until(lambda: server.cancelled == 1)


async def test_simulate_calls_the_url_for_real_and_runs_the_answer(
    app_plan: Dialplan, server: AppServer
) -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"5\n")
    os.close(write_fd)
    out = io.StringIO()
    with os.fdopen(read_fd) as stdin:
        client = WebhookClient(WebhookSettings(secret=SECRET))
        rc = await asyncio.to_thread(
            run_simulation, app_plan.path, FAST, speed=1.0, stdin=stdin, stdout=out, webhooks=client
        )
    lines = [line.split("] ", 1)[-1] for line in out.getvalue().splitlines()]
    assert rc == 0
    hooks = [line for line in lines if line.startswith(("HOOK", "BYE"))]
    assert hooks == [f"HOOK  POST {server.url}/fast (timeout 30 s)", "HOOK  answered with a step",
                     "BYE   hang up: completed"]  # fmt: skip
    assert len(server.received) == 1 and server.bad_signatures == server.unsigned == 0


def test_the_documented_test_vector() -> None:
    """docs/dialplans.md gives this signature for the body ``{}``: servers check against it."""
    docs = (Path(__file__).parents[2] / "docs" / "dialplans.md").read_text(encoding="utf-8")
    header = sign(b"example-secret-change-me", b"{}", 1764600000)
    assert f"X-Tui-Signature: {header}" in docs


@pytest.mark.parametrize(
    ("why", "label"),
    [("timeout", "timeout"), ("HTTP 503", "http-error"), ("connection failed: OSError: x", "connection"),
     ("invalid answer: play: unknown prompt 'x'", "invalid-answer"), ("answer is not JSON", "bad-answer"),
     ("answer larger than 65536 bytes", "bad-answer"), ("error", "error")],
)  # fmt: skip
def test_failures_become_a_bounded_set_of_metric_labels(why: str, label: str) -> None:
    from tui_engine.tui.call import webhook_outcome

    assert webhook_outcome(why) == label
