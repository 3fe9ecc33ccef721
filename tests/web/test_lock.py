"""Server-enforced inactivity lock over real HTTP (short timeouts, no timing assertions)."""

from __future__ import annotations

import asyncio
import dataclasses

from web_helpers import Browser, NodeFactory

from tui_engine.web import PortalSettings

DATA_REQUESTS: list[tuple[str, str, object]] = [
    ("GET", "/api/calls", None),
    ("GET", "/api/call-endings", None),
    ("GET", "/api/applications", None),
    ("PUT", "/api/applications/phone/options", {"section": "tui", "option": "max-attempts", "value": 4}),
    ("GET", "/api/users", None),
    ("POST", "/api/users", {"username": "carol", "password": "carol-pw"}),
    ("POST", "/api/users/alice/password", {"password": "new-pw"}),
    ("POST", "/api/users/alice/pin", {"pin": "1234"}),
    ("POST", "/api/export", {}),
]


async def test_session_locks_after_idle_and_data_is_refused(browser: Browser) -> None:
    await browser.login()
    status, body, _ = await browser.call("GET", "/api/session")
    assert body["state"] == "active" and body["user"] == "alice"
    assert body["lock_at"] - body["server_time"] <= 500 and body["timeout_ms"] == 500
    await browser.wait_state("locked")
    status, body, _ = await browser.call("GET", "/api/calls")
    assert (status, body) == (423, {"error": "locked"})


async def test_every_data_endpoint_answers_423_without_data_while_locked(browser: Browser) -> None:
    await browser.login()
    await browser.wait_state("locked")
    for method, path, payload in DATA_REQUESTS:
        status, body, _ = await browser.call(method, path, payload, activity=True)
        assert (method, path, status, body) == (method, path, 423, {"error": "locked"})
    # Nothing was changed by the refused requests, and activity did not unlock.
    assert await browser.state() == "locked"
    assert await browser.node.component.store.get_user("carol") is None


async def test_background_polling_never_keeps_the_session_open(browser: Browser) -> None:
    await browser.login()
    statuses: list[int] = []
    for _ in range(200):
        status, _, _ = await browser.call("GET", "/api/calls")
        statuses.append(status)
        if status == 423:
            break
        await asyncio.sleep(0.05)
    assert statuses[0] == 200 and statuses[-1] == 423


async def test_requests_marked_as_user_activity_keep_it_open(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    node = await make_node(dataclasses.replace(settings, inactivity_timeout=1.5))
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    loop = asyncio.get_running_loop()
    end = loop.time() + 3.5  # well past two timeouts
    while loop.time() < end:
        status, _, _ = await browser.call("GET", "/api/calls", activity=True)
        assert status == 200
        await asyncio.sleep(0.1)
    await browser.wait_state("locked")


async def test_heartbeat_is_activity_and_acknowledges_the_warning(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    node = await make_node(dataclasses.replace(settings, inactivity_timeout=1.5, warning=0.5))
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    _, first, _ = await browser.call("GET", "/api/session")
    assert first["lock_at"] - first["warn_at"] == 500 and first["warning_ms"] == 500
    loop = asyncio.get_running_loop()
    end = loop.time() + 3.5
    while loop.time() < end:
        status, body, _ = await browser.call("POST", "/api/activity")
        assert status == 200 and body["state"] == "active"
        await asyncio.sleep(0.1)
    assert body["lock_at"] > first["lock_at"]
    await browser.wait_state("locked")


async def test_timeout_zero_never_locks_and_a_console_change_applies_at_once(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    node = await make_node(dataclasses.replace(settings, inactivity_timeout=0.0))
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    await asyncio.sleep(0.8)
    _, body, _ = await browser.call("GET", "/api/session")
    assert body["state"] == "active" and body["lock_at"] is None
    status, body, _ = await browser.call(
        "PUT", "/api/applications/portal/options",
        {"section": "security", "option": "inactivity-timeout", "value": "0.5s"},
    )
    assert status == 200, body
    assert node.component.settings.inactivity_timeout == 0.5
    await browser.wait_state("locked")


async def test_invalid_option_value_is_refused_with_a_message(browser: Browser) -> None:
    await browser.login()
    status, body, _ = await browser.call(
        "PUT", "/api/applications/portal/options",
        {"section": "security", "option": "inactivity-timeout", "value": "soon"}, activity=True,
    )
    assert status == 400 and body["error"] == "invalid-option" and "soon" in body["message"]
    status, body, _ = await browser.call(
        "PUT", "/api/applications/phone/options", {"section": "tui", "option": "nope", "value": 1}
    )
    assert status == 400 and "nope" in body["message"]


class LatenessRecorder:
    """A hand-written metrics sink (the runtime's LatenessSink protocol)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []

    def observe_lateness(self, kind: str, seconds: float) -> None:
        self.seen.append((kind, seconds))


async def test_the_lock_reports_its_lateness_to_metrics(
    make_node: NodeFactory, settings: PortalSettings, http: object
) -> None:
    recorder = LatenessRecorder()
    node = await make_node(settings, metrics=recorder)
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    await browser.wait_state("locked")
    assert len(recorder.seen) == 1
    kind, lateness = recorder.seen[0]
    assert kind == "lock" and lateness >= 0.0  # never before the deadline
