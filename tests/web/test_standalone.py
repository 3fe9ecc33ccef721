"""``python -m tui_engine.web`` (what the browser tests run) serves the page and the API."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tui_engine.testing import free_port


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_standalone_server_serves_page_login_and_lock(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_STREAM)
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "tui_engine.web", "--http-listen", f"127.0.0.1:{port}",
           "--data-dir", str(tmp_path), "--inactivity-timeout", "3s", "--warning", "1s",
           "--user", "alice:pw"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, page = _get(base + "/")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 200 and b"<html" in page.lower()
        login = urllib.request.Request(
            base + "/api/login", data=json.dumps({"username": "alice", "password": "pw"}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(login, timeout=60) as reply:
            cookie = reply.headers["Set-Cookie"].split(";")[0]
            assert json.loads(reply.read())["user"] == "alice"
        session = urllib.request.Request(base + "/api/session", headers={"Cookie": cookie})
        with urllib.request.urlopen(session, timeout=5) as reply:
            body = json.loads(reply.read())
        assert body["state"] == "active" and body["timeout_ms"] == 3000
        assert body["lock_at"] - body["warn_at"] == 1000
        assert not (tmp_path / "initial-admin-password").exists()  # --user given: no admin
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode(errors="replace")
