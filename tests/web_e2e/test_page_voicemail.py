"""The Voicemail page: a signed-in user sees their own mailbox's messages (new first) with a
player, the message's audio downloads with the session's cookie, and Delete removes it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tui_engine.voicemail import Voicemail

from .conftest import PortalFactory
from .helpers import go, login

pytestmark = pytest.mark.e2e

PCM = b"\x00\x10" * 8000  # one second


def test_a_user_sees_and_plays_their_own_messages(page: Page, portal_factory: PortalFactory) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    assert portal.data_dir is not None
    store = Voicemail(portal.data_dir).store
    store.deposit("bob", PCM, caller="sip:201@pbx")
    store.deposit("alice", PCM, caller="sip:secret@pbx")  # alice's: never on bob's page
    login(page, portal.url, "bob")
    go(page, "Voicemail")
    expect(page.get_by_role("heading", name="Voicemail", level=1)).to_be_visible()
    rows = page.locator(".voicemail-body tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("sip:201@pbx")
    expect(rows.first).to_contain_text("new")
    expect(page.get_by_role("status").filter(has_text="1 new, 1 in all")).to_be_visible()
    expect(page.locator(".voicemail-body")).not_to_contain_text("secret")
    src = page.locator(".voicemail-body audio").get_attribute("src")
    assert src is not None
    response = page.request.get(portal.url.rstrip("/") + src)
    assert response.status == 200 and response.headers["content-type"] == "audio/wav"
    assert response.body()[:4] == b"RIFF"
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".voicemail-body")).to_contain_text("No messages.")
    expect(page.get_by_role("status").filter(has_text="0 new, 0 in all")).to_be_visible()
    assert [m.caller for m in store.messages("alice")] == ["sip:secret@pbx"]
