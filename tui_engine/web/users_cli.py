"""``tui-engine users add|passwd|list|pin`` on the store the portal uses (SQLite file in the
data dir, or Redis), so the first users can be created before the portal is ever opened.

Secrets are read with ``getpass`` when stdin is a terminal (asked twice), else one line
from stdin (scripts: ``printf 'pw\\n' | tui-engine users add alice``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import sys
from collections.abc import Awaitable, Callable

from tui_engine.web.settings import PortalSettings
from tui_engine.web.store import ADMIN, OPERATOR, ROLES, Store, UserExists, open_store
from tui_engine.web.users import UnknownUser, add_user, change_password, set_pin


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="users_command", required=True, metavar="{add,passwd,list,pin}")
    add = sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--application", default=None, help="application the user is created through")
    add.add_argument(
        "--role", choices=ROLES, default=None,
        help="admin (users, options) or operator (calls, records); default: admin while the store"
        " has no admin, else operator",
    )
    pw = sub.add_parser("passwd", help="change a password")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true")
    pw.add_argument(
        "--application", default=None,
        help="the application the change is made through (default: the portal); open portal"
        " sessions keep their old re-login password when another application is named",
    )
    sub.add_parser("list", help="list users")
    pin = sub.add_parser("pin", help="set a TUI PIN (4-12 digits)")
    pin.add_argument("name")
    pin.add_argument("--pin-stdin", action="store_true")


def read_secret(prompt: str, *, from_stdin: bool = False) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("again: ") != first:
        raise ValueError("the two entries differ")
    return first


def run(args: argparse.Namespace, config: PortalSettings) -> int:
    """Exit status: 0 done, 1 refused (message on stderr)."""
    try:
        command = _COMMANDS[args.users_command]
        return asyncio.run(_with_store(config, lambda store: command(store, args, config)))
    except (ValueError, UserExists, UnknownUser) as exc:
        print(f"tui-engine users: {_describe(exc)}", file=sys.stderr)
        return 1


def _describe(exc: Exception) -> str:
    if isinstance(exc, UserExists):
        return f"user {exc} already exists"
    if isinstance(exc, UnknownUser):
        return f"no such user: {exc}"
    return str(exc)


async def _with_store(config: PortalSettings, fn: Callable[[Store], Awaitable[int]]) -> int:
    store = open_store(config.store, config.data_dir)
    try:
        return await fn(store)
    finally:
        await store.aclose()


async def _add(store: Store, args: argparse.Namespace, config: PortalSettings) -> int:
    role = args.role or await _default_role(store)
    password = read_secret(f"password for {args.name}: ", from_stdin=args.password_stdin)
    await add_user(
        store, args.name, password, via=args.application or config.app_name, role=role,
        min_length=config.password_min_length, actor="cli",
    )
    print(f"user {args.name} created ({role})")
    return 0


async def _default_role(store: Store) -> str:
    """The first user made from the command line must be able to manage the rest."""
    return OPERATOR if any(u.role == ADMIN for u in await store.list_users()) else ADMIN


async def _passwd(store: Store, args: argparse.Namespace, config: PortalSettings) -> int:
    application = args.application or config.app_name
    password = read_secret(f"new password for {args.name}: ", from_stdin=args.password_stdin)
    n = await change_password(
        store, args.name, password, application=application, min_length=config.password_min_length,
        actor="cli",
    )
    print(f"password of {args.name} changed through {application} ({n} open session(s) updated)")
    return 0


async def _list(store: Store, args: argparse.Namespace, config: PortalSettings) -> int:
    for u in await store.list_users():
        changed = dt.datetime.fromtimestamp(u.password_changed_at, dt.UTC).isoformat(timespec="seconds")
        print(f"{u.username}\t{u.role}\tpassword changed {changed}\tpin {'set' if u.pin_hash else 'none'}")
    return 0


async def _pin(store: Store, args: argparse.Namespace, config: PortalSettings) -> int:
    pin = read_secret(f"PIN for {args.name}: ", from_stdin=args.pin_stdin)
    await set_pin(store, args.name, pin, actor="cli")
    print(f"PIN of {args.name} set")
    return 0


_COMMANDS: dict[str, Callable[[Store, argparse.Namespace, PortalSettings], Awaitable[int]]] = {
    "add": _add, "passwd": _passwd, "list": _list, "pin": _pin,
}


def main(argv: list[str] | None = None) -> int:
    """``python -m tui_engine.web.users_cli --data-dir DIR [--store URL] users-command ...``:
    the same commands without the engine's config file (tests, the standalone portal)."""
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m tui_engine.web.users_cli")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--store", default="sqlite")
    parser.add_argument("--app-name", default="portal")
    parser.add_argument("--password-min-length", type=int, default=12)
    add_arguments(parser)
    args = parser.parse_args(argv)
    settings = PortalSettings(
        data_dir=args.data_dir, store=args.store, app_name=args.app_name,
        password_min_length=args.password_min_length,
    )
    return run(args, settings)


if __name__ == "__main__":
    sys.exit(main())
