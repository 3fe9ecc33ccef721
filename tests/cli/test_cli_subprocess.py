"""The installed command as a user runs it: ``init DIR`` then ``check --config DIR/tui-engine.toml``."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tui_engine.config import CONFIG_NAME
from tui_engine.testing import free_port


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_engine", *argv], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_init_then_check_passes_then_a_bad_edit_fails_with_a_located_report(tmp_path: Path) -> None:
    directory = tmp_path / "site"
    init = run("init", str(directory), cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    config = directory / CONFIG_NAME
    assert config.is_file() and (directory / "dialplans").is_dir()

    check = run("check", "--config", str(config), cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "ok:" in check.stdout

    text = config.read_text(encoding="utf-8")
    assert "inactivity-timeout = 10\n" in text
    edited = text.replace("inactivity-timeout = 10\n", "inactivity-timeout = -3\n")
    config.write_text(edited, encoding="utf-8")
    line = next(n for n, s in enumerate(edited.splitlines(), 1) if s == "inactivity-timeout = -3")

    bad = run("check", "--config", str(config), cwd=tmp_path)
    assert bad.returncode == 1
    report = bad.stdout + bad.stderr
    assert f"{config}:{line}:" in report  # file and line
    assert "applications.portal.security.inactivity-timeout = -3" in report  # option and value
    assert "allowed: whole minutes (e.g. 10)" in report  # what is allowed


def test_serve_says_why_when_the_http_address_is_taken(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", free_port(socket.SOCK_STREAM)))
        taken.listen()
        http = f"127.0.0.1:{taken.getsockname()[1]}"
        sip = f"127.0.0.1:{free_port()}"
        result = run("serve", "--http-listen", http, "--sip-listen", sip, cwd=tmp_path)
    assert result.returncode == 1
    assert "serve: cannot start" in result.stderr and "Traceback" not in result.stderr
