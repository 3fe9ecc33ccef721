"""The Engine: the one process that owns HTTP, the components (SIP, portal) and config reloads.

Start-up: configure logging from ``[logging]``, serve ``/metrics`` and ``/healthz`` (and the
components' routes) on ``http-listen``, start every component, log ``engine.ready``.
SIGTERM/SIGINT stop it gracefully (components first, then HTTP). SIGHUP or a change of the
config file reloads: parse + validate (+ dialplans), re-apply the CLI ``--option``s, hand the new
config to every component (``apply_config`` must not drop sessions) and log ``config.reloaded``
with what changed; a bad file is logged as ``config.rejected`` and the old settings stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from tui_engine.config import (
    MISSING,
    ConfigError,
    ConfigIssue,
    EngineConfig,
    config_changes,
    issue_at,
    load_with_overrides,
)
from tui_engine.obs.gcwatch import GcWatch
from tui_engine.obs.logging import configure_logging, get_logger
from tui_engine.obs.metrics import CONTENT_TYPE, Metrics
from tui_engine.runtime.gc_policy import GcPolicy

log = get_logger("tui_engine.engine")

#: Seconds a component gets to stop before the engine moves on (calls get their BYE in this time).
STOP_GRACE = 10.0
#: Options a running engine cannot change: sockets are bound, logging is configured once.
RESTART_REQUIRED = (
    "engine.sip-listen",
    "engine.http-listen",
    "engine.rtp-ports",
    "engine.data-dir",
    "engine.node-name",
    "logging.",
)


class Component(Protocol):
    """A part of the engine (telephony, portal) with the engine's lifecycle."""

    def setup_http(self, app: web.Application) -> None:
        """Add routes; called before the HTTP runner starts."""

    async def start(self, engine: Engine) -> None:
        """Begin serving (bind sockets, start tasks)."""

    async def stop(self) -> None:
        """End gracefully (hang up calls, close stores)."""

    def apply_config(self, config: EngineConfig) -> None:
        """Live reload: take the new settings without dropping sessions."""


# -- dialplans ---------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class DialplanCheck:
    """The outcome of validating every tui application's dialplans."""

    issues: list[ConfigIssue] = field(default_factory=list)
    #: dialplans loaded per application name (empty when skipped).
    loaded: dict[str, int] = field(default_factory=dict)
    #: why the check was skipped, when it was.
    note: str | None = None


def check_dialplans(config: EngineConfig) -> DialplanCheck:
    """Load each tui application's dialplan directory with ``tui_engine.menus`` (imported lazily).

    Blocking file reads: call it from a thread inside the event loop.
    """
    try:  # lazily: the menus package (and its YAML/JSON Schema stack) only when checking
        menus = importlib.import_module("tui_engine.menus")
        load_dialplans, dialplan_error = menus.load_dialplans, menus.DialplanError
        speech_options = importlib.import_module("tui_engine.tui.settings").speech_options
    except (ImportError, AttributeError) as exc:
        return DialplanCheck(note=f"dialplans not checked: {exc}")
    issues: list[ConfigIssue] = []
    loaded: dict[str, int] = {}
    for name, app in config.applications.items():
        if app.type != "tui":
            continue
        directory = app.tui.dialplans
        try:
            plans = load_dialplans(directory, default=app.tui.default_dialplan, speech=speech_options(app))
        except dialplan_error as exc:
            issues.extend(_dialplan_issue(config, name, directory, i) for i in exc.issues)
            continue
        loaded[name] = len(getattr(plans, "by_name", ()))
    return DialplanCheck(issues=issues, loaded=loaded)


def _dialplan_issue(config: EngineConfig, app: str, directory: Path, issue: Any) -> ConfigIssue:
    file, line, reason = (
        getattr(issue, "file", None),
        getattr(issue, "line", None),
        getattr(issue, "reason", ""),
    )
    if file is None or Path(file) == directory:
        option = f"applications.{app}.tui.dialplans"
        return issue_at(
            config, option, str(directory), str(reason or issue), "a directory of dialplan YAML files"
        )
    column = getattr(issue, "column", None)
    problem = f"column {column}: {reason}" if column else str(reason)
    return ConfigIssue(file=str(file), line=line, option="", value=MISSING, problem=problem, allowed="")


def load_and_check(config_path: Path | None, overrides: Sequence[str]) -> tuple[EngineConfig, DialplanCheck]:
    """Everything a reload validates; raises :class:`ConfigError` listing config and dialplan issues."""
    config = load_with_overrides(config_path, overrides)
    dialplans = check_dialplans(config)
    if dialplans.issues:
        raise ConfigError(dialplans.issues)
    return config, dialplans


