"""``tui-engine users`` as a subprocess (``python -m tui_engine.web.users_cli``) and through
``run(args, config)``, on the same SQLite file the portal uses; first-run admin."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from web_helpers import Browser, NodeFactory

from tui_engine.web import PortalSettings
from tui_engine.web.first_run import PASSWORD_FILE


def users(data_dir: Path, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tui_engine.web.users_cli", "--data-dir", str(data_dir), *argv]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)


def test_add_list_passwd_pin_and_refusals(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = users(data, "add", "carol", "--password-stdin", stdin="carol-password\n")
    assert done.returncode == 0 and "created (admin)" in done.stdout  # the first admin
    short = users(data, "add", "mallory", stdin="short-pw\n")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    second = users(data, "add", "oscar", "--password-stdin", stdin="oscar-password\n")
    assert second.returncode == 0 and "created (operator)" in second.stdout  # an admin exists
    again = users(data, "add", "carol", stdin="carol-password\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    listed = users(data, "list")
    assert listed.returncode == 0 and listed.stdout.startswith("carol\tadmin\t")
    assert "pin none" in listed.stdout
    assert "oscar\toperator\t" in listed.stdout
    assert users(data, "pin", "carol", stdin="12\n").returncode == 1  # too short
    assert users(data, "pin", "carol", stdin="4321\n").returncode == 0
    assert "pin set" in users(data, "list").stdout
    assert users(data, "passwd", "nobody", stdin="nobody-password\n").returncode == 1
    assert users(data, "passwd", "carol", stdin="short\n").returncode == 1
    changed = users(data, "passwd", "carol", "--application", "phone", stdin="carol-password-2\n")
    assert changed.returncode == 0 and "through phone" in changed.stdout
    assert "carol-password" not in changed.stdout + changed.stderr


async def test_users_added_by_the_cli_can_log_in(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    added = users(settings.data_dir, "add", "dave", "--role", "admin", stdin="dave-password\n")
    assert added.returncode == 0
    node = await make_node(settings)
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login("dave", "dave-password")
    status, body, _ = await browser.call("GET", "/api/users")
    assert status == 200 and "dave" in [u["username"] for u in body["users"]]


async def test_first_run_creates_admin_and_tells_only_the_owner(
    make_node: NodeFactory, settings: PortalSettings, http: object, capsys: object
) -> None:
    node = await make_node(settings, users=False, first_run=True)
    path = settings.data_dir / PASSWORD_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    password = path.read_text().strip()
    out = capsys.readouterr()  # type: ignore[attr-defined]
    assert password in out.err and str(path) in out.err
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login("admin", password)
    _, body, _ = await browser.call("GET", "/api/session")
    assert body["role"] == "admin"  # the first-run admin administers
    # A second start on the same store does not create or print anything.
    await node.close()
    await make_node(settings, users=False, first_run=True)
    assert password not in capsys.readouterr().err  # type: ignore[attr-defined]


async def test_users_api_creates_users_and_sets_pins(browser: Browser) -> None:
    await browser.login()
    status, body, _ = await browser.call("POST", "/api/users", {"username": "erin", "password": "erin-pw"})
    assert (status, body["error"], body["min_length"]) == (400, "weak-password", 12)  # the policy
    erin = {"username": "erin", "password": "erin-password"}
    status, body, _ = await browser.call("POST", "/api/users", erin)
    assert (status, body) == (201, {"username": "erin", "role": "operator"})
    status, body, _ = await browser.call("POST", "/api/users", erin)
    assert (status, body) == (409, {"error": "user-exists"})
    status, body, _ = await browser.call("POST", "/api/users/erin/pin", {"pin": "12a4"})
    assert status == 400 and body["error"] == "invalid-request"
    status, body, _ = await browser.call("POST", "/api/users/erin/pin", {"pin": "2468"})
    assert status == 200
    status, body, _ = await browser.call("POST", "/api/users/zed/password", {"password": "zed-password"})
    assert (status, body) == (404, {"error": "unknown-user"})
    _, body, _ = await browser.call("GET", "/api/users")
    erin = next(u for u in body["users"] if u["username"] == "erin")
    assert erin["has_pin"] is True
    other = Browser(browser.http, browser.node)
    await other.login("erin", "erin-password")
