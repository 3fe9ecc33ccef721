"""The console's sections through the page: live data, options that apply at once, users, and
the two password-change rules (this application vs another one) as seen from the lock dialog."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tui_engine.testing import free_port, free_port_block

from .conftest import PortalFactory
from .helpers import USERS, draft, go, lock_dialog, login, server_session, unlock, wait_locked

pytestmark = pytest.mark.e2e

SCENARIOS = Path(__file__).resolve().parents[2] / "sipp_scenarios"


def test_live_calls_and_call_endings_are_shown(
    page: Page, portal_factory: PortalFactory, tmp_path: Path
) -> None:
    """A real SIPp call to the engine shows up live (menu, attempt, countdown), then as an ending."""
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url)
    first, _ = free_port_block(4)
    caller = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "uac_caller_hangup.xml"), "-s", "100",
         f"127.0.0.1:{portal.sip_port}", "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(first),
         "-m", "1", "-nostdin", "-set", "hold_ms", "6000", "-timeout", "30s"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        calls = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Current menu"))
        row = calls.get_by_role("row").filter(has_text="sipp")
        for text in ("main", "1 of 3"):
            expect(row).to_contain_text(text)
        endings = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Reason"))
        expect(endings.get_by_role("row").filter(has_text="sipp")).to_contain_text(
            "caller-hangup", timeout=20000
        )
        expect(calls.get_by_role("row").filter(has_text="sipp")).to_have_count(0)
        assert caller.wait(timeout=30) == 0
    finally:
        if caller.poll() is None:
            caller.kill()


def _portal_security(page: Page) -> Locator:
    go(page, "Options")
    return page.get_by_role("form", name="portal security")


def test_an_edited_option_applies_at_once_to_the_running_session(
    page: Page, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url)
    assert server_session(page, portal.url)["timeout_ms"] == 600_000
    form = _portal_security(page)
    expect(form.get_by_text("Idle time before the session locks.")).to_be_visible()  # the template's help

    form.get_by_label("portal security inactivity-timeout", exact=True).fill("2s")
    form.get_by_role("button", name="Save portal security").click()

    expect(form.get_by_text("Saved and applied.")).to_be_visible()
    assert server_session(page, portal.url)["timeout_ms"] == 2000
    wait_locked(page)  # the running session now locks after 2 s instead of 10 min


def test_a_refused_option_is_marked_where_it_is_and_nothing_is_saved(
    page: Page, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url)
    form = _portal_security(page)
    form.get_by_label("portal security max-unlock-failures", exact=True).fill("7")
    timeout_label = "portal security inactivity-timeout"
    timeout = form.get_by_label(timeout_label, exact=True)
    timeout.fill("soon")
    form.get_by_role("button", name="Save portal security").click()

    field = form.locator(".option-field", has=page.get_by_label(timeout_label, exact=True))
    expect(field.get_by_role("alert")).to_contain_text("neither whole minutes nor a duration")
    expect(timeout).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_text("Not saved: correct the marked options.")).to_be_visible()
    assert server_session(page, portal.url)["timeout_ms"] == 600_000
    assert server_session(page, portal.url)["max_unlock_failures"] == 5  # the whole form, or nothing


def test_an_option_the_engine_refuses_to_apply_is_not_reported_as_applied(
    page: Page, portal_factory: PortalFactory
) -> None:
    """A valid value the telephony cannot use (no such dialplan): 'not applied', not 'saved'."""
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url)
    go(page, "Options")
    form = page.get_by_role("form", name="phone tui")
    form.get_by_label("phone tui default-dialplan", exact=True).fill("no-such-plan")
    form.get_by_role("button", name="Save phone tui").click()

    expect(form.get_by_role("status")).to_contain_text("Not applied")
    expect(form.get_by_text("Saved and applied.")).to_have_count(0)
    reply = page.request.get(portal.url + "api/applications")
    assert reply.json()["applications"]["phone"]["tui"]["default-dialplan"] == "main"


def test_the_phone_application_lists_no_portal_options(page: Page, portal_factory: PortalFactory) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url)
    go(page, "Options")
    phone = page.get_by_role("region", name="phone")
    expect(phone.get_by_label("phone tui max-attempts", exact=True)).to_be_visible()
    for option in ("inactivity-warning", "max-unlock-failures", "session-lifetime", "heartbeat-interval"):
        expect(phone).not_to_contain_text(option)
        expect(page.get_by_role("region", name="portal")).to_contain_text(option)


def test_create_a_user_and_set_a_tui_pin(page: Page, browser: Browser, portal_factory: PortalFactory) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url)

    draft(page).fill("carol")
    page.get_by_label("Initial password").fill("carol-password")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("row").filter(has_text="carol")).to_contain_text("no TUI PIN")
    page.get_by_role("button", name="Set TUI PIN for carol").click()
    page.get_by_role("dialog", name="Set TUI PIN for carol").get_by_label("PIN").fill("4711")
    page.get_by_role("button", name="Set PIN").click()

    expect(page.get_by_role("row").filter(has_text="carol")).to_contain_text("TUI PIN set")
    other = browser.new_context()
    try:  # carol can sign in (fresh login, another browser)
        login(other.new_page(), portal.url, "carol", "carol-password")
    finally:
        other.close()


def _change_password(page: Page, user: str, password: str, application: str) -> None:
    """The signed-in user's own password (alice's), so with the current one."""
    go(page, "Users")
    page.get_by_role("button", name=f"Change password for {user}").click()
    dialog = page.get_by_role("dialog", name=f"Change password for {user}")
    dialog.get_by_label("Current password").fill(USERS[user])
    dialog.get_by_label("New password").fill(password)
    dialog.get_by_label("Applies to").select_option(label=application)
    dialog.get_by_role("button", name="Change password").click()
    expect(dialog).to_be_hidden()


def test_password_changed_through_this_application_is_needed_to_unlock(
    page: Page, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="3s", warning="0")
    login(page, portal.url)
    _change_password(page, "alice", "new-password-1", "This application (portal)")

    wait_locked(page)
    unlock(page, "pw")
    expect(lock_dialog(page)).to_contain_text("Invalid password")
    unlock(page, "new-password-1")

    expect(page.get_by_role("heading", name="Create a user")).to_be_visible()


def test_password_changed_for_another_application_keeps_the_old_one_for_unlock(
    page: Page, browser: Browser, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="3s", warning="0")
    login(page, portal.url)
    _change_password(page, "alice", "new-password-1", "Another application: phone")

    wait_locked(page)
    unlock(page, "new-password-1")
    expect(lock_dialog(page)).to_contain_text("Invalid password")
    unlock(page, "pw")
    expect(page.get_by_role("heading", name="Create a user")).to_be_visible()

    fresh = browser.new_context()
    try:  # a fresh login needs the new password
        other = fresh.new_page()
        other.goto(portal.url)
        other.get_by_label("Username").fill("alice")
        other.get_by_label("Password").fill("pw")
        other.get_by_role("button", name="Sign in").click()
        expect(other.get_by_text("Invalid username or password.")).to_be_visible()
        login(other, portal.url, "alice", "new-password-1")
    finally:
        fresh.close()
