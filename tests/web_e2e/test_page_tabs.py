"""Several tabs, one session: activity anywhere counts everywhere; closing closes every tab."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .conftest import PortalFactory
from .helpers import (
    draft,
    keep_moving,
    lock_count,
    lock_dialog,
    login,
    server_session,
    two_locked_tabs,
    view,
    wait_locked,
)

pytestmark = pytest.mark.e2e


def test_activity_in_tab_b_keeps_tab_a_unlocked(
    page: Page, context: BrowserContext, portal_factory: PortalFactory
) -> None:
    # 5 s: tab B must open and load before the session locks (1.5 s after the sign-in on a loaded
    # machine here; with 2 s the lock could come first, then B never saw the console).
    portal = portal_factory(inactivity_timeout="5s", warning="0")
    login(page, portal.url)
    tab_b = context.new_page()
    tab_b.goto(portal.url)
    expect(tab_b.get_by_role("heading", name="Live calls")).to_be_visible()

    keep_moving(tab_b, 7.0)  # only tab B sees input; tab A's last input is 7 s (and more) old

    assert lock_count(page) == 0
    assert view(page) == "active"
    expect(page.get_by_role("heading", name="Live calls")).to_be_visible()
    assert server_session(page, portal.url)["state"] == "active"


def test_cancel_and_confirm_closes_the_session_in_every_tab(
    page: Page, context: BrowserContext, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="2s", warning="0")
    tab_b = two_locked_tabs(page, context, portal.url)

    lock_dialog(page).get_by_role("button", name="Cancel").click()
    confirm = page.get_by_role("dialog", name="Close this session?")
    expect(confirm).to_be_visible()
    expect(lock_dialog(page)).to_be_hidden()
    confirm.get_by_role("button", name="Close").click()

    for tab in (page, tab_b):
        expect(tab.get_by_role("heading", name="Session closed")).to_be_visible()
        expect(lock_dialog(tab)).to_have_count(0)
    assert server_session(tab_b, portal.url)["state"] in ("closed", "none")


def test_back_from_the_confirmation_shows_the_lock_dialog(page: Page, portal_factory: PortalFactory) -> None:
    portal = portal_factory(inactivity_timeout="2s", warning="0")
    login(page, portal.url)
    wait_locked(page)

    lock_dialog(page).get_by_role("button", name="Cancel").click()
    page.get_by_role("dialog", name="Close this session?").get_by_role("button", name="Back").click()

    expect(lock_dialog(page)).to_be_visible()
    assert server_session(page, portal.url)["state"] == "locked"


def test_unlock_in_one_tab_unlocks_the_other(
    page: Page, context: BrowserContext, portal_factory: PortalFactory
) -> None:
    # 5 s: tab B opens, loads and takes the typing before the lock (up to 1.8 s after the sign-in
    # on a loaded machine here: too close to the 3 s this test had).
    portal = portal_factory(inactivity_timeout="5s", warning="0")
    login(page, portal.url)
    tab_b = context.new_page()
    tab_b.goto(portal.url)
    draft(tab_b).fill("typed-in-tab-b")
    wait_locked(page)
    wait_locked(tab_b)

    lock_dialog(page).get_by_label("Password").fill("pw")
    lock_dialog(page).get_by_role("button", name="OK").click()

    expect(tab_b.get_by_role("textbox", name="Username")).to_have_value("typed-in-tab-b")
    expect(lock_dialog(tab_b)).to_have_count(0)
