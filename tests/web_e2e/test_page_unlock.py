"""Unlocking: only the original user's password; the page comes back exactly as it was; too
many wrong passwords close the session. (Another user's password gets the wrong-password answer:
test_page_security.py.)"""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .conftest import PortalFactory
from .helpers import draft, lock_dialog, login, server_session, unlock, wait_locked

pytestmark = pytest.mark.e2e


def _session_cookie(context: BrowserContext) -> str:
    values = [c["value"] for c in context.cookies() if c.get("httpOnly")]
    assert len(values) == 1, "exactly one HttpOnly session cookie"
    return values[0]


def test_owner_unlocks_and_unsaved_input_and_open_dialog_come_back(
    page: Page, context: BrowserContext, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="2s", warning="0")
    login(page, portal.url)
    draft(page).fill("draft-carol")
    page.get_by_role("button", name="Change password for bob").click()
    dialog = page.get_by_role("dialog", name="Change password for bob")
    dialog.get_by_label("New password").fill("half-typed")
    cookie_before = _session_cookie(context)

    wait_locked(page)
    assert "draft-carol" not in page.content()
    unlock(page, "pw")

    expect(page.get_by_role("heading", name="Create a user")).to_be_visible()  # the same page
    expect(lock_dialog(page)).to_have_count(0)
    expect(page.get_by_role("textbox", name="Username")).to_have_value("draft-carol")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("New password")).to_have_value("half-typed")
    assert _session_cookie(context) != cookie_before, "the session ID is rotated at unlock"
    assert server_session(page, portal.url)["state"] == "active"
    assert page.request.get(portal.url + "api/calls").status == 200


def test_five_wrong_passwords_close_the_session(page: Page, portal_factory: PortalFactory) -> None:
    portal = portal_factory(inactivity_timeout="2s", warning="0", max_unlock_failures="5")
    login(page, portal.url)
    wait_locked(page)

    for n in range(1, 5):
        unlock(page, f"wrong-{n}")
        expect(lock_dialog(page)).to_contain_text(f"Invalid password. {5 - n} attempt")
    unlock(page, "wrong-5")

    expect(page.get_by_role("heading", name="Session closed")).to_be_visible()
    expect(lock_dialog(page)).to_have_count(0)
    assert server_session(page, portal.url)["state"] in ("closed", "none")
    assert page.request.get(portal.url + "api/calls").status == 401
