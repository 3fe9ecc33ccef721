"""Origin check on state-changing requests, X-Forwarded-* only from trusted proxies (Secure
cookie behind a TLS proxy)."""

from __future__ import annotations

import dataclasses

from web_helpers import PASSWORDS, Browser, NodeFactory

from tui_engine.web import PortalSettings
from tui_engine.web.security import TLS_COOKIE

LOGIN = {"username": "alice", "password": PASSWORDS["alice"]}


async def test_a_cross_origin_request_is_refused_before_anything_happens(browser: Browser) -> None:
    evil = {"Origin": "http://evil.example"}
    status, body, _ = await browser.call("POST", "/api/login", LOGIN, headers=evil)
    assert (status, body) == (403, {"error": "origin"}) and browser.cookie is None
    await browser.login()
    own = {"Origin": browser.node.url}
    status, _, _ = await browser.call("POST", "/api/activity", {}, headers=own)
    assert status == 200  # the page's own origin passes
    refused = (evil, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"})
    for headers in refused:
        status, body, _ = await browser.call(
            "POST", "/api/users", {"username": "eve", "password": "eve-password-1"}, headers=headers
        )
        assert (status, body) == (403, {"error": "origin"}), headers
        status, _, _ = await browser.call("POST", "/api/close", headers=headers)
        assert status == 403
    assert await browser.node.component.store.get_user("eve") is None
    assert await browser.state() == "active"
    status, _, _ = await browser.call("GET", "/api/calls", headers=evil)  # reads are not state changes
    assert status == 200


async def test_forwarded_proto_gives_a_secure_cookie_only_from_a_trusted_proxy(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    untrusted = await make_node(settings)
    b = Browser(http, untrusted)  # type: ignore[arg-type]
    _, _, resp = await b.call("POST", "/api/login", LOGIN, headers=forwarded)
    assert "secure" not in resp.headers["Set-Cookie"].lower()  # anyone could send that header

    trusted = await make_node(dataclasses.replace(settings, trusted_proxies=("127.0.0.1/32",)))
    b = Browser(http, trusted)  # type: ignore[arg-type]
    https_origin = {**forwarded, "Origin": "https://" + trusted.url.removeprefix("http://")}
    status, _, resp = await b.call("POST", "/api/login", LOGIN, headers=https_origin)
    assert status == 200
    raw = resp.headers["Set-Cookie"]
    flags = {part.strip().lower() for part in raw.split(";")[1:]}
    assert raw.startswith(f"{TLS_COOKIE}=") and {"secure", "httponly", "samesite=strict"} <= flags
    # the audit names the client behind the proxy, not the proxy
    [login] = (await trusted.component.store.list_audit(limit=1, event="login"))
    assert login.remote == "203.0.113.9"
    # behind the TLS proxy, the plain-http origin is not this site's
    status, body, _ = await b.call(
        "POST", "/api/login", LOGIN, headers={**forwarded, "Origin": trusted.url}
    )
    assert (status, body) == (403, {"error": "origin"})
