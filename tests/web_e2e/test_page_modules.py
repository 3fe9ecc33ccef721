"""The page's pure pieces, run in the browser that ships them (no Node.js needed): how often
activity is reported for a given heartbeat and timeout."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from .conftest import PortalFactory

pytestmark = pytest.mark.e2e

GAPS = """async () => {
  const m = await import('/static/activity.js');
  return [[15000, 3000], [15000, 600000], [15000, 0], [100, 200], [600000, 0]]
    .map(([hb, t]) => m.reportGapMs(hb, t));
}"""

THROTTLE = """async () => {
  const m = await import('/static/activity.js');
  const t = new m.ActivityThrottle();
  t.gapMs = 1000;
  const out = [t.due(0)];          // nothing noted: nothing due
  t.note(); out.push(t.due(0));    // first input after quiet: due at once
  t.sent(0); t.note();
  out.push(t.due(999), t.due(1000)); // throttled until the gap has passed
  t.sent(1000); out.push(t.due(5000)); // sent and nothing new: not due
  return out;
}"""


def test_report_gap_follows_heartbeat_and_timeout(page: Page, portal_factory: PortalFactory) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    page.goto(portal.url)
    gaps: list[Any] = page.evaluate(GAPS)
    # a quarter of a short timeout; half the heartbeat otherwise; clamped to 250 ms … 30 s
    assert gaps == [750, 7500, 7500, 250, 30000]


def test_throttle_reports_first_input_at_once_then_at_most_once_per_gap(
    page: Page, portal_factory: PortalFactory
) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    page.goto(portal.url)
    assert page.evaluate(THROTTLE) == [False, True, False, True, False]
