"""The portal without the rest of the engine: ``python -m tui_engine.web``.

For the frontend's browser tests and for trying the portal: an in-memory console with a
few example calls, users from ``--user NAME:PASSWORD``, the real store and lock logic.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from pathlib import Path

from aiohttp import web

from tui_engine.web.component import WebComponent
from tui_engine.web.console import StaticConsoleSource
from tui_engine.web.settings import PortalSettings, parse_duration
from tui_engine.web.store import ADMIN, OPERATOR, UserExists
from tui_engine.web.users import add_user


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tui_engine.web", description=__doc__)
    p.add_argument("--http-listen", default="127.0.0.1:8080", help="HOST:PORT")
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--inactivity-timeout", default="10m", help="e.g. 3s, 10m; bare number = minutes")
    p.add_argument("--warning", default="60s", help="warning before the lock; 0 = none")
    p.add_argument("--max-unlock-failures", type=int, default=5)
    p.add_argument("--session-lifetime", default="12h")
    p.add_argument("--heartbeat-interval", default="15s")
    p.add_argument("--store", default="sqlite", help="sqlite or redis://HOST:PORT/DB")
    p.add_argument("--app-name", default="portal")
    p.add_argument(
        "--user", action="append", default=[], metavar="NAME:PASSWORD[:ROLE]",
        help="a user to create (role admin unless ':operator' is given); no password policy here",
    )
    return p


def settings_from(args: argparse.Namespace) -> PortalSettings:
    warning = parse_duration(args.warning)
    return PortalSettings(
        inactivity_timeout=parse_duration(args.inactivity_timeout, bare_unit=60.0),
        warning=warning if warning > 0 else None,
        max_unlock_failures=args.max_unlock_failures,
        session_lifetime=parse_duration(args.session_lifetime),
        store=args.store,
        heartbeat_interval=parse_duration(args.heartbeat_interval),
        data_dir=args.data_dir,
        app_name=args.app_name,
    )


def demo_console(s: PortalSettings) -> StaticConsoleSource:
    now = time.time()
    apps: dict[str, dict[str, dict[str, object]]] = {
        "phone": {
            "security": {"inactivity-timeout": 0},
            "tui": {"no-input-timeout": "10s", "max-attempts": 3, "max-invalid": 3, "barge-in": True},
        },
        s.app_name: {
            "security": {
                "inactivity-timeout": f"{s.inactivity_timeout:g}s",
                "inactivity-warning": f"{s.warning or 0:g}s",
                "max-unlock-failures": s.max_unlock_failures,
                "session-lifetime": f"{s.session_lifetime:g}s",
            },
            "web": {"store": s.store, "heartbeat-interval": f"{s.heartbeat_interval:g}s"},
        },
    }
    calls: list[dict[str, object]] = [
        {"call_id": "demo-1", "caller": "sip:1001@127.0.0.1", "dialplan": "main", "menu": "welcome",
         "attempt": 1, "of": 3, "seconds_left": 7.5},
    ]
    endings: list[dict[str, object]] = [
        {"call_id": "demo-0", "caller": "sip:1002@127.0.0.1", "reason": "no-input",
         "duration": 31.2, "ended_at": round((now - 60) * 1000)},
    ]
    return StaticConsoleSource(apps, calls, endings)


async def serve(args: argparse.Namespace) -> None:
    settings = settings_from(args)
    host, _, port = args.http_listen.rpartition(":")
    component = WebComponent(settings, demo_console(settings), first_run=not args.user)
    component.url = f"http://{args.http_listen}/"
    for spec in args.user:
        name, _, rest = spec.partition(":")
        password, role = rest, ADMIN
        if rest.endswith((":" + ADMIN, ":" + OPERATOR)):
            password, _, role = rest.rpartition(":")
        try:
            await add_user(component.store, name, password, via=settings.app_name, role=role)
        except UserExists:
            pass  # kept from an earlier run of the same data dir
    app = web.Application()
    component.setup_http(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await component.start()
    await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
    print(f"portal listening on http://{args.http_listen}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await component.stop()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(build_parser().parse_args(argv)))
    return 0
