"""Re-login on a locked session: who may unlock, ID rotation, failures, closing."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import sys
from typing import Literal

import pytest
from argon2 import PasswordHasher, profiles
from web_helpers import PASSWORDS, Browser, NodeFactory

from tui_engine.web import PortalSettings
from tui_engine.web.passwords import use_hasher
from tui_engine.web.users import add_user
from tui_engine.web.users_cli import add_arguments, run


async def locked(browser: Browser) -> None:
    await browser.login()
    await browser.wait_state("locked")


async def test_owner_unlocks_rotates_the_id_and_gets_data_back(browser: Browser) -> None:
    await locked(browser)
    old_cookie, csrf = browser.cookie, browser.csrf
    status, body, _ = await browser.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]})
    assert status == 200 and body == {"csrf": csrf}
    assert browser.cookie is not None and browser.cookie != old_cookie
    status, body, _ = await browser.call("GET", "/api/calls")
    assert status == 200 and body["calls"][0]["call_id"] == "c1"
    # The pre-unlock ID is dead: another holder of it has no session at all.
    stale = Browser(browser.http, browser.node)
    stale.cookie = old_cookie
    assert await stale.state() == "none"
    status, body, _ = await stale.call("GET", "/api/calls")
    assert (status, body) == (401, {"error": "unauthenticated"})


async def test_another_users_correct_password_gets_the_wrong_password_answer(browser: Browser) -> None:
    await locked(browser)
    status, body, _ = await browser.call("POST", "/api/unlock", {"password": PASSWORDS["bob"]})
    assert (status, body) == (401, {"error": "invalid-password", "failures": 1, "max": 5})
    status, wrong, _ = await browser.call("POST", "/api/unlock", {"password": "not-anyones"})
    assert (status, wrong) == (401, {"error": "invalid-password", "failures": 2, "max": 5})  # same answer
    assert await browser.state() == "locked"
    status, _, _ = await browser.call("GET", "/api/users")
    assert status == 423


class CountingHasher(PasswordHasher):
    verifies = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        CountingHasher.verifies += 1
        return super().verify(hash, password)


async def test_one_unlock_attempt_costs_one_argon2_verify_however_many_users(browser: Browser) -> None:
    store = browser.node.component.store
    for i in range(8):
        await add_user(store, f"user{i}", f"password-of-user-{i}", via="portal")
    await locked(browser)
    previous = use_hasher(CountingHasher.from_parameters(profiles.CHEAPEST))
    try:
        CountingHasher.verifies = 0
        status, _, _ = await browser.call("POST", "/api/unlock", {"password": "password-of-user-3"})
        assert status == 401 and CountingHasher.verifies == 1
    finally:
        use_hasher(previous)


async def test_wrong_passwords_are_counted_and_the_limit_closes_the_session(browser: Browser) -> None:
    await locked(browser)
    for n in range(1, 5):
        status, body, _ = await browser.call("POST", "/api/unlock", {"password": f"guess-{n}"})
        assert (status, body) == (401, {"error": "invalid-password", "failures": n, "max": 5})
        assert await browser.state() == "locked"
    status, body, _ = await browser.call("POST", "/api/unlock", {"password": "guess-5"})
    assert (status, body) == (410, {"error": "closed"})
    assert await browser.state() in ("closed", "none")
    status, body, _ = await browser.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]})
    assert status == 410
    status, _, _ = await browser.call("GET", "/api/calls")
    assert status == 401


async def test_guesses_sent_in_parallel_are_capped_by_the_failure_limit(browser: Browser) -> None:
    """Each attempt is counted before its password is checked: 12 guesses at once, limit 5."""
    await locked(browser)
    previous = use_hasher(CountingHasher.from_parameters(profiles.CHEAPEST))
    try:
        CountingHasher.verifies = 0
        replies = await asyncio.gather(
            *(browser.call("POST", "/api/unlock", {"password": f"guess-{n}"}) for n in range(12))
        )
        assert CountingHasher.verifies <= 5, "more passwords were checked than max-unlock-failures"
    finally:
        use_hasher(previous)
    assert sorted({status for status, _, _ in replies}) == [401, 410]
    assert await browser.state() in ("closed", "none")


async def test_failure_limit_is_configurable(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    node = await make_node(dataclasses.replace(settings, max_unlock_failures=2))
    browser = Browser(http, node)  # type: ignore[arg-type]
    await locked(browser)
    status, body, _ = await browser.call("POST", "/api/unlock", {"password": "x"})
    assert (status, body["max"]) == (401, 2)
    status, _, _ = await browser.call("POST", "/api/unlock", {"password": "y"})
    assert status == 410


async def test_cancel_closes_a_locked_session_for_good_without_a_password(browser: Browser) -> None:
    await locked(browser)
    status, body, _ = await browser.call("POST", "/api/close")
    assert (status, body) == (200, {"state": "closed"})
    store = browser.node.component.store
    assert [s for s in await store.open_sessions() if s.username == "alice"] == []
    status, _, _ = await browser.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]})
    assert status == 410


async def test_password_changed_through_this_application_needs_the_new_one(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    node = await make_node(dataclasses.replace(settings, inactivity_timeout=2.0))
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    status, body, _ = await browser.call(
        "POST", "/api/users/alice/password",
        {"password": "alice-new-password", "current_password": PASSWORDS["alice"]}, activity=True,
    )
    assert status == 200 and body["application"] == "portal" and body["sessions_updated"] == 1
    await browser.wait_state("locked")
    status, body, _ = await browser.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]})
    assert status == 401 and body["error"] == "invalid-password"
    status, _, _ = await browser.call("POST", "/api/unlock", {"password": "alice-new-password"})
    assert status == 200


async def test_password_changed_through_another_application_keeps_the_old_for_relogin(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    node = await make_node(dataclasses.replace(settings, inactivity_timeout=2.0))
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    status, body, _ = await browser.call(
        "POST", "/api/users/alice/password",
        {"password": "alice-new-password", "application": "billing", "current_password": PASSWORDS["alice"]},
        activity=True,
    )
    assert status == 200 and body["sessions_updated"] == 0
    # A fresh login needs the new password...
    fresh = Browser(browser.http, node)
    old = {"username": "alice", "password": PASSWORDS["alice"]}
    status, _, _ = await fresh.call("POST", "/api/login", old)
    assert status == 401
    await fresh.login("alice", "alice-new-password")
    # ...while the running session re-logs in with the one it logged in with.
    await browser.wait_state("locked")
    status, body, _ = await browser.call("POST", "/api/unlock", {"password": "alice-new-password"})
    assert status == 401 and body["error"] == "invalid-password"
    status, _, _ = await browser.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]})
    assert status == 200


async def test_cli_passwd_naming_another_application_leaves_portal_sessions_alone(
    make_node: NodeFactory, settings: PortalSettings, http: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = await make_node(settings)
    browser = Browser(http, node)  # type: ignore[arg-type]
    await locked(browser)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for argv, pw in ((["passwd", "alice", "--application", "phone"], "via-phone-password"),
                     (["passwd", "bob"], "via-portal-password")):
        monkeypatch.setattr(sys, "stdin", io.StringIO(pw + "\n"))  # what a script pipes in
        rc = await asyncio.to_thread(run, parser.parse_args(argv), settings)
        assert rc == 0
    status, _, _ = await browser.call("POST", "/api/unlock", {"password": "via-phone-password"})
    assert status == 401
    status, _, _ = await browser.call("POST", "/api/unlock", {"password": PASSWORDS["alice"]})
    assert status == 200
    other = Browser(browser.http, node)
    await other.login("alice", "via-phone-password")
    await other.login("bob", "via-portal-password")
