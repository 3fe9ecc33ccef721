"""``WebComponent``: the portal as one component of the Engine (one aiohttp app, one loop)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from aiohttp import web

from tui_engine.obs.logging import get_logger
from tui_engine.voicemail import Voicemail
from tui_engine.web.console import ConsoleSource
from tui_engine.web.first_run import ensure_first_user
from tui_engine.web.proxy import ProxyView
from tui_engine.web.routes_auth import AuthRoutes
from tui_engine.web.routes_cdrs import CdrRoutes
from tui_engine.web.routes_data import DataRoutes
from tui_engine.web.routes_voicemail import VoicemailRoutes
from tui_engine.web.sessions import SessionManager, WallClock
from tui_engine.web.settings import PortalSettings, parse_duration
from tui_engine.web.static_files import StaticRoutes, add_security_headers
from tui_engine.web.store import Store, open_store
from tui_engine.web.store.cdrs import CdrStore, open_cdr_store

log = get_logger("tui_engine.web")

# ``[applications.<portal>.<section>] <option>`` → (PortalSettings field, unit of bare numbers)
_OPTIONS: dict[tuple[str, str], tuple[str, float | None]] = {
    ("security", "inactivity-timeout"): ("inactivity_timeout", 60.0),
    ("security", "inactivity-warning"): ("warning", 1.0),
    ("security", "max-unlock-failures"): ("max_unlock_failures", None),
    ("security", "session-lifetime"): ("session_lifetime", 1.0),
    ("web", "heartbeat-interval"): ("heartbeat_interval", 1.0),
}


class WebComponent:
    """Routes on the Engine's shared app; the store opens in ``start`` and closes in ``stop``."""

    def __init__(
        self,
        settings: PortalSettings,
        console: ConsoleSource,
        metrics: Any = None,
        *,
        store: Store | None = None,
        wall: WallClock | None = None,
        first_run: bool = True,
        cdrs: CdrStore | None = None,
    ) -> None:
        self.settings = settings
        # Call records: the engine's (written by its CallRecorder), else opened here on our store.
        self._own_cdrs = cdrs is None
        self.cdrs = cdrs if cdrs is not None else open_cdr_store(settings.store, settings.data_dir)
        self.console = console
        self.metrics = metrics
        self.store = store or open_store(settings.store, settings.data_dir)
        # A metrics object with ``observe_lateness(kind, seconds)`` (the runtime's LatenessSink)
        # also receives how late each lock was written after its deadline.
        sink = metrics if hasattr(metrics, "observe_lateness") else None
        self.sessions = SessionManager(self.store, settings, wall=wall or time.time, sink=sink)
        self._first_run = first_run
        self.url: str | None = None

    def setup_http(self, app: web.Application) -> None:
        # trusted-proxies is read once here: a change needs a restart (like the listen address)
        app.middlewares.append(ProxyView(self.settings.trusted_proxies).middleware)
        app.add_routes(StaticRoutes().routes())
        app.add_routes(AuthRoutes(self.sessions).routes())
        data = DataRoutes(self.sessions, self.console, self.apply_option)
        app.add_routes(data.routes())
        app.add_routes(CdrRoutes(self.sessions, self.cdrs, data.guard).routes())
        voicemail = VoicemailRoutes(Voicemail(self.settings.data_dir).store, data.guard, self.store)
        app.add_routes(voicemail.routes())
        app.on_response_prepare.append(add_security_headers)

    async def start(self, engine: object = None) -> None:
        if self._first_run:
            await ensure_first_user(
                self.store, self.settings.data_dir, app_name=self.settings.app_name, url=self.url
            )
        await self.sessions.start()
        log.info("portal.started", store=self.settings.store.split("@")[-1], app=self.settings.app_name)

    async def stop(self) -> None:
        await self.sessions.stop()
        await self.store.aclose()
        if self._own_cdrs:
            await self.cdrs.aclose()

    def apply_config(self, settings: PortalSettings) -> None:
        """A reload: the new timeout/warning/lifetime apply at once to every live session
        (deadlines are recomputed from the stored anchors, the core's ``PolicyChanged`` rule)."""
        if settings.store != self.settings.store:
            log.warning("portal.store_change_needs_restart", current=self.settings.store)
            settings = dataclasses.replace(settings, store=self.settings.store)
        self.settings = settings
        self.sessions.apply_settings(settings)
        self.sessions.rearm_all()

    def apply_option(self, app: str, section: str, option: str, value: object) -> None:
        """An option edited in the console for this portal: applied here at once."""
        mapped = _OPTIONS.get((section, option))
        if app != self.settings.app_name or mapped is None:
            return
        field, unit = mapped
        if unit is None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{option} must be a whole number >= 1, got {value!r}")
            new: object = value
        else:
            seconds = parse_duration(value, bare_unit=unit)
            if seconds < 0:
                raise ValueError(f"{option} must not be negative, got {value!r}")
            new = None if field == "warning" and seconds == 0 else seconds
        changes: dict[str, Any] = {field: new}
        self.apply_config(dataclasses.replace(self.settings, **changes))
