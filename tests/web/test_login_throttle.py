"""Online guessing at the login form: after 5 failures in a row for a name, that name waits."""

from __future__ import annotations

from web_helpers import PASSWORDS, Browser

from tui_engine.web.throttle import LoginThrottle


def test_five_failures_are_free_then_the_wait_doubles_up_to_the_cap() -> None:
    throttle = LoginThrottle(free=5, first_wait=30.0, max_wait=100.0)
    for i in range(4):
        throttle.failed("alice", now=float(i))
        assert throttle.retry_after("alice", now=float(i)) is None  # 1st to 4th: no wait yet
    throttle.failed("alice", now=10.0)  # the 5th
    assert throttle.retry_after("alice", now=10.0) == 30.0
    assert throttle.retry_after("alice", now=39.9) is not None
    assert throttle.retry_after("alice", now=40.0) is None  # the wait is over: one more try
    throttle.failed("alice", now=40.0)  # the 6th: twice as long
    assert throttle.retry_after("alice", now=40.0) == 60.0
    throttle.failed("alice", now=100.0)  # the 7th would be 120 s: capped
    assert throttle.retry_after("alice", now=100.0) == 100.0
    assert throttle.retry_after("bob", now=100.0) is None  # other names are not affected


def test_a_success_clears_the_name() -> None:
    throttle = LoginThrottle(free=2, first_wait=30.0)
    throttle.failed("alice", now=0.0)
    throttle.succeeded("alice")
    throttle.failed("alice", now=1.0)
    assert throttle.retry_after("alice", now=1.0) is None  # counting started again


def test_the_table_forgets_the_oldest_names_first() -> None:
    throttle = LoginThrottle(free=1, first_wait=30.0, max_names=2)
    for name in ("a", "b", "c"):
        throttle.failed(name, now=0.0)
    assert throttle.retry_after("a", now=1.0) is None
    assert throttle.retry_after("b", now=1.0) is not None and throttle.retry_after("c", now=1.0) is not None


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
