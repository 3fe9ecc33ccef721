"""Issue 13 in a real browser, against the whole engine: role rules, a deadline nothing can
stretch (polls at the deadline, an engine killed during a progress), one answer for every wrong
unlock password, and cross-tab messages that cannot re-show the console."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tui_engine.web.store.cdrs import CallRecord, open_cdr_store

from .conftest import PortalFactory
from .helpers import USERS, lock_dialog, login, server_session, two_locked_tabs, unlock, view, wait_locked

pytestmark = pytest.mark.e2e

#: a request made by the page itself (same origin, its cookie, the session's CSRF token)
FETCH = """async ([method, path, body]) => {
  const s = await (await fetch('/api/session')).json();
  const headers = {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf || ''};
  const r = await fetch(path, {method, headers, body: body === null ? undefined : JSON.stringify(body)});
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  return [r.status, data];
}"""

#: background requests from the page, many at a time, non-stop until one answers 423, while a
#: status poll records every deadline the server announces
POLL_UNTIL_LOCKED = """async (maxMs) => {
  const end = Date.now() + maxMs;
  let locked = false, polls = 0;
  const deadlines = new Set();
  const one = async () => {
    while (!locked && Date.now() < end) {
      for (const p of ['/api/calls', '/api/call-endings']) {
        const r = await fetch(p);
        polls += 1;
        if (r.status === 423) locked = true;
      }
    }
  };
  const status = async () => {
    while (!locked && Date.now() < end) {
      const s = await (await fetch('/api/session')).json();
      if (s.state === 'active') deadlines.add(s.lock_at);  // null: "no deadline now"
      await new Promise((ok) => setTimeout(ok, 50));
    }
  };
  await Promise.all([status(), ...Array.from({length: 12}, one)]);
  return [locked, polls, [...deadlines]];
}"""

#: from now on, remember whether the page ever shows the console (sampled every 5 ms)
WATCH_VIEW = """() => {
  window.__everActive = false;
  setInterval(() => { if (window.tuiEngine.view() === 'active') window.__everActive = true; }, 5);
}"""

CSRF = "async () => (await (await fetch('/api/session')).json()).csrf"
#: ~8 MB of CSV: more than loopback's socket buffers (up to 4 MB) hold for a client that stops reading
RECORDS = 7_000
PADDING = "x" * 1000  # long caller names keep the record count (and the seeding time) down


def seed_call_records(url: str, n: int) -> None:
    """``n`` finished calls in the shared store, for an export that takes a while."""

    async def add() -> None:
        store = open_cdr_store(url, Path("unused"))
        try:
            for start in range(0, n, 100):
                await asyncio.gather(*(store.add(CallRecord(
                    call_id=f"c{i}", started_at=1.8e9 + i, answered_at=1.8e9 + i, ended_at=1.8e9 + i + 30,
                    caller=f"sip:{1000 + i % 900}-{PADDING}@127.0.0.1", dialled="main", dialplan="main",
                    menus=("welcome", "sales"), digits=2, no_input=1, end_reason="completed", sip_status=200,
                )) for i in range(start, min(n, start + 100))))
        finally:
            await store.aclose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright owns this thread's loop
        pool.submit(asyncio.run, add()).result()


def start_slow_download(portal_url: str, cookie: str, csrf: str) -> socket.socket:
    """POST /api/export with the user's session from a client that reads the first bytes and
    then nothing more: the export on that engine stays running, its lease renewed there."""
    host, port = portal_url.removeprefix("http://").rstrip("/").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.connect((host, int(port)))
    sock.sendall(
        f"POST /api/export HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: tui_session={cookie}\r\n"
        f"X-CSRF-Token: {csrf}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}".encode()
    )
    head = sock.recv(1024)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return sock


def call(page: Page, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, data = page.evaluate(FETCH, [method, path, body])
    return int(status), data


# -- roles ----------------------------------------------------------------------------------------


def test_an_operator_watches_calls_but_cannot_touch_users_options_or_the_audit(
    page: Page, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url, "bob")
    assert server_session(page, portal.url)["role"] == "operator"
    assert call(page, "GET", "/api/calls")[0] == 200
    refused = [
        ("GET", "/api/applications", None),
        ("PUT", "/api/applications/portal/options",
         {"section": "security", "option": "inactivity-timeout", "value": 0, "confirm": True}),
        ("GET", "/api/users", None),
        ("POST", "/api/users", {"username": "mallory", "password": "mallory-password", "role": "admin"}),
        ("POST", "/api/users/alice/password", {"password": "chosen-by-bob-1"}),
        ("GET", "/api/audit", None),
    ]
    for method, path, body in refused:
        assert call(page, method, path, body) == (403, {"error": "forbidden", "role": "operator"}), path


def test_an_operator_cannot_take_over_a_locked_admin_session(
    page: Page, context: BrowserContext, browser: Any, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="3s", warning="0")
    login(page, portal.url, "alice")  # alice's session, about to lock
    other = browser.new_context()  # bob, on another machine
    try:
        bob = other.new_page()
        login(bob, portal.url, "bob")
        assert call(bob, "POST", "/api/users/alice/password", {"password": "chosen-by-bob-1"})[0] == 403
    finally:
        other.close()
    wait_locked(page)
    unlock(page, "chosen-by-bob-1")
    expect(lock_dialog(page)).to_contain_text("Invalid password. 4 attempts left.")
    unlock(page, USERS["alice"])
    expect(page.get_by_role("heading", name="Live calls")).to_be_visible()


def test_own_password_needs_the_current_one_and_the_lock_off_needs_a_confirmation(
    page: Page, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url, "alice")
    assert call(page, "POST", "/api/users/alice/password", {"password": "alice-new-password"}) == (
        403, {"error": "invalid-current-password"},
    )
    status, body = call(page, "POST", "/api/users/alice/password",
                        {"password": "short", "current_password": USERS["alice"]})
    assert (status, body["error"]) == (400, "weak-password")
    status, _ = call(page, "POST", "/api/users/alice/password",
                     {"password": "alice-new-password", "current_password": USERS["alice"]})
    assert status == 200
    off = {"section": "security", "option": "inactivity-timeout", "value": 0}
    status, body = call(page, "PUT", "/api/applications/portal/options", off)
    assert (status, body["error"]) == (409, "confirmation-required")
    assert server_session(page, portal.url)["timeout_ms"] == 600_000
    assert call(page, "PUT", "/api/applications/portal/options", {**off, "confirm": True})[0] == 200
    assert server_session(page, portal.url)["lock_at"] is None  # applied: never locks now
    status, audit = call(page, "GET", "/api/audit?event=option_change", None)
    assert status == 200 and audit["events"][0]["details"]["disables_lock"] is True
    assert audit["events"][0]["actor"] == "alice"


# -- the deadline ---------------------------------------------------------------------------------


def test_background_requests_running_across_the_deadline_do_not_stretch_it(
    page: Page, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="3s", warning="0")
    login(page, portal.url)
    # The sign-in's own input reaches the server a moment later: read the deadline once it has
    # stopped moving (two reads 400 ms apart agree), not after a fixed wait a loaded box can outrun.
    deadline = server_session(page, portal.url)["lock_at"]
    for _ in range(10):
        page.wait_for_timeout(400)
        again = server_session(page, portal.url)["lock_at"]
        if again == deadline:
            break
        deadline = again
    # No input from here on: only the page's own polling plus twelve non-stop pollers, so some
    # request is always running when the deadline comes.
    locked, polls, announced = page.evaluate(POLL_UNTIL_LOCKED, 30000)
    assert locked and polls > 0, "non-stop background requests kept the session open"
    assert announced == [deadline], "a background request moved or suspended the deadline"
    wait_locked(page)
    assert server_session(page, portal.url)["state"] == "locked"


def test_an_engine_killed_during_an_export_cannot_keep_the_session_open(
    page: Page, context: BrowserContext, portal_factory: PortalFactory, redis_url: str
) -> None:
    options = {"inactivity_timeout": "3s", "warning": "0", "heartbeat_interval": "1s", "store": redis_url}
    seed_call_records(redis_url, RECORDS)
    doomed = portal_factory(**options)
    survivor = portal_factory(**options)
    login(page, doomed.url)
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "tui_session")
    download = start_slow_download(doomed.url, cookie, page.evaluate(CSRF))
    try:
        page.close()  # no page input from here on: only the export holds the session
        tab_b = context.new_page()
        tab_b.goto(survivor.url)  # the same session, seen through the other engine
        expect(tab_b.get_by_role("button", name="Sign out")).to_be_visible()
        tab_b.wait_for_timeout(5000)  # longer than the timeout: the running export holds it open
        assert server_session(tab_b, survivor.url)["state"] == "active"

        doomed.process.kill()  # SIGKILL mid-export: no cleanup runs on that engine
        doomed.process.wait()

        wait_locked(tab_b)  # the lease is not renewed any more: the survivor locks the session
        assert server_session(tab_b, survivor.url)["state"] == "locked"
    finally:
        download.close()


# -- unlock and tabs ------------------------------------------------------------------------------


def test_another_users_password_gets_the_same_answer_as_a_wrong_one_and_counts(
    page: Page, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="2s", warning="0", max_unlock_failures="5")
    login(page, portal.url)
    wait_locked(page)
    unlock(page, USERS["bob"])  # bob's correct password on alice's session
    expect(lock_dialog(page)).to_contain_text("Invalid password. 4 attempts left.")
    answer_for_bob = lock_dialog(page).locator("#unlock-error").inner_text()
    unlock(page, "nobody-has-this-one")
    expect(lock_dialog(page)).to_contain_text("Invalid password. 3 attempts left.")
    answer_for_wrong = lock_dialog(page).locator("#unlock-error").inner_text()
    assert answer_for_bob.replace("4", "N") == answer_for_wrong.replace("3", "N")
    assert "not permitted" not in page.content().lower()
    assert view(page) == "locked"


def test_a_forged_cross_tab_message_cannot_re_show_the_console(
    page: Page, context: BrowserContext, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="2s", warning="0")
    tab_b = two_locked_tabs(page, context, portal.url)
    page.evaluate(WATCH_VIEW)
    now = server_session(page, portal.url)["server_time"]
    forged = {"state": "active", "user": "alice", "csrf": "x", "server_time": now,
              "lock_at": now + 600000, "warn_at": None, "timeout_ms": 600000, "heartbeat_ms": 15000}
    tab_b.evaluate(
        "(body) => new BroadcastChannel('tui-engine-session').postMessage({type: 'session', body})", forged
    )
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__everActive") is False, "a message re-showed the console"
    assert view(page) == "locked"
    expect(lock_dialog(page)).to_be_visible()
    expect(page.get_by_role("heading", name="Live calls")).to_have_count(0)
