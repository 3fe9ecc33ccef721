"""The Engine in this process with a hand-written recording component (no mocks).

What a component can rely on: routes added in ``setup_http`` are served, ``start`` comes after
HTTP is up, ``apply_config`` gets every valid reload (and no invalid one), ``stop`` runs while
HTTP still answers, and one failing component does not keep the config from the others.
"""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest
import tomlkit
from aiohttp import web

from tui_engine.app import Engine
from tui_engine.config import (
    CONFIG_NAME,
    EngineConfig,
    apply_overrides,
    bundled_dialplans,
    load_config,
    template_text,
)
from tui_engine.obs.metrics import Metrics
from tui_engine.testing import free_port
from tui_engine.testing.engine import set_option
from tui_engine.wiring import EngineConsole, build_components


class Recorder:
    """A component that writes down what the engine did to it."""

    def __init__(self, name: str = "recorder", *, fail_apply: bool = False) -> None:
        self.name = name
        self.calls: list[str] = []
        self.configs: list[EngineConfig] = []
        self.fail_apply = fail_apply
        self.health_during_stop: int | None = None
        self.engine: Engine | None = None

    def setup_http(self, app: web.Application) -> None:
        self.calls.append("setup_http")
        app.router.add_get(f"/{self.name}", self._hello)

    async def _hello(self, request: web.Request) -> web.Response:
        return web.Response(text="recorded")

    async def start(self, engine: Engine) -> None:
        self.calls.append("start")
        self.engine = engine
        self.health_during_start = await _status(engine, "/healthz")

    async def stop(self) -> None:
        self.calls.append("stop")
        assert self.engine is not None
        self.health_during_stop = await _status(self.engine, "/healthz")

    def apply_config(self, config: EngineConfig) -> None:
        self.calls.append("apply_config")
        if self.fail_apply:
            raise RuntimeError("a component bug")
        self.configs.append(config)


async def _status(engine: Engine, path: str) -> int:
    assert engine.http_address is not None
    host, port = engine.http_address
    async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}{path}") as response:
        return response.status


def write_config(directory: Path, **options: object) -> Path:
    doc = tomlkit.parse(template_text())
    base = {
        "engine.http-listen": f"127.0.0.1:{free_port(socket.SOCK_STREAM)}",
        "engine.data-dir": str(directory / "data"),
        "phone.tui.dialplans": str(bundled_dialplans()),
    }
    for key, value in {**base, **options}.items():
        set_option(doc, key, value)
    path = directory / CONFIG_NAME
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def test_build_components_follow_the_applications(config_path: Path) -> None:
    """Call records first (stopped last), telephony for the first tui application, the portal, status."""
    config = load_config(config_path)
    names = [type(c).__name__ for c in build_components(config, EngineConsole(), Metrics())]
    assert names == ["CallRecords", "TuiComponent", "PortalComponent", "StatusComponent"]
    text = config_path.read_text()
    web_only = text[text.index("[applications.portal]") :]
    head = text[: text.index("[applications.phone]")]
    path = config_path.with_name("web-only.toml")
    path.write_text(head + web_only)
    built = build_components(load_config(path), EngineConsole(), Metrics())
    assert [type(c).__name__ for c in built] == ["CallRecords", "PortalComponent", "StatusComponent"]


async def test_lifecycle_order_and_routes(config_path: Path) -> None:
    recorder = Recorder()
    engine = Engine(load_config(config_path), config_path=config_path, components=[recorder], watch=False)
    await engine.start()
    try:
        assert recorder.calls == ["setup_http", "start"]
        assert recorder.health_during_start == 200  # HTTP is up before components start
        assert await _status(engine, "/recorder") == 200
        assert await _status(engine, "/metrics") == 200
    finally:
        await engine.stop()
    assert recorder.calls == ["setup_http", "start", "stop"]
    assert recorder.health_during_stop == 200  # components stop before HTTP goes away
    with pytest.raises(aiohttp.ClientConnectionError):
        await _status(engine, "/healthz")


async def test_reload_hands_valid_configs_to_components_and_keeps_the_old_on_errors(
    tmp_path: Path, config_path: Path
) -> None:
    recorder = Recorder()
    first = load_config(config_path)
    engine = Engine(first, config_path=config_path, components=[recorder], watch=False)
    await engine.start()
    try:
        http = first.engine.http_listen
        write_config(tmp_path, **{"engine.http-listen": http, "phone.tui.no-input-timeout": "4s"})
        assert await engine.reload("test") is True
        [applied] = recorder.configs
        assert applied.applications["phone"].idle_policy().timeout == 4.0
        assert engine.config is applied and engine.generation == 1

        write_config(tmp_path, **{"engine.http-listen": http, "phone.tui.no-input-timeout": "4 seconds"})
        assert await engine.reload("test") is False
        assert recorder.configs == [applied]  # nothing handed out
        assert engine.config is applied and engine.generation == 1
    finally:
        await engine.stop()


async def test_a_failing_component_does_not_keep_the_config_from_the_others(
    tmp_path: Path, config_path: Path
) -> None:
    broken, healthy = Recorder("broken", fail_apply=True), Recorder("healthy")
    first = load_config(config_path)
    engine = Engine(first, config_path=config_path, components=[broken, healthy], watch=False)
    await engine.start()
    try:
        write_config(
            tmp_path, **{"engine.http-listen": first.engine.http_listen, "phone.tui.max-attempts": 2}
        )
        assert await engine.reload("test") is True
        assert "apply_config" in broken.calls
        assert [c.applications["phone"].tui.max_attempts for c in healthy.configs] == [2]
    finally:
        await engine.stop()
    assert broken.calls[-1] == "stop" and healthy.calls[-1] == "stop"


async def test_overrides_survive_a_reload(tmp_path: Path, config_path: Path) -> None:
    recorder = Recorder()
    overrides = ["portal.security.inactivity-timeout=1"]
    first = apply_overrides(load_config(config_path), overrides)
    engine = Engine(first, config_path=config_path, overrides=overrides, components=[recorder], watch=False)
    await engine.start()
    try:
        assert await engine.reload("test") is True
        [applied] = recorder.configs
        assert applied.applications["portal"].security.inactivity_timeout == 60.0
    finally:
        await engine.stop()
