"""The composition root: how the engine's parts are put together (telephony, portal, console).

The telephony (``tui``) and portal (``web``) packages never import each other; this module,
above both and above ``app``, builds them, hands the portal what it shows of calls, lets the
voicemail dialplan check PINs against the portal's user store, and gives the :class:`Engine`
its components (:func:`build_engine`). Nothing below imports this module back.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomlkit
from aiohttp import web

from tui_engine.app import Component, Engine
from tui_engine.config import ConfigError, EngineConfig, apply_overrides
from tui_engine.config.models import SECTIONS
from tui_engine.config.template import template_help
from tui_engine.obs.logging import get_logger
from tui_engine.obs.metrics import Metrics
from tui_engine.obs.status import StatusComponent
from tui_engine.tui.component import TuiComponent
from tui_engine.tui.metrics import MetricsObserver
from tui_engine.tui.settings import tui_settings
from tui_engine.web.cdrs import CallRecorder
from tui_engine.web.component import WebComponent
from tui_engine.web.console import NotApplied, OptionsRefused
from tui_engine.web.passwords import verify_secret_async
from tui_engine.web.settings import PortalSettings
from tui_engine.web.store.cdrs import open_cdr_store

log = get_logger("tui_engine.wiring")

#: the option sections the console shows per application type
_SECTIONS_SHOWN = {"tui": ("tui",), "web": ("security", "web")}


def portal_settings(config: EngineConfig) -> PortalSettings | None:
    """The first ``type = "web"`` application mapped onto the portal's settings."""
    found = config.web_app()
    if found is None:
        return None
    name, app = found
    warning = app.security.inactivity_warning
    return PortalSettings(
        inactivity_timeout=app.security.inactivity_timeout,
        warning=warning if warning > 0 else None,
        max_unlock_failures=app.security.max_unlock_failures,
        session_lifetime=app.security.session_lifetime,
        password_min_length=app.security.password_min_length,
        trusted_proxies=tuple(str(n) for n in app.security.trusted_proxies),
        store=app.web.store,
        heartbeat_interval=app.web.heartbeat_interval,
        data_dir=config.engine.data_dir,
        app_name=name,
    )


class PortalComponent(WebComponent):
    """The portal with the engine's reload contract (``apply_config(EngineConfig)``)."""

    def apply_option(self, app: str, section: str, option: str, value: object) -> None:
        """Nothing to do here: in the engine an edited option goes through
        :meth:`EngineConsole.set_option`, validated by the configuration's rules and then
        applied to every component (this portal included), or refused with no change."""

    def apply_config(self, config: EngineConfig) -> None:  # type: ignore[override]
        settings = portal_settings(config)
        if settings is not None:
            super().apply_config(settings)


def records_retention(config: EngineConfig) -> float:
    """``call-records-retention`` of the telephony application (its default without one)."""
    found = config.tui_app()
    return found[1].tui.call_records_retention if found else 30 * 86400.0


class CallRecords(CallRecorder):
    """Call records with the engine's reload contract: a new retention applies at once."""

    def apply_config(self, config: EngineConfig) -> None:  # type: ignore[override]
        self.set_retention(records_retention(config))


