"""Roles (issue 13): admins manage users and options, operators watch calls and read records;
a password is changed by its owner with the current one, or by an admin; turning the portal's
own lock off needs a confirmation; all of it lands in the audit log that only admins read."""

from __future__ import annotations

import pytest
from web_helpers import PASSWORDS, Browser

ADMIN_ONLY = [
    ("GET", "/api/applications", None),
    ("PUT", "/api/applications/portal/options", {"section": "security", "option": "inactivity-timeout",
                                                  "value": 0, "confirm": True}),
    ("GET", "/api/users", None),
    ("POST", "/api/users", {"username": "mallory", "password": "mallory-password", "role": "admin"}),
    ("GET", "/api/audit", None),
]


async def test_an_operator_watches_calls_and_reads_records(browser: Browser) -> None:
    await browser.login("bob")
    _, session, _ = await browser.call("GET", "/api/session")
    assert (session["user"], session["role"]) == ("bob", "operator")
    for path in ("/api/calls", "/api/call-endings"):
        status, _, _ = await browser.call("GET", path)
        assert status == 200, path
    status, _, resp = await browser.call("POST", "/api/export", {})
    assert status == 200 and resp.content_type == "text/csv"


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
async def test_an_operator_cannot_manage_users_options_or_read_the_audit(
    browser: Browser, method: str, path: str, body: object
) -> None:
    await browser.login("bob")
    status, answer, _ = await browser.call(method, path, body)
    assert (status, answer) == (403, {"error": "forbidden", "role": "operator"})
    store = browser.node.component.store
    assert await store.get_user("mallory") is None
    assert browser.node.component.settings.inactivity_timeout == 0.5  # unchanged


async def test_an_operator_cannot_set_another_users_password_and_so_cannot_unlock_her_session(
    browser: Browser,
) -> None:
    alice = Browser(browser.http, browser.node)
    await alice.login("alice")
    await browser.login("bob")
    status, body, _ = await browser.call(
        "POST", "/api/users/alice/password", {"password": "bob-chose-this-one"}
    )
    assert (status, body) == (403, {"error": "forbidden", "role": "operator"})
    status, _, _ = await browser.call("POST", "/api/users/alice/pin", {"pin": "1234"})
    assert status == 403
    await alice.wait_state("locked")
    status, _, _ = await alice.call("POST", "/api/unlock", {"password": "bob-chose-this-one"})
    assert status == 401
    status, _, _ = await alice.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]})
    assert status == 200


async def test_own_password_needs_the_current_one(browser: Browser) -> None:
    await browser.login("bob")
    new = {"password": "bobs-new-password"}
    status, body, _ = await browser.call("POST", "/api/users/bob/password", new)
    assert (status, body) == (403, {"error": "invalid-current-password"})
    status, body, _ = await browser.call(
        "POST", "/api/users/bob/password", {**new, "current_password": "not-it"}
    )
    assert status == 403
    status, body, _ = await browser.call(
        "POST", "/api/users/bob/password", {"password": "short", "current_password": PASSWORDS["bob"]}
    )
    assert (status, body["error"]) == (400, "weak-password")
    status, body, _ = await browser.call(
        "POST", "/api/users/bob/password", {**new, "current_password": PASSWORDS["bob"]}
    )
    assert status == 200 and body["sessions_updated"] == 1
    fresh = Browser(browser.http, browser.node)
    await fresh.login("bob", "bobs-new-password")


async def test_an_admin_sets_other_users_passwords_and_creates_operators(browser: Browser) -> None:
    await browser.login("alice")
    status, body, _ = await browser.call("POST", "/api/users/bob/password", {"password": "set-by-the-admin"})
    assert status == 200, body
    status, body, _ = await browser.call(
        "POST", "/api/users", {"username": "carol", "password": "carol-password"}
    )
    assert (status, body) == (201, {"username": "carol", "role": "operator"})
    status, body, _ = await browser.call(
        "POST", "/api/users", {"username": "dan", "password": "dan-password-1", "role": "root"}
    )
    assert status == 400 and "role" in body["message"]
    _, body, _ = await browser.call("GET", "/api/users")
    assert {u["username"]: u["role"] for u in body["users"]} == {
        "alice": "admin", "bob": "operator", "carol": "operator"
    }


async def test_turning_the_portals_lock_off_needs_a_confirmation_and_is_audited(browser: Browser) -> None:
    await browser.login("alice")
    off = {"section": "security", "option": "inactivity-timeout", "value": 0}
    status, body, _ = await browser.call("PUT", "/api/applications/portal/options", off, activity=True)
    assert (status, body["error"]) == (409, "confirmation-required")
    assert browser.node.component.settings.inactivity_timeout == 0.5  # nothing changed
    status, _, _ = await browser.call(
        "PUT", "/api/applications/portal/options", {**off, "value": "0s", "confirm": True}, activity=True
    )
    assert status == 200
    assert browser.node.component.settings.inactivity_timeout == 0.0
    _, audit, _ = await browser.call("GET", "/api/audit?event=option_change")
    [change] = audit["events"]
    assert change["actor"] == "alice" and change["details"]["disables_lock"] is True
    assert change["details"]["option"] == "inactivity-timeout" and change["details"]["value"] == "0s"
    # another application's timeout of 0 (the phone menus) needs no confirmation
    status, _, _ = await browser.call(
        "PUT", "/api/applications/phone/options", {"section": "tui", "option": "max-attempts", "value": 2}
    )
    assert status == 200


async def test_the_audit_log_records_the_security_events_in_order(browser: Browser) -> None:
    bob = Browser(browser.http, browser.node)
    status, _, _ = await bob.call("POST", "/api/login", {"username": "bob", "password": "wrong"})
    assert status == 401
    await bob.login("bob")
    await bob.wait_state("locked")
    await bob.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]})  # someone else's
    await bob.call("POST", "/api/unlock", {"password": PASSWORDS["bob"]})
    await bob.call("POST", "/api/close")
    await browser.login("alice")
    _, body, _ = await browser.call("GET", "/api/audit?user=bob")
    events = [e["event"] for e in reversed(body["events"])]
    assert events == [
        "user_created", "login_refused", "login", "lock", "unlock_refused", "unlock_accepted", "close"
    ]
    refused = next(e for e in body["events"] if e["event"] == "unlock_refused")
    assert refused["details"] == {"reason": "invalid-password", "failures": 1, "max": 5}
    assert refused["remote"] == "127.0.0.1" and len(refused["session"]) == 16
    lock = next(e for e in body["events"] if e["event"] == "lock")
    assert lock["actor"] is None and lock["details"]["lateness_ms"] >= 0
    assert all(PASSWORDS["alice"] not in repr(e) for e in body["events"])
    # paging: newest first, next_before continues
    _, page1, _ = await browser.call("GET", "/api/audit?limit=2")
    _, page2, _ = await browser.call("GET", f"/api/audit?limit=2&before={page1['next_before']}")
    ids = [e["id"] for e in page1["events"] + page2["events"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    status, _, _ = await browser.call("GET", "/api/audit?limit=0")
    assert status == 400
