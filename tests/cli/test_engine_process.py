"""The Engine as a real process (no components yet): ready, /healthz, /metrics, reloads, stop."""

from __future__ import annotations

import signal
from typing import Any

import aiohttp
import pytest

from tui_engine.testing.engine import EngineFactory, EngineProcess

pytestmark = pytest.mark.e2e

TIMEOUT = "applications.portal.security.inactivity-timeout"


async def get_json(engine: EngineProcess, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(engine.http_url + path) as response:
        assert response.status == 200
        return await response.json()


async def test_ready_healthz_metrics_and_graceful_stop(engine_factory: EngineFactory) -> None:
    engine = await engine_factory()
    ready = engine.find_events("engine.ready")[0]
    assert ready["sip"] == f"127.0.0.1:{engine.sip_port}"
    assert ready["http"] == f"127.0.0.1:{engine.http_port}"
    assert ready["config"] == str(engine.config_path)
    assert ready["components"] == ["CallRecords", "TuiComponent", "PortalComponent", "StatusComponent"]
    assert engine.data_dir.is_dir()

    health = await get_json(engine, "/healthz")
    assert health == {
        "status": "ok",
        "config": str(engine.config_path),
        "generation": 0,
        "components": ["CallRecords", "TuiComponent", "PortalComponent", "StatusComponent"],
    }

    async with aiohttp.ClientSession() as http, http.get(engine.http_url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    for line in ("# TYPE tui_active_calls gauge", "# TYPE tui_timer_lateness_seconds histogram",
                 "# TYPE web_locks_total counter", "# TYPE sip_messages_total counter",
                 "# TYPE tui_media_tick_lateness_seconds histogram",
                 "# TYPE tui_gc_pause_seconds histogram"):  # fmt: skip
        assert line in text

    assert await engine.stop() == 0
    names = [e["event"] for e in engine.events]
    assert names.index("engine.stopping") < names.index("engine.stopped")


async def test_sighup_reloads_and_applies_the_new_file(engine_factory: EngineFactory) -> None:
    engine = await engine_factory(args=["--no-watch"])
    engine.write_config({"portal.security.inactivity-timeout": "90s", "logging.level": "debug"})
    since = len(engine.events)
    engine.send_signal(signal.SIGHUP)
    reloaded = await engine.wait_event("config.reloaded", since=since, trigger="sighup")
    assert reloaded["changes"] == {TIMEOUT: [600.0, 90.0], "logging.level": ["info", "debug"]}
    assert reloaded["restart_required"] == ["logging.level"]
    assert (await get_json(engine, "/healthz"))["generation"] == 1


async def test_an_invalid_file_is_rejected_and_the_old_settings_stay(engine_factory: EngineFactory) -> None:
    engine = await engine_factory(args=["--no-watch"])
    good = engine.config_text()
    bad = good.replace("inactivity-timeout = 10\n", "inactivity-timeout = -3\n").replace(
        "send-silence = false", "send-silense = false"
    )
    engine.write_config_text(bad)
    since = len(engine.events)
    engine.send_signal(signal.SIGHUP)
    rejected = await engine.wait_event("config.rejected", since=since)
    options = {i["option"]: i for i in rejected["issues"]}
    assert set(options) == {TIMEOUT, "engine.send-silense"}
    assert options[TIMEOUT]["value"] == "-3" and options[TIMEOUT]["file"] == str(engine.config_path)
    assert options[TIMEOUT]["line"] == bad.splitlines().index("inactivity-timeout = -3") + 1
    assert 'did you mean "send-silence"' in options["engine.send-silense"]["problem"]
    assert (await get_json(engine, "/healthz"))["generation"] == 0

    # The next good file is compared with the settings that stayed: 10 minutes, not -3.
    engine.write_config({"portal.security.inactivity-timeout": "90s"})
    since = len(engine.events)
    engine.send_signal(signal.SIGHUP)
    reloaded = await engine.wait_event("config.reloaded", since=since)
    assert reloaded["changes"] == {TIMEOUT: [600.0, 90.0]}


async def test_a_changed_file_is_reloaded_without_a_signal(engine_factory: EngineFactory) -> None:
    engine = await engine_factory()
    since = len(engine.events)
    engine.write_config({"phone.tui.max-attempts": 2})
    reloaded = await engine.wait_event("config.reloaded", since=since, trigger="file-change", timeout=20)
    assert reloaded["changes"] == {"applications.phone.tui.max-attempts": [3, 2]}


async def test_command_line_options_are_applied_again_after_a_reload(engine_factory: EngineFactory) -> None:
    engine = await engine_factory(args=["--no-watch", "--option", "portal.security.inactivity-timeout=2"])
    engine.write_config({"portal.security.inactivity-timeout": 30, "phone.tui.max-attempts": 5})
    since = len(engine.events)
    engine.send_signal(signal.SIGHUP)
    reloaded = await engine.wait_event("config.reloaded", since=since)
    assert reloaded["changes"] == {"applications.phone.tui.max-attempts": [3, 5]}  # 2 minutes still wins


async def test_serve_runs_on_the_embedded_defaults(engine_factory: EngineFactory) -> None:
    engine = await engine_factory(embedded=True)
    ready = engine.find_events("engine.ready")[0]
    assert ready["config"] == "<embedded default>"
    assert ready["http"] == f"127.0.0.1:{engine.http_port}"
    assert (engine.directory / "data").is_dir()  # ./data under the current directory
    assert (await get_json(engine, "/healthz"))["status"] == "ok"
    assert await engine.stop() == 0
