"""Steps the browser tests share: sign in, wait for the lock, read the page's and server's state."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import BrowserContext, Locator, Page, expect

#: the users every portal under test has (name → password).
USERS = {"alice": "pw", "bob": "pw2"}
#: their roles (issue 13): alice administers, bob watches calls.
ROLES = {"alice": "admin", "bob": "operator"}

# -- helpers the tests share ------------------------------------------------------------------------

LOCK_WAIT_MS = 15000  # generous: the lock comes from the server's timer plus one status poll


def login(page: Page, url: str, user: str = "alice", password: str | None = None) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(USERS[user] if password is None else password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Live calls")).to_be_visible()


def go(page: Page, name: str) -> None:
    """Open a console page from the side navigation (Calls, History, Options, Users, Audit)."""
    page.get_by_role("navigation", name="Console").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("link", name=name, exact=True)).to_have_attribute("aria-current", "page")


def draft(page: Page) -> Locator:
    """A real form's unsaved input: the name field of the Users page's "Create a user" form."""
    go(page, "Users")
    return page.get_by_role("textbox", name="Username")


def lock_dialog(page: Page) -> Locator:
    return page.get_by_role("dialog", name="Session locked")


def wait_locked(page: Page) -> None:
    expect(lock_dialog(page)).to_be_visible(timeout=LOCK_WAIT_MS)


def two_locked_tabs(page: Page, context: BrowserContext, url: str) -> Page:
    """Sign in on ``page``, open a second tab of the same session, wait until both show the
    lock; returns the second tab."""
    login(page, url)
    tab_b = context.new_page()
    tab_b.goto(url)
    wait_locked(page)
    wait_locked(tab_b)
    return tab_b


def view(page: Page) -> str:
    return str(page.evaluate("window.tuiEngine.view()"))


def lock_count(page: Page) -> int:
    return int(page.evaluate("window.tuiEngine.lockCount()"))


def warning_count(page: Page) -> int:
    return int(page.evaluate("window.tuiEngine.warningCount()"))


def server_session(page: Page, url: str) -> dict[str, Any]:
    """GET /api/session with the page's cookie (a status poll: never counts as activity)."""
    reply = page.request.get(url + "api/session")
    assert reply.status == 200
    body: dict[str, Any] = reply.json()
    return body


def keep_moving(page: Page, seconds: float) -> None:
    """Move the mouse back and forth for ``seconds`` (real input events, as a user would)."""
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x = (x + 37) % 500
        page.mouse.move(100 + x, 200 + (x % 90))
        page.wait_for_timeout(100)


def unlock(page: Page, password: str) -> None:
    dialog = lock_dialog(page)
    dialog.get_by_label("Password").fill(password)
    dialog.get_by_role("button", name="OK").click()
