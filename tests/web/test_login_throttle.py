"""Online guessing at the login form: after 5 failures in a row for a name, that name waits,
counted in the store so every engine on it agrees."""

from __future__ import annotations

from pathlib import Path

from web_helpers import PASSWORDS, Browser, NodeFactory

from tui_engine.web import PortalSettings
from tui_engine.web.store.sqlite import SqliteStore
from tui_engine.web.throttle import LoginThrottle


async def test_five_failures_are_free_then_the_wait_doubles_up_to_the_cap(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    throttle = LoginThrottle(store, free=5, first_wait=30.0, max_wait=100.0)
    for i in range(4):
        await throttle.failed("alice", now=float(i))
        assert await throttle.retry_after("alice", now=float(i)) is None  # 1st to 4th: no wait yet
    await throttle.failed("alice", now=10.0)  # the 5th
    assert await throttle.retry_after("alice", now=10.0) == 30.0
    assert await throttle.retry_after("alice", now=39.9) is not None
    assert await throttle.retry_after("alice", now=40.0) is None  # the wait is over: one more try
    await throttle.failed("alice", now=40.0)  # the 6th: twice as long
    assert await throttle.retry_after("alice", now=40.0) == 60.0
    await throttle.failed("alice", now=100.0)  # the 7th would be 120 s: capped
    assert await throttle.retry_after("alice", now=100.0) == 100.0
    assert await throttle.retry_after("bob", now=100.0) is None  # other names are not affected
    await store.aclose()


async def test_a_success_clears_the_name_and_old_failures_are_forgotten(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    throttle = LoginThrottle(store, free=2, first_wait=30.0, max_wait=100.0)
    await throttle.failed("alice", now=0.0)
    await throttle.succeeded("alice")
    await throttle.failed("alice", now=1.0)
    assert await throttle.retry_after("alice", now=1.0) is None  # counting started again
    await throttle.failed("bob", now=0.0)
    await throttle.failed("bob", now=200.0)  # the first one is older than max_wait: forgotten
    assert await throttle.retry_after("bob", now=200.0) is None
    await store.aclose()


async def test_the_sixth_attempt_is_refused_with_429_even_with_the_right_password(browser: Browser) -> None:
    for _ in range(5):
        status, body, _ = await browser.call("POST", "/api/login", {"username": "alice", "password": "nope"})
        assert (status, body["error"]) == (401, "invalid-credentials")
    right = {"username": "alice", "password": PASSWORDS["alice"]}
    status, body, resp = await browser.call("POST", "/api/login", right)
    assert status == 429 and body["error"] == "too-many-attempts"
    assert 0 < int(resp.headers["Retry-After"]) <= 30 and "Set-Cookie" not in resp.headers
    assert "try again in" in body["message"]
    await browser.login("bob")  # another user signs in as usual


async def test_guesses_spread_over_two_engines_on_one_store_are_counted_together(
    make_node: NodeFactory, settings: PortalSettings, browser: Browser
) -> None:
    other = await make_node(settings)  # the same SQLite file: a second engine process's view
    for i in range(5):
        node = browser.node if i % 2 else other
        wrong = {"username": "alice", "password": "x"}
        status, _, _ = await browser.call("POST", "/api/login", wrong, node=node)
        assert status == 401
    right = {"username": "alice", "password": PASSWORDS["alice"]}
    for node in (browser.node, other):
        status, body, _ = await browser.call("POST", "/api/login", right, node=node)
        assert (status, body["error"]) == (429, "too-many-attempts")