class EngineConsole:
    """What the portal's console shows and edits, read from the running engine."""

    def __init__(self, engine: Engine | None = None) -> None:
        self._attached = engine
        self.tui: TuiComponent | None = None

    def attach(self, engine: Engine) -> None:
        """The engine exists only once its components do: it is handed over afterwards."""
        self._attached = engine

    @property
    def _engine(self) -> Engine:
        if self._attached is None:
            raise RuntimeError("EngineConsole.attach() has not run")
        return self._attached

    def live_calls(self) -> list[dict[str, object]]:
        return list(self.tui.live_calls()) if self.tui else []

    def call_endings(self) -> list[dict[str, object]]:
        return list(self.tui.endings) if self.tui else []

    def status(self) -> dict[str, object]:
        """What ``tui-engine status`` prints (``GET /api/status``, see ``obs/status.py``)."""
        engine = self._engine
        return {"config": engine.config.source, "generation": engine.generation,
                "calls": self.live_calls(), "endings": self.call_endings()}  # fmt: skip

    def applications(self) -> dict[str, dict[str, dict[str, object]]]:
        """Options as written in the file (``10`` minutes, ``"60s"``), defaults as in the template.

        Only the sections that act on the application's type: a phone application's
        ``[security]`` options (lock, unlock failures, session lifetime) are the portal's."""
        config = self._engine.config
        return {
            name: {s: config.options_as_written(name, s) for s in _SECTIONS_SHOWN[app.type]}
            for name, app in config.applications.items()
        }

    def option_help(self) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
        """app → section → option → ``{"help": template comment, "allowed": what is accepted}``."""
        comments = template_help()
        out: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        for name, app in self._engine.config.applications.items():
            for section in _SECTIONS_SHOWN[app.type]:
                model = SECTIONS[("applications", "*", section)]
                for field in model.model_fields.values():
                    key = field.alias or ""
                    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
                    text = comments.get(app.type, {}).get(section, {}).get(key) or field.description or ""
                    out.setdefault(name, {}).setdefault(section, {})[key] = {
                        "help": text, "allowed": str(extra.get("allowed", "")),
                    }
        return out

    def set_option(self, app: str, section: str, option: str, value: object) -> None:
        self.set_options(app, [(section, option, value)])

    def set_options(self, app: str, changes: list[tuple[str, str, object]]) -> None:
        """Validate every change with the same rules as the file, apply them at once, and save
        them to the file only when every component applied them; otherwise roll back."""
        overrides = [f"{app}.{s}.{o}={tomlkit.item(v).as_string()}" for s, o, v in changes]
        old = self._engine.config
        try:
            new = apply_overrides(old, overrides)
        except ConfigError as exc:
            raise OptionsRefused({
                i.option.removeprefix(f"applications.{app}."): i.problem
                + (f" (allowed: {i.allowed})" if i.allowed else "")
                for i in exc.issues
            }) from None
        refused = self._engine.apply_config(new, trigger="console")
        if refused:
            self._engine.apply_config(old, trigger="console-rollback")
            raise NotApplied("; ".join(refused))
        path = self._engine.config_path
        if path is not None:
            for section, option, value in changes:
                _save_option(path, app, section, option, value)


def _save_option(path: Path, app: str, section: str, option: str, value: object) -> None:
    """Write one option back, keeping the file's comments (tomlkit); atomic rename."""
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    apps = doc.setdefault("applications", tomlkit.table(is_super_table=True))
    target = apps.setdefault(app, tomlkit.table()).setdefault(section, tomlkit.table())
    target[option] = value
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(tomlkit.dumps(doc))
    os.replace(tmp, path)
    log.info("config.saved", option=f"{app}.{section}.{option}", file=str(path))


def build_engine(
    config: EngineConfig,
    *,
    config_path: Path | None = None,
    overrides: Sequence[str] = (),
    watch: bool = True,
) -> Engine:
    """The engine with every component its configuration asks for."""
    metrics = Metrics()
    console = EngineConsole()
    engine = Engine(
        config, config_path=config_path, overrides=overrides, watch=watch, metrics=metrics,
        components=build_components(config, console, metrics),
    )
    console.attach(engine)
    return engine


def build_components(config: EngineConfig, console: EngineConsole, metrics: Metrics) -> list[Component]:
    """Telephony first (so calls are up before the portal shows them), then the portal."""
    components: list[Any] = []
    portal: PortalComponent | None = None
    settings = portal_settings(config)
    tui = tui_settings(config)
    # Call records go to the portal's store (the same SQLite file or Redis as its sessions).
    store = settings.store if settings is not None else "sqlite"
    recorder = CallRecords(open_cdr_store(store, config.engine.data_dir), records_retention(config))
    components.append(recorder)  # started first, stopped last: the calls hung up at stop are recorded
    if settings is not None:
        portal = PortalComponent(settings, console, metrics, cdrs=recorder.store)
    if tui is not None:
        verify = _pin_verifier(portal) if portal is not None else None
        console.tui = TuiComponent(
            tui, observer=MetricsObserver(metrics), on_record=recorder.record,
            **({"verify_pin": verify} if verify else {}),
        )
        components.append(console.tui)
    if portal is not None:
        components.append(portal)
    components.append(StatusComponent(config.engine.data_dir, config.engine.node, console.status))
    return components


def _pin_verifier(portal: PortalComponent) -> Any:
    """Mailbox = a user name of the portal's store; PIN checked against its argon2 hash."""

    async def verify(mailbox: str, pin: str) -> bool:
        user = await portal.store.get_user(mailbox)
        if user is None or not user.pin_hash:
            return False
        return await verify_secret_async(user.pin_hash, pin)

    return verify


__all__ = ["EngineConsole", "PortalComponent", "build_components", "build_engine", "portal_settings", "web"]
