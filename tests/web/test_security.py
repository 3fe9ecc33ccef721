"""Cookies, CSRF, ID rotation at login, absolute lifetime, audit events with hashed IDs."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs
from web_helpers import PASSWORDS, Browser, NodeFactory, console

from tui_engine.testing import free_port
from tui_engine.web import PortalSettings, WebComponent
from tui_engine.web.security import TLS_COOKIE, id_hash
from tui_engine.web.users import add_user


async def test_cookie_is_httponly_samesite_strict_and_rotated_at_login(browser: Browser) -> None:
    await browser.login()
    first = browser.cookie
    raw = browser.set_cookie_headers[-1].lower()
    assert "httponly" in raw and "samesite=strict" in raw and "path=/" in raw
    await browser.login()  # logging in again (same browser) gives a new ID, closes the old
    assert browser.cookie != first
    stale = Browser(browser.http, browser.node)
    stale.cookie = first
    assert await stale.state() == "closed"
    status, _, _ = await stale.call("GET", "/api/calls")
    assert status == 401


async def test_bad_credentials_and_no_session(browser: Browser) -> None:
    status, body, _ = await browser.call("POST", "/api/login", {"username": "alice", "password": "nope"})
    assert (status, body) == (401, {"error": "invalid-credentials"})
    status, body, _ = await browser.call("POST", "/api/login", {"username": "nobody", "password": "x"})
    assert (status, body) == (401, {"error": "invalid-credentials"})
    assert browser.cookie is None
    _, body, _ = await browser.call("GET", "/api/session")
    assert body["state"] == "none" and body["user"] is None and body["csrf"] is None
    status, body, _ = await browser.call("GET", "/api/calls")
    assert (status, body) == (401, {"error": "unauthenticated"})


async def test_login_needs_a_json_content_type(browser: Browser) -> None:
    url = browser.node.url + "/api/login"
    data = '{"username": "alice", "password": "alice-pw-1"}'
    async with browser.http.post(url, data=data, headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 415 and "Set-Cookie" not in resp.headers


async def test_state_changing_requests_need_the_csrf_token(browser: Browser) -> None:
    await browser.login()
    requests: list[tuple[str, str, object]] = [
        ("POST", "/api/users", {"username": "carol", "password": "pw"}),
        ("PUT", "/api/applications/phone/options", {"section": "tui", "option": "max-attempts", "value": 5}),
        ("POST", "/api/users/alice/password", {"password": "x"}),
        ("POST", "/api/users/alice/pin", {"pin": "1234"}),
        ("POST", "/api/export", {}),
        ("POST", "/api/activity", None),
        ("POST", "/api/close", None),
        ("POST", "/api/logout", None),
    ]
    good = browser.csrf
    for token in (None, "forged"):
        browser.csrf = token
        for method, path, payload in requests:
            status, body, _ = await browser.call(method, path, payload)
            assert (path, status, body) == (path, 403, {"error": "csrf"})
    browser.csrf = good
    assert await browser.state() == "active"
    assert await browser.node.component.store.get_user("carol") is None
    assert browser.node.component.console.applications()["phone"]["tui"]["max-attempts"] == 3


async def test_unlock_needs_the_csrf_token(browser: Browser) -> None:
    await browser.login()
    await browser.wait_state("locked")
    browser.csrf = "forged"
    status, body, _ = await browser.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]})
    assert (status, body) == (403, {"error": "csrf"})


async def test_absolute_lifetime_closes_even_an_active_session(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    node = await make_node(dataclasses.replace(settings, inactivity_timeout=0.0, session_lifetime=1.0))
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    statuses = []
    for _ in range(100):
        status, _, _ = await browser.call("POST", "/api/activity")
        statuses.append(status)
        if (await browser.state()) == "closed":
            break
        await asyncio.sleep(0.05)
    assert await browser.state() == "closed"
    status, _, _ = await browser.call("GET", "/api/calls", activity=True)
    assert status == 401


async def test_audit_events_carry_hashed_session_ids_only(browser: Browser) -> None:
    with capture_logs() as logs:
        await browser.login()
        raw = browser.cookie
        assert raw is not None
        await browser.wait_state("locked")
        await browser.call("POST", "/api/unlock", {"password": "wrong"})
        await browser.call("POST", "/api/unlock", {"password": PASSWORDS["bob"]})
        await browser.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]})
        await browser.call(
            "POST", "/api/users/alice/password",
            {"password": "new-password-1", "current_password": PASSWORDS["alice"]},
        )
        await browser.call("POST", "/api/close")
    names = [e["event"] for e in logs if str(e["event"]).startswith("audit.")]
    for expected in ("audit.login", "audit.lock", "audit.unlock_refused", "audit.unlock_accepted",
                     "audit.password_change", "audit.close"):
        assert expected in names
    assert names.count("audit.lock") == 1
    login = next(e for e in logs if e["event"] == "audit.login")
    assert login["session"] == id_hash(raw)[:16]
    assert all(raw not in repr(e) for e in logs)
    assert all(PASSWORDS["alice"] not in repr(e) and "new-password-1" not in repr(e) for e in logs)


async def test_pages_carry_security_headers(browser: Browser) -> None:
    async with browser.http.get(browser.node.url + "/") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "DENY"
    async with browser.http.get(browser.node.url + "/static/../component.py") as resp:
        assert resp.status == 404


@pytest.fixture
def tls_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A throw-away self-signed certificate and key made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


async def test_over_tls_the_cookie_is_secure_and_host_prefixed(
    tls_cert: tuple[Path, Path], settings: PortalSettings, http: aiohttp.ClientSession
) -> None:
    cert, key = tls_cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    component = WebComponent(settings, console(), first_run=False)
    await add_user(component.store, "alice", PASSWORDS["alice"], via="portal")
    app = web.Application()
    component.setup_http(app)
    port = free_port(socket.SOCK_STREAM)
    runner = web.AppRunner(app)
    await runner.setup()
    await component.start()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ctx).start()
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        client_ctx.check_hostname = False
        body = {"username": "alice", "password": PASSWORDS["alice"]}
        async with http.post(f"https://127.0.0.1:{port}/api/login", json=body, ssl=client_ctx) as resp:
            assert resp.status == 200
            raw = resp.headers["Set-Cookie"]
        assert raw.startswith(f"{TLS_COOKIE}=")
        flags = {part.strip().lower() for part in raw.split(";")[1:]}
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= flags
        assert not any(f.startswith("domain") for f in flags)  # __Host- forbids a Domain
    finally:
        await runner.cleanup()
        await component.stop()
