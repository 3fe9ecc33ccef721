"""``tui-engine status`` against a running engine: its live call, then the ending; and who may ask."""

from __future__ import annotations

import asyncio
import json
import socket
import sys

import aiohttp

from tui_engine.obs.status import PATH, TOKEN_FILE
from tui_engine.testing import free_port
from tui_engine.testing.engine import EngineFactory, EngineProcess
from tui_engine.testing.raw_sip import final_response, in_dialog, raw_invite


async def _status(engine: EngineProcess, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui_engine", "status", "--config", str(engine.config_path), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_status_prints_the_live_call_then_its_ending(engine_factory: EngineFactory) -> None:
    """The caller is a raw UDP socket that hangs up when the test says so: with SIPp hanging up
    after a fixed pause, the two ``status`` runs (each a Python start-up) outlasted the call on
    a loaded machine and found no call."""
    engine = await engine_factory({"engine.node-name": "node-7"})
    target, call_id = ("127.0.0.1", engine.sip_port), "status-call"
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp,  # where the prompts go
    ):
        sock.bind(("127.0.0.1", free_port()))
        rtp.bind(("127.0.0.1", free_port()))
        invite = raw_invite(engine.sip_port, call_id, via_port=sock.getsockname()[1],
                            media_port=rtp.getsockname()[1])  # fmt: skip
        sock.sendto(invite, target)
        ok = await final_response(sock)
        assert ok.startswith(b"SIP/2.0 200"), ok[:200]
        sock.sendto(in_dialog(invite, ok, "ACK", 1), target)
        await engine.wait_event("call.started", call_id=call_id)

        code, out, err = await _status(engine)
        assert code == 0, err
        assert "engine node-7" in out and "1 active call" in out
        (row,) = [line for line in out.splitlines() if call_id in line]
        assert "main" in row.split()

        code, out, err = await _status(engine, "--json")
        assert code == 0, err
        live = json.loads(out)
        assert live["node"] == "node-7" and [c["call_id"] for c in live["calls"]] == [call_id]

        sock.sendto(in_dialog(invite, ok, "BYE", 2), target)
        assert (await final_response(sock)).startswith(b"SIP/2.0 200")
    await engine.wait_event("call.ended", call_id=call_id)
    code, out, err = await _status(engine)
    assert code == 0, err
    assert "0 active calls" in out
    (row,) = [line for line in out.splitlines() if call_id in line]
    assert "caller-hangup" in row


async def test_status_needs_the_token_and_a_direct_local_peer(engine_factory: EngineFactory) -> None:
    engine = await engine_factory()
    token_file = engine.data_dir / TOKEN_FILE
    token = token_file.read_text().strip()
    assert token_file.stat().st_mode & 0o777 == 0o600
    url = engine.http_url + PATH
    good = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 401
        async with http.get(url, headers={"Authorization": "Bearer " + token[:-1] + "x"}) as response:
            assert response.status == 401
        async with http.get(url, headers={**good, "X-Forwarded-For": "203.0.113.9"}) as response:
            assert response.status == 403, "a local reverse proxy's request is not local"
        async with http.get(url, headers=good) as response:
            assert response.status == 200
            assert (await response.json())["calls"] == []
    await engine.stop()
    assert not token_file.exists(), "the token goes with the engine"
    code, _, err = await _status(engine)
    assert code == 1 and "no engine token" in err
