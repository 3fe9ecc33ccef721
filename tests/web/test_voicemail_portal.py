"""The portal's voicemail list (HTTP level): a user sees their own mailbox (mailbox = user name),
an admin any mailbox; other users' mailboxes, bad names and unknown messages are refused."""

from __future__ import annotations

import io
import wave

from web_helpers import Browser

from tui_engine.voicemail import Voicemail
from tui_engine.web.security import COOKIE

PCM = b"\x00\x10" * 4000  # half a second


def deposit(browser: Browser, mailbox: str, caller: str, at: float) -> str:
    vm = Voicemail(browser.node.component.settings.data_dir)
    return vm.store.deposit(mailbox, PCM, caller=caller, received=at).id


async def audio(browser: Browser, path: str) -> tuple[int, bytes, str]:
    headers = {"Cookie": f"{COOKIE}={browser.cookie}"}
    async with browser.http.get(browser.node.url + path, headers=headers) as resp:
        return resp.status, await resp.read(), resp.content_type


async def test_a_user_lists_and_downloads_their_own_messages(browser: Browser) -> None:
    first = deposit(browser, "bob", "sip:201@pbx", 1000.0)
    deposit(browser, "bob", "sip:202@pbx", 2000.0)
    deposit(browser, "alice", "sip:203@pbx", 3000.0)
    await browser.login("bob")
    status, body, _ = await browser.call("GET", "/api/voicemail")
    assert status == 200
    assert (body["mailbox"], body["new"]) == ("bob", 2)
    assert [(m["from"], m["received"], m["length"], m["new"]) for m in body["messages"]] == [
        ("sip:201@pbx", 1000.0, 0.5, True), ("sip:202@pbx", 2000.0, 0.5, True),
    ]
    status, data, kind = await audio(browser, f"/api/voicemail/bob/{first}/audio")
    assert (status, kind) == (200, "audio/wav")
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnframes()) == (8000, 4000)
    status, body, _ = await browser.call("GET", "/api/voicemail")
    assert body["new"] == 2  # downloading in the portal is read-only


async def test_a_user_cannot_read_another_mailbox(browser: Browser) -> None:
    secret = deposit(browser, "alice", "sip:203@pbx", 3000.0)
    await browser.login("bob")
    status, body, _ = await browser.call("GET", "/api/voicemail?mailbox=alice")
    assert (status, body) == (403, {"error": "forbidden", "role": "operator"})
    status, _, _ = await audio(browser, f"/api/voicemail/alice/{secret}/audio")
    assert status == 403


async def test_an_admin_reads_any_mailbox_but_not_outside_the_store(browser: Browser) -> None:
    message = deposit(browser, "201", "sip:bob@pbx", 1000.0)
    await browser.login("alice")
    status, body, _ = await browser.call("GET", "/api/voicemail")
    assert (status, body) == (200, {"mailbox": "alice", "new": 0, "messages": []})
    status, body, _ = await browser.call("GET", "/api/voicemail?mailbox=201")
    assert [m["id"] for m in body["messages"]] == [message]
    status, body, _ = await browser.call("GET", "/api/voicemail?mailbox=..")
    assert (status, body["field"]) == (400, "mailbox")
    for path in ("/api/voicemail/201/..%2f..%2fportal.sqlite3/audio", "/api/voicemail/201/nope/audio"):
        status, _, _ = await audio(browser, path)
        assert status in (400, 404), path


async def test_signed_out_nothing_is_listed(browser: Browser) -> None:
    deposit(browser, "bob", "sip:201@pbx", 1000.0)
    status, body, _ = await browser.call("GET", "/api/voicemail?mailbox=bob")
    assert (status, body) == (401, {"error": "unauthenticated"})


async def test_a_user_deletes_their_own_message_with_csrf_and_it_is_audited(browser: Browser) -> None:
    mine = deposit(browser, "bob", "sip:201@pbx", 1000.0)
    theirs = deposit(browser, "alice", "sip:202@pbx", 2000.0)
    await browser.login("bob")
    status, body, _ = await browser.call("DELETE", f"/api/voicemail/bob/{mine}", csrf=False)
    assert (status, body) == (403, {"error": "csrf"})
    status, _, _ = await browser.call("DELETE", f"/api/voicemail/alice/{theirs}")
    assert status == 403  # not her mailbox
    status, body, _ = await browser.call("DELETE", f"/api/voicemail/bob/{mine}")
    assert (status, body) == (200, {"deleted": mine})
    status, _, _ = await browser.call("DELETE", f"/api/voicemail/bob/{mine}")
    assert status == 404  # already gone
    _, body, _ = await browser.call("GET", "/api/voicemail")
    assert body["messages"] == []
    vm = Voicemail(browser.node.component.settings.data_dir)
    assert [m.id for m in vm.store.messages("alice")] == [theirs]
    entries = await browser.node.component.store.list_audit(limit=20)
    assert any(e.event == "voicemail_deleted" and e.actor == "bob" for e in entries)
