"""The cluster recipe on loopback: Kamailio (``deploy/kamailio/tui-engine.cfg``) + 2 engines + Redis.

Phase 1: calls through Kamailio land on both engines; engine A gets SIGTERM (a graceful stop):
its calls end with the engine's BYE, every new call goes to B. Phase 2: A is back and marked up;
B is killed (SIGKILL): its calls are lost (no BYE can come), A's go on, every new call goes to A.
Through it all the portal session made on A is the same session on B (the shared Redis store).

The test asserts outcomes only; the times it measures (stop/kill until Kamailio marks the engine
down, restart until it is up again) are written to ``$CLUSTER_FIGURES`` (JSON) when that is set
and printed (``-s``): README "Scaling out" quotes them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from deploy.cluster import Kamailio, kamailio_path
from tui_engine.testing import free_port, free_port_block
from tui_engine.testing.engine import EngineProcess
from tui_engine.testing.redis import redis_server
from tui_engine.testing.sipp import SippResult, SippRun, run_sipp

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("cluster")]

PASSWORD = "cluster-pass-1"
#: short calls: the greeting and the options prompt (~10 s), 1 s of silence, goodbye, BYE
CALL_OPTIONS = {"phone.tui.no-input-timeout": "1s", "phone.tui.max-attempts": 1}


def _sipp(kamailio: Kamailio, workdir: Path, calls: int, rate: float) -> SippRun:
    media, _ = free_port_block(4)
    return SippRun(
        scenario="uac_basic_bye_from_uas", target=kamailio.listen, local_port=free_port(socket.SOCK_DGRAM),
        media_port=media, workdir=workdir, calls=calls, rate=rate, timeout_s=60.0, recv_timeout_ms=25000,
    )  # fmt: skip


def _started(engine: EngineProcess) -> set[str]:
    return {str(e["call_id"]) for e in engine.find_events("call.started")}


async def _until(what: str, check: Any) -> float:
    """Poll ``check()`` (sync or async) every 50 ms until true (bounded: 30 s); returns when (monotonic)."""
    async with asyncio.timeout(30):
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return time.monotonic()
            await asyncio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover (the timeout raises first)


async def _state(kamailio: Kamailio, engine: EngineProcess) -> str:
    return (await kamailio.states()).get(f"sip:127.0.0.1:{engine.sip_port}", "")


def _detail(result: SippResult) -> str:
    return f"{result.stdout[-1500:]}\n{result.errors[-2000:]}"


async def _session(http: aiohttp.ClientSession, engine: EngineProcess, cookie: str) -> dict[str, Any]:
    async with http.get(f"{engine.http_url}/api/session", headers={"Cookie": cookie}) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


def _add_user(engine: EngineProcess) -> None:
    cmd = [sys.executable, "-m", "tui_engine", "users", "--config", str(engine.config_path),
           "add", "alice", "--password-stdin"]  # fmt: skip
    done = subprocess.run(cmd, input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


async def test_kamailio_fails_calls_over_and_the_portal_session_is_shared(tmp_path: Path) -> None:
    if kamailio_path() is None:
        pytest.skip("kamailio is not installed (scripts/install-peers.sh)")
    figures: dict[str, object] = {}
    with redis_server() as redis_url:
        options = {**CALL_OPTIONS, "portal.web.store": redis_url}
        a = EngineProcess(tmp_path / "a", {**options, "engine.node-name": "engine-a"})
        b = EngineProcess(tmp_path / "b", {**options, "engine.node-name": "engine-b"})
        async with a, b, aiohttp.ClientSession() as http:
            _add_user(a)
            engines = [("127.0.0.1", a.sip_port), ("127.0.0.1", b.sip_port)]
            proxy = ("127.0.0.1", free_port(socket.SOCK_DGRAM))
            async with Kamailio(tmp_path / "kamailio", proxy, engines) as k:
                await _until("both engines up", lambda: _both_up(k, a, b))

                # the portal: log in on A, the same session (user, CSRF token) through B
                login = {"username": "alice", "password": PASSWORD}
                async with http.post(f"{a.http_url}/api/login", json=login) as response:
                    assert response.status == 200, await response.text()
                    cookie = "; ".join(f"{c.key}={c.value}" for c in response.cookies.values())
                on_a = await _session(http, a, cookie)
                on_b = await _session(http, b, cookie)
                assert on_a["state"] == on_b["state"] == "active"
                assert (on_a["user"], on_a["csrf"]) == (on_b["user"], on_b["csrf"]) == ("alice", on_a["csrf"])
                assert all(e.get("node") == "engine-a" for e in a.events), "every log line names its engine"

                # -- phase 1: a graceful stop of A --------------------------------------------
                first = asyncio.create_task(run_sipp(_sipp(k, tmp_path / "p1", calls=10, rate=10)))
                await _until("10 calls up", lambda: len(_started(a) | _started(b)) >= 10)
                on_stopped = _started(a)
                assert on_stopped and _started(b), "the Call-ID hash spreads calls over both engines"
                stop_at = time.monotonic()
                a.send_signal(signal.SIGTERM)
                marking = asyncio.create_task(_until("A marked down", lambda: _down(k, a)))
                new1 = await run_sipp(_sipp(k, tmp_path / "p1-new", calls=6, rate=3))
                figures["graceful_stop_marked_down_s"] = round(await marking - stop_at, 2)
                result1 = await first
                await a.stop()
                assert a.returncode == 0
                assert (result1.successful, result1.failed) == (10, 0), _detail(result1)
                # A's calls ended by the stop (its BYE: SIPp, above, counts a call only once the BYE came),
                # before their menus ended them
                ended = {str(e["call_id"]): e["reason"] for e in a.find_events("call.ended")}
                assert set(ended) == on_stopped and set(ended.values()) == {"shutdown"}, ended
                assert not a.find_events("idle.disconnect"), "the stop, not the no-input timeout, ended them"
                assert (new1.successful, new1.failed) == (6, 0), _detail(new1)
                assert _started(a) == on_stopped, "no new call reached the stopping engine"
                figures["phase1"] = {"calls": 10, "on_stopped": len(on_stopped), "ended_with_bye": 10,
                                     "new_calls": 6, "new_on_survivor": 6}  # fmt: skip
                assert (await _session(http, b, cookie))["csrf"] == on_a["csrf"]

                # -- phase 2: A again, then B killed ------------------------------------------
                a2 = EngineProcess(tmp_path / "a2", {**options, "engine.node-name": "engine-a"})
                # the dispatcher list names A's SIP port: back on it (HTTP on a new one: another
                # test may have taken the old one since)
                a2.sip_port, a2.rtp_ports = a.sip_port, a.rtp_ports
                async with a2:
                    ready_at = time.monotonic()
                    up_at = await _until("A up again", lambda: _both_up(k, a2, b))
                    figures["restart_marked_up_s"] = round(up_at - ready_at, 2)
                    assert (await _session(http, a2, cookie))["csrf"] == on_a["csrf"]
                    before_b = _started(b)
                    second = asyncio.create_task(run_sipp(_sipp(k, tmp_path / "p2", calls=10, rate=10)))
                    await _until("10 more calls up", lambda: len(_started(a2) | _started(b) - before_b) >= 10)
                    on_killed, on_kept = _started(b) - before_b, _started(a2)
                    assert on_killed and on_kept, "the Call-ID hash spreads calls over both engines"
                    kill_at = time.monotonic()
                    b.send_signal(signal.SIGKILL)
                    marking = asyncio.create_task(_until("B marked down", lambda: _down(k, b)))
                    new2 = await run_sipp(_sipp(k, tmp_path / "p2-new", calls=6, rate=3))
                    marked = await marking
                    figures["kill_marked_down_s"] = round(marked - kill_at, 2)
                    result2 = await second
                    kept_lost = (result2.successful, result2.failed)
                    assert kept_lost == (len(on_kept), len(on_killed)), _detail(result2)
                    assert (new2.successful, new2.failed) == (6, 0), _detail(new2)
                    assert len(_started(a2) - on_kept) == 6, "every new call went to the survivor"
                    assert (await _session(http, a2, cookie))["csrf"] == on_a["csrf"]
                    figures["phase2"] = {
                        "calls": 10, "lost_on_killed": len(on_killed), "kept": len(on_kept), "new_calls": 6,
                        "new_on_survivor": 6, "new_call_setup_avg": new2.stats.get("ResponseTime1(C)"),
                    }  # fmt: skip
    print("cluster figures:", json.dumps(figures))
    if out := os.environ.get("CLUSTER_FIGURES"):
        await asyncio.to_thread(Path(out).write_text, json.dumps(figures, indent=2) + "\n")


async def _both_up(k: Kamailio, a: EngineProcess, b: EngineProcess) -> bool:
    return (await _state(k, a)).startswith("A") and (await _state(k, b)).startswith("A")


async def _down(k: Kamailio, engine: EngineProcess) -> bool:
    return (await _state(k, engine)).startswith("I")
