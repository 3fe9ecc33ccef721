"""The ``tui-engine`` command: init, check, serve, simulate, users, status.

argparse, because the standard library is enough for five sub-commands; every command returns
an exit status (0 ok, 1 a problem in the files, 2 a bad command line or ``--option``).
Commands that need other packages (menus, web) import them only when they run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tui_engine import status_cli
from tui_engine.config import (
    CONFIG_NAME,
    ConfigError,
    EngineConfig,
    bundled_dialplans,
    load_with_overrides,
    split_host_port,
    write_template,
)


def _host_port(text: str) -> str:
    try:
        split_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return text


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        allowed = "an ISO date and time such as 2026-12-07T08:30"
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: {allowed}") from None


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: NAME=VALUE, e.g. caller=+4930123")
    return name, value


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: allowed: a number > 0 (1 = real time, 10 = ten times faster)"
        )
    return value


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="configuration file (default: the embedded default)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-engine", description="Inactivity timeouts for phone menus and a portal."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help=f"write a commented {CONFIG_NAME} (every option at its default)")
    init.add_argument("dir", nargs="?", type=Path, default=Path("."), metavar="DIR")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")

    check = commands.add_parser("check", help="validate the configuration and the dialplans")
    _add_config(check)

    serve = commands.add_parser("serve", help="run the engine (SIP + portal + /metrics)")
    _add_config(serve)
    serve.add_argument(
        "--option", action="append", default=[], metavar="APP.SECTION.OPTION=VALUE", help="override an option"
    )
    serve.add_argument("--sip-listen", type=_host_port, metavar="HOST:PORT")
    serve.add_argument("--http-listen", type=_host_port, metavar="HOST:PORT")
    serve.add_argument(
        "--no-watch", action="store_true", help="reload only on SIGHUP, not when the config file changes"
    )

    simulate = commands.add_parser("simulate", help="walk a dialplan on the terminal (keys are digits)")
    simulate.add_argument("dialplan", type=Path, metavar="DIALPLAN")
    _add_config(simulate)
    simulate.add_argument("--speed", type=_speed, default=1.0, metavar="X", help="time factor (default 1)")
    simulate.add_argument("--mailbox", help="mailbox accepted by Authenticate (default: the dialplan's demo)")
    simulate.add_argument("--pin", help="the PIN an Authenticate accepts (default: the dialplan's demo)")
    simulate.add_argument(
        "--at", type=_moment, metavar="DATETIME",
        help="the wall clock at the start, e.g. 2026-12-07T08:30 (in the dialplan's time zone; default: now)",
    )
    simulate.add_argument(
        "--var", action="append", type=_assignment, default=[], metavar="NAME=VALUE",
        help="a variable the call starts with, e.g. caller=+4930123 (repeatable)",
    )
    simulate.add_argument(
        "--data-dir", type=Path, metavar="DIR",
        help="where voicemail steps and recordings read and write (default: a temporary directory)",
    )

    _add_users(commands)
    status_cli.add_parser(commands, _add_config)
    return parser


def _add_users(commands: Any) -> None:
    from tui_engine.web import users_cli

    users = commands.add_parser("users", help="manage portal users (add, passwd, pin, list)")
    users_cli.add_arguments(users)
    if "--config" not in users._option_string_actions:
        _add_config(users)


# -- commands ------------------------------------------------------------------------------------
def _init(args: argparse.Namespace) -> int:
    directory: Path = args.dir
    try:
        target = write_template(directory, force=args.force, dialplans=bundled_dialplans())
    except FileExistsError:
        print(
            f"{directory / CONFIG_NAME} exists; not overwritten (use --force to replace it)", file=sys.stderr
        )
        return 1
    print(f"wrote {target}")
    if (directory / "dialplans").is_dir():
        print(f"dialplans: {directory / 'dialplans'}")
    print("next:")
    print(f"  1. edit {target} (every option is shown at its default, with what it means)")
    print(f"  2. tui-engine check --config {target}")
    print(f"  3. tui-engine serve --config {target}")
    return 0


def _report(exc: ConfigError) -> int:
    print(exc, file=sys.stderr)
    from_cli = all(i.file.startswith("--option") for i in exc.issues)
    return 2 if from_cli else 1


def _check(args: argparse.Namespace) -> int:
    from tui_engine.app import check_dialplans

    try:
        config = load_with_overrides(args.config)
    except ConfigError as exc:
        return _report(exc)
    dialplans = check_dialplans(config)
    if dialplans.issues:
        return _report(ConfigError(dialplans.issues))
    apps = ", ".join(f"{name} ({app.type})" for name, app in config.applications.items()) or "none"
    print(f"ok: {config.source}: applications: {apps}")
    for name, count in dialplans.loaded.items():
        plural = "s" if count != 1 else ""
        print(f"ok: {name}: {count} dialplan{plural} in {config.applications[name].tui.dialplans}")
    if dialplans.note:
        print(f"note: {dialplans.note}")
    return 0


def _serve_overrides(args: argparse.Namespace) -> list[str]:
    overrides = list(args.option)
    if args.sip_listen:
        overrides.append(f"engine.sip-listen={json.dumps(args.sip_listen)}")
    if args.http_listen:
        overrides.append(f"engine.http-listen={json.dumps(args.http_listen)}")
    return overrides


def _serve(args: argparse.Namespace) -> int:
    from tui_engine.app import load_and_check
    from tui_engine.wiring import build_engine

    overrides = _serve_overrides(args)
    try:
        config, dialplans = load_and_check(args.config, overrides)
    except ConfigError as exc:
        return _report(exc)
    if dialplans.note:
        print(f"note: {dialplans.note}", file=sys.stderr)
    engine = build_engine(config, config_path=args.config, overrides=overrides, watch=not args.no_watch)
    try:
        _run(engine.run())
    except OSError as exc:  # a listen address in use or not ours: say so, no traceback
        print(f"serve: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(coro: Any) -> Any:
    """Run on uvloop when the ``fast`` extra is installed, else on the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _simulate(args: argparse.Namespace) -> int:
    try:
        config = load_with_overrides(args.config)
    except ConfigError as exc:
        return _report(exc)
    found = config.tui_app()
    if found is None:
        print(f'{config.source}: no type = "tui" application to take menu settings from', file=sys.stderr)
        return 1
    from tui_engine.menus.simulate import run_simulation
    from tui_engine.tui.settings import menu_defaults, speech_options, webhook_settings
    from tui_engine.tui.webhooks import WebhookClient
    from tui_engine.voicemail import Voicemail

    app = found[1]
    with tempfile.TemporaryDirectory(prefix="tui-engine-simulate-") as scratch:
        data_dir = args.data_dir if args.data_dir is not None else Path(scratch)
        return run_simulation(
            args.dialplan,
            menu_defaults(app),
            speed=args.speed,
            pin=args.pin,
            mailbox=args.mailbox,
            speech=speech_options(app),
            at=args.at,
            variables=dict(args.var),
            webhooks=WebhookClient(webhook_settings(app)),
            mailboxes=Voicemail(data_dir),
        )


def _users(args: argparse.Namespace) -> int:
    from tui_engine.web import users_cli
    from tui_engine.wiring import portal_settings

    try:
        config: EngineConfig = load_with_overrides(args.config)
    except ConfigError as exc:
        return _report(exc)
    settings = portal_settings(config)
    if settings is None:
        print(f'{config.source}: no type = "web" application holds the users', file=sys.stderr)
        return 1
    return users_cli.run(args, settings)


_COMMANDS = {
    "init": _init, "check": _check, "serve": _serve, "simulate": _simulate, "users": _users,
    "status": status_cli.run,
}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """The console script ``tui-engine``; returns the exit status (argparse errors give 2)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad command line (2): return, don't exit
        return exc.code if isinstance(exc.code, int) else 2
    return _COMMANDS[args.command](args)
