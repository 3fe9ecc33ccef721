"""Call history and export through the page, with real calls into a real engine (SIPp):
every finished call is one record; the history lists, filters and pages them; the CSV export is
formula-safe and is a long task that holds the lock off while it runs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Download, Page, expect

from tui_engine.testing import free_port, free_port_block
from tui_engine.web.store.cdrs import open_cdr_store

from .conftest import Portal, PortalFactory
from .helpers import go, lock_count, login, server_session, view, wait_locked

pytestmark = pytest.mark.e2e

SCENARIOS = Path(__file__).resolve().parents[2] / "sipp_scenarios"
FORMULA = "=2+5"  # a legal SIP user part (RFC 3261 user-unreserved) that a spreadsheet would run


def call(portal: Portal, cwd: Path, caller: str, hold_ms: int = 1200) -> subprocess.Popen[bytes]:
    media, _ = free_port_block(4)
    return subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "uac_caller_id.xml"), "-s", "100", f"127.0.0.1:{portal.sip_port}",
         "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(media), "-m", "1", "-nostdin",
         "-set", "hold_ms", str(hold_ms), "-set", "caller", caller, "-timeout", "30s"],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def records(page: Page, portal: Portal, query: str = "") -> dict[str, Any]:
    reply = page.request.get(portal.url + "api/cdrs" + query)
    assert reply.status == 200
    body: dict[str, Any] = reply.json()
    return body


def test_every_finished_call_is_one_record_listed_and_filtered(
    page: Page, portal_factory: PortalFactory, tmp_path: Path
) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url)
    callers = [call(portal, tmp_path, FORMULA), call(portal, tmp_path, "alice-desk")]
    assert [c.wait(timeout=40) for c in callers] == [0, 0]

    for _ in range(100):  # the record is written right after the BYE, in the background
        if records(page, portal)["total"] == 2:
            break
        time.sleep(0.1)
    body = records(page, portal)
    assert body["total"] == 2
    for r in body["records"]:
        what = (r["dialled"], r["dialplan"], r["end_reason"], r["sip_status"])
        assert what == ("100", "main", "caller-hangup", 200)
        assert r["answered_at"] is not None and r["started_at"] <= r["answered_at"] <= r["ended_at"]
        assert r["menus"] and r["menus"][0] == "main" and r["digits"] == 0
    assert {r["caller"] for r in body["records"]} == {FORMULA, "alice-desk"}

    go(page, "History")
    table = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="End reason"))
    expect(table.get_by_role("row").filter(has_text="alice-desk")).to_contain_text("caller-hangup")
    expect(table.get_by_role("row").filter(has_text=FORMULA)).to_contain_text("200")
    expect(page.get_by_text("1–2 of 2 records")).to_be_visible()

    page.get_by_label("Caller").fill("ALICE")  # a part, case-insensitive
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("1–1 of 1 records")).to_be_visible()
    expect(table.get_by_role("row").filter(has_text=FORMULA)).to_have_count(0)
    page.get_by_label("End reason").select_option("caller-hangup")  # offered from the records
    page.get_by_label("Caller").fill("")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("1–2 of 2 records")).to_be_visible()


def _seed(portal: Portal, n: int) -> None:
    """``n`` older records straight into the engine's store (the same SQLite file, its schema)."""
    assert portal.data_dir is not None

    async def schema() -> None:
        await open_cdr_store("sqlite", portal.data_dir).aclose()  # type: ignore[arg-type]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's loop owns this thread
        pool.submit(asyncio.run, schema()).result()
    t0 = time.time() - 86400
    rows = [
        (f"seed-{i}", t0 + i, t0 + i, t0 + i + 30, "=HYPERLINK(1)" if i == 3 else f"+4930{i:07d}", "200",
         "main", json.dumps(["main"]), 1, 0, "completed", 200)
        for i in range(n)
    ]
    with sqlite3.connect(portal.data_dir / "portal.sqlite3") as db:
        db.executemany(
            "INSERT INTO cdrs (call_id, started_at, answered_at, ended_at, caller, dialled, dialplan, menus,"
            " digits, no_input, end_reason, sip_status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows,
        )


def test_the_history_pages_through_the_records(page: Page, portal_factory: PortalFactory) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    _seed(portal, 30)
    login(page, portal.url)
    go(page, "History")
    expect(page.get_by_text("1–25 of 30 records")).to_be_visible()
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("26–30 of 30 records")).to_be_visible()
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    expect(page.get_by_role("row").filter(has_text="+49300000000")).to_be_visible()  # the oldest


def _download(page: Page) -> str:
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the export (CSV)").click()
    download: Download = info.value
    path = download.path()
    assert path is not None
    return Path(path).read_text(encoding="utf-8")


def test_the_export_is_formula_safe_csv_of_the_real_calls(
    page: Page, portal_factory: PortalFactory, tmp_path: Path
) -> None:
    portal = portal_factory(inactivity_timeout="10m", warning="0")
    login(page, portal.url)
    assert call(portal, tmp_path, FORMULA).wait(timeout=40) == 0
    for _ in range(100):
        if records(page, portal)["total"] == 1:
            break
        time.sleep(0.1)
    go(page, "History")
    page.get_by_role("button", name="Export CSV").click()
    expect(page.get_by_text("Export finished: 1 records.")).to_be_visible(timeout=20000)

    rows = list(csv.DictReader(io.StringIO(_download(page))))
    assert len(rows) == 1
    assert rows[0]["caller"] == "'" + FORMULA  # text in a spreadsheet, not =7
    what = (rows[0]["dialled"], rows[0]["end_reason"], rows[0]["sip_status"])
    assert what == ("100", "caller-hangup", "200")


def test_a_running_export_holds_the_lock_off(page: Page, portal_factory: PortalFactory) -> None:
    """The export of a large history takes longer than the timeout: no lock while it runs.

    The page downloads at most 2 MB/s (Chromium's network emulation), so the export of 150 000
    records (23 MB, far more than the sockets buffer) runs for 11 s and more however fast the
    machine: it no longer needs a slow machine to last (a fast CI machine exported 120 000 records
    in 2.49 s at full speed). 4 s: the engine renews the export's lease every second, so its
    event loop may be 3 s late before the session locks under a running export (with 2 s, 1.5 s
    late was too much on a loaded machine: the lock came in the middle of the export); and the
    clicks before the export, the last input, are followed by a browser step that can take a
    second on a loaded CI box."""
    timeout = 4.0
    n = 150_000
    portal = portal_factory(inactivity_timeout=f"{timeout:g}s", warning="0")
    _seed(portal, n)
    login(page, portal.url)
    go(page, "History")
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": 2_000_000, "uploadThroughput": -1,
    })
    started = time.monotonic()
    page.get_by_role("button", name="Export CSV").click()
    expect(page.get_by_text("Exporting…")).to_be_visible()
    states = set()
    while page.get_by_text("Exporting…").is_visible():
        states.add(server_session(page, portal.url)["state"])
        page.wait_for_timeout(100)
    took = time.monotonic() - started
    expect(page.get_by_text(f"Export finished: {n} records.")).to_be_visible(timeout=120_000)
    # The click on Export was the last input: without the progress, the lock was due `timeout` later.
    assert took > timeout + 0.5, f"the export took {took:.1f} s: too short to show anything"
    print(f"export of {n} records through the page: {took:.1f} s")
    assert states == {"active"} and lock_count(page) == 0 and view(page) == "active"
    exported = _download(page)
    assert exported.count("\n") == n + 1
    assert "'=HYPERLINK(1)" in exported
    wait_locked(page)  # idle after the task: the lock comes as usual
