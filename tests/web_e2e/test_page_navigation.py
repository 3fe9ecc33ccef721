"""The console's frame: one page at a time from the side navigation, the tab title showing the
page or the lock (with the user), a layout that fits a 390 px phone, the first-run prompt to
replace the generated admin password, and the Audit page only where the engine serves it."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tui_engine.web.first_run import PASSWORD_FILE, ensure_first_user
from tui_engine.web.store import open_store

from .conftest import PortalFactory, start_portal
from .helpers import go, lock_dialog, login, unlock, wait_locked

pytestmark = pytest.mark.e2e

PAGES = {
    "Calls": "Calls", "History": "Call history", "Voicemail": "Voicemail", "Options": "Options",
    "Users": "Users",
}


def test_the_navigation_shows_one_page_at_a_time(page: Page, portal_factory: PortalFactory) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url)
    for link, heading in PAGES.items():
        go(page, link)
        expect(page.get_by_role("heading", name=heading, level=1, exact=True)).to_be_visible()
        for other, other_heading in PAGES.items():
            if other != link:
                expect(page.get_by_role("heading", name=other_heading, level=1, exact=True)).to_be_hidden()
        expect(page).to_have_title(f"{heading} · tui-engine console")
        assert page.url.endswith(f"#/{link.lower()}")
    page.go_back()  # the browser's history follows the pages
    expect(page.get_by_role("heading", name="Options", level=1)).to_be_visible()
    page.goto(portal.url + "#/history")  # a link to a page opens it
    expect(page.get_by_role("heading", name="Call history", level=1)).to_be_visible()


def test_the_lock_names_the_user_in_the_dialog_and_the_tab_title(
    page: Page, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="2s", warning="0")
    login(page, portal.url, "bob")
    go(page, "Options")
    wait_locked(page)
    expect(lock_dialog(page)).to_contain_text("Signed in as bob")
    expect(page).to_have_title("\N{LOCK} Locked (bob) · tui-engine console")
    unlock(page, "pw2")
    expect(page).to_have_title("Options · tui-engine console")


@pytest.mark.parametrize("width", [390, 1280])
def test_every_page_fits_the_screen_without_sideways_scrolling(
    browser: Browser, portal_factory: PortalFactory, width: int
) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    ctx = browser.new_context(viewport={"width": width, "height": 844})
    try:
        page = ctx.new_page()
        login(page, portal.url)
        for link in PAGES:
            go(page, link)
            page.wait_for_timeout(200)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{link} is {overflow} px wider than a {width} px screen"
            nav = page.get_by_role("navigation", name="Console").bounding_box()
            assert nav is not None and nav["x"] >= 0 and nav["x"] + nav["width"] <= width
    finally:
        ctx.close()


def _first_run(data_dir: Path) -> str:
    async def run() -> None:
        store = open_store("sqlite", data_dir)
        try:
            assert await ensure_first_user(store, data_dir, app_name="portal")
        finally:
            await store.aclose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's loop owns this thread
        pool.submit(asyncio.run, run()).result()
    return (data_dir / PASSWORD_FILE).read_text().strip()


def test_the_generated_admin_password_is_to_be_changed_at_first_sign_in(page: Page, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    generated = _first_run(data_dir)
    portal = start_portal(data_dir, inactivity_timeout="10m", warning="0")
    try:
        login(page, portal.url, "alice")
        expect(page.get_by_role("region", name="Change the generated admin password")).to_be_hidden()
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_label("Username")).to_be_visible()

        login(page, portal.url, "admin", generated)
        prompt = page.get_by_role("region", name="Change the generated admin password")
        expect(prompt).to_be_visible()
        prompt.get_by_label("New password").fill("a-much-better-admin-password")
        prompt.get_by_label("Generated password").fill(generated)
        prompt.get_by_role("button", name="Change password").click()
        expect(prompt).to_be_hidden()

        page.reload()  # the server knows it is changed: no prompt on the next visit either
        expect(page.get_by_role("heading", name="Live calls")).to_be_visible()
        expect(prompt).to_be_hidden()
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_label("Username")).to_be_visible()  # signed out: only then load the page again
        login(page, portal.url, "admin", "a-much-better-admin-password")
    finally:
        portal.stop()


def test_the_audit_page_is_offered_only_where_the_engine_serves_it(
    page: Page, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url)
    served = page.request.get(portal.url + "api/audit?limit=1").status == 200
    link = page.get_by_role("navigation", name="Console").get_by_role("link", name="Audit")
    if not served:
        expect(link).to_be_hidden()
        page.goto(portal.url + "#/audit")
        expect(page.get_by_role("heading", name="Audit log")).to_be_hidden()
        return
    go(page, "Audit")
    table = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Event"))
    expect(table.get_by_role("row").filter(has_text="alice").first).to_be_visible()
