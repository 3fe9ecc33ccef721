"""The page's clock is not trusted: deadlines are absolute server times corrected by the
measured offset, and when the page's clock jumps (sleep, throttled background tab) it asks the
server before deciding anything. Playwright's clock emulation moves only the page's clock."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page

from .conftest import PortalFactory
from .helpers import keep_moving, lock_count, login, server_session, view, wait_locked, warning_count

pytestmark = pytest.mark.e2e


#: A page clock off by a constant: Date.now() (all the page's timing uses it) plus a skew.
#: Playwright's clock emulation is not used here: under load its clock falls behind real time
#: (a drift no real clock has), which is a different test from a constant skew.
SKEW_SCRIPT = "(() => { const real = Date.now; Date.now = () => real() + %d; })();"


@pytest.mark.parametrize("skew_seconds", [3600, -3600], ids=["page-clock-ahead", "page-clock-behind"])
def test_a_skewed_page_clock_changes_nothing(
    page: Page, portal_factory: PortalFactory, skew_seconds: int
) -> None:
    portal = portal_factory(inactivity_timeout="4s", warning="2s")
    page.add_init_script(SKEW_SCRIPT % (skew_seconds * 1000))
    login(page, portal.url)
    assert abs(page.evaluate("Date.now()") / 1000 - time.time() - skew_seconds) < 60

    keep_moving(page, 5.0)  # an hour-ahead clock must not stop the heartbeat ("deadline passed")
    assert lock_count(page) == 0
    assert server_session(page, portal.url)["state"] == "active"

    # Idle: the warning comes before the lock (an hour-behind clock must not skip it).
    assert warning_count(page) == 0
    wait_locked(page)
    assert warning_count(page) == 1


def test_waking_from_sleep_asks_the_server_and_does_not_lock_wrongly(
    page: Page, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="3s", warning="0")
    login(page, portal.url)

    page.clock.fast_forward("01:00:00")  # the page's clock jumps an hour; the server's did not
    page.mouse.move(300, 300)  # the user is back
    page.wait_for_timeout(1000)

    assert lock_count(page) == 0
    assert view(page) == "active"
    assert server_session(page, portal.url)["state"] == "active"


def test_waking_after_the_deadline_shows_the_lock(page: Page, portal_factory: PortalFactory) -> None:
    portal = portal_factory(inactivity_timeout="2s", warning="0")
    page.clock.install()
    login(page, portal.url)
    # The page sleeps: none of its timers run (pause_at must lie ahead of the page's clock).
    page.clock.pause_at(float(page.evaluate("Date.now()")) / 1000 + 1.0)

    while server_session(page, portal.url)["state"] != "locked":  # the server locks on its own
        page.wait_for_timeout(100)
    page.clock.fast_forward(5000)
    page.clock.resume()

    wait_locked(page)
    assert "inactivity-timeout" not in page.content()