# -- the engine --------------------------------------------------------------------------------
class Engine:
    """One process: HTTP (``/metrics``, ``/healthz``, the components' routes), components, reloads."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        config_path: Path | None = None,
        overrides: Sequence[str] = (),
        components: Sequence[Component] = (),
        metrics: Metrics | None = None,
        watch: bool = True,
    ) -> None:
        """``components`` in start order (stopped in reverse), built by the composition root
        (``tui_engine.wiring.build_engine``); the engine never builds or imports them itself."""
        self.config = config
        self.config_path = config_path.absolute() if config_path is not None else None
        self.overrides = tuple(overrides)
        #: reload when the config file changes (SIGHUP always reloads).
        self.watch = watch
        self.metrics = metrics if metrics is not None else Metrics()
        self.components: list[Component] = list(components)
        self.http_app = web.Application()
        #: bumped on every applied reload (shown by /healthz).
        self.generation = 0
        self.http_address: tuple[str, int] | None = None
        self._runner: web.AppRunner | None = None
        self._started: list[Component] = []
        self._stopping = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._gc_watch: GcWatch | None = None
        self._gc_policy = GcPolicy()
        #: (mtime, size) of the config file when it was last read, for the watcher.
        self._config_stamp = _stamp(self.config_path) if self.config_path is not None else None

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT (or :meth:`request_stop`), then stop gracefully."""
        configure_logging(self.config.logging.level, self.config.logging.format, node=self.config.engine.node)
        try:
            await self.start()
            await self._stopping.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop (what SIGTERM and SIGINT do)."""
        if not self._stopping.is_set():
            log.info("engine.stopping")
        self._stopping.set()

    async def start(self) -> None:
        self.config.engine.data_dir.mkdir(parents=True, exist_ok=True)
        self.http_app.router.add_get("/metrics", self._metrics)
        self.http_app.router.add_get("/healthz", self._healthz)
        for component in self.components:
            component.setup_http(self.http_app)
        self._runner = web.AppRunner(self.http_app, access_log=None, handle_signals=False)
        await self._runner.setup()
        host, port = self.config.engine.http_address
        await web.TCPSite(self._runner, host, port).start()
        self.http_address = _first_address(self._runner.addresses, (host, port))
        for component in self.components:
            await component.start(self)
            self._started.append(component)
        # Full collections on a schedule, not under load (why: runtime/gc_policy.py).
        self._gc_policy.start(asyncio.get_running_loop())
        self._gc_watch = GcWatch(self.metrics.observe_gc_pause)
        self._install_signals()
        if self.config_path is not None and self.watch:
            self._spawn(self._watch_config(self.config_path))
        log.info(
            "engine.ready",
            sip=self.config.engine.sip_listen,
            http="{}:{}".format(*self.http_address),
            config=self.config.source,
            components=[type(c).__name__ for c in self.components],
            pid=os.getpid(),
        )

    async def stop(self) -> None:
        """Components first (they may still send BYEs, write sessions), then HTTP, then tasks."""
        self._stopping.set()
        self._remove_signals()
        for component in reversed(self._started):
            await self._stop_component(component)
        self._started.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._gc_policy.stop()
        if self._gc_watch is not None:
            self._gc_watch.close()
            self._gc_watch = None
        log.info("engine.stopped")

    async def _stop_component(self, component: Component) -> None:
        try:
            async with asyncio.timeout(STOP_GRACE):
                await component.stop()
        except TimeoutError:
            log.warning("engine.stop_timeout", component=type(component).__name__, grace_s=STOP_GRACE)
        except Exception:
            log.exception("engine.stop_failed", component=type(component).__name__)

    # -- reload ------------------------------------------------------------------------------
    async def reload(self, trigger: str = "api") -> bool:
        """Re-read the config; apply it if valid (``config.reloaded``), else ``config.rejected``."""
        async with self._reload_lock:
            if self.config_path is not None:  # taken before reading: a later write is seen again
                self._config_stamp = _stamp(self.config_path)
            try:
                new, _ = await asyncio.to_thread(load_and_check, self.config_path, self.overrides)
            except ConfigError as exc:
                log.error(
                    "config.rejected",
                    trigger=trigger,
                    errors=str(exc),
                    issues=[i.as_dict() for i in exc.issues],
                )
                return False
            self.apply_config(new, trigger=trigger)
            return True

    def apply_config(self, new: EngineConfig, *, trigger: str) -> list[str]:
        """Make ``new`` the running configuration and hand it to every started component.

        Returns what the components refused (``"Component: reason"``; empty when all applied it)."""
        changes = config_changes(self.config, new)
        self.config = new
        self.generation += 1
        refused = [r for component in self._started if (r := self._apply(component, new)) is not None]
        restart = sorted(k for k in changes if k.startswith(RESTART_REQUIRED))
        log.info(
            "config.reloaded",
            trigger=trigger,
            generation=self.generation,
            changes={k: list(v) for k, v in changes.items()},
            restart_required=restart,
        )
        return refused

    def _apply(self, component: Component, config: EngineConfig) -> str | None:
        try:
            component.apply_config(config)
        except Exception as exc:  # a component bug must not stop the others from getting the config
            log.exception("config.apply_failed", component=type(component).__name__)
            return f"{type(component).__name__}: {exc}"
        return None

    async def _watch_config(self, path: Path) -> None:
        """Reload when the file changes; watch its directory because editors replace files.

        The watcher also wakes every second and compares the file's stamp with the one last
        loaded: a change made before the watcher was up (right after ``engine.ready``) or one
        the OS did not report is still picked up.
        """
        from watchfiles import awatch

        def is_config(_change: object, changed: str) -> bool:
            return Path(changed) == path

        async for _changes in awatch(
            path.parent,
            watch_filter=is_config,
            stop_event=self._stopping,
            recursive=False,
            yield_on_timeout=True,
            rust_timeout=1000,
        ):
            if _stamp(path) != self._config_stamp:
                await self.reload("file-change")

    # -- signals and tasks -------------------------------------------------------------------
    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread / Windows
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload("sighup")))

    def _remove_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(self._guard(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(coro: Any) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("engine.task_failed")

    # -- HTTP --------------------------------------------------------------------------------
    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "config": self.config.source,
                "generation": self.generation,
                "components": [type(c).__name__ for c in self._started],
            }
        )


def _first_address(addresses: list[Any], fallback: tuple[str, int]) -> tuple[str, int]:
    """The bound (host, port) - differs from the configured one when the port was 0."""
    for address in addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return str(address[0]), int(address[1])
    return fallback


def _stamp(path: Path) -> tuple[int, int] | None:
    """What tells a changed file from the one loaded: modification time (ns) and size."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
