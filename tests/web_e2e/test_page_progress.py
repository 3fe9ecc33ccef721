"""A long task is not inactivity: an export longer than the timeout keeps the session open."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .conftest import PortalFactory
from .helpers import lock_count, login, server_session, view, wait_locked

pytestmark = pytest.mark.e2e


def test_a_running_export_prevents_the_lock(page: Page, portal_factory: PortalFactory) -> None:
    portal = portal_factory(inactivity_timeout="2s", warning="0")
    login(page, portal.url)
    page.get_by_label("Duration (s)").fill("5")

    page.get_by_role("button", name="Export", exact=True).click()

    expect(page.get_by_text("Exporting…")).to_be_visible()
    expect(page.get_by_text("Export finished")).to_be_visible(timeout=20000)
    assert lock_count(page) == 0, "the page locked while the export was running"
    assert view(page) == "active"
    assert server_session(page, portal.url)["state"] == "active"
    expect(page.get_by_role("link", name="Download the export (CSV)")).to_be_visible()
    # Idle after the task: the lock comes as usual.
    wait_locked(page)
