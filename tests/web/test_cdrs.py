"""Call records: the store contract (SQLite and Redis alike), the formula-safe CSV, the
recorder's retention, and the portal's ``/api/cdrs`` and ``/api/export`` over real HTTP."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from web_helpers import Browser, NodeFactory

from tui_engine.web import PortalSettings
from tui_engine.web import cdrs as cdr_writer
from tui_engine.web.cdrs import CSV_COLUMNS, CallRecorder, csv_cell, csv_lines
from tui_engine.web.store.cdrs import CallRecord, CdrFilter, CdrStore, open_cdr_store

T0 = 1_800_000_000.0


def rec(n: int, **kw: object) -> CallRecord:
    base: dict[str, object] = dict(
        call_id=f"c{n}",
        started_at=T0 + n,
        answered_at=T0 + n + 0.1,
        ended_at=T0 + n + 10,
        caller=f"100{n % 3}",
        dialled="main" if n % 2 else "voicemail",
        dialplan="main" if n % 2 else "voicemail",
        menus=("welcome", "sales"),
        digits=n % 4,
        no_input=n % 3,
        end_reason="no-input" if n % 3 else "caller-hangup",
        sip_status=200,
    )
    base.update(kw)
    return CallRecord(**base)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "redis"])
async def cdrs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[CdrStore, CdrStore]]:
    """Two clients on the same records (the writer's and the portal's view)."""
    spec = request.getfixturevalue("redis_url") if request.param == "redis" else "sqlite"
    a, b = open_cdr_store(spec, tmp_path), open_cdr_store(spec, tmp_path)
    yield a, b
    await a.aclose()
    await b.aclose()


async def test_records_come_back_newest_first_filtered_and_paged(cdrs: tuple[CdrStore, CdrStore]) -> None:
    a, b = cdrs
    for n in range(12):
        await a.add(rec(n))
    page = await b.query(CdrFilter(), limit=5)
    assert page.total == 12 and [r.call_id for r in page.records] == ["c11", "c10", "c9", "c8", "c7"]
    assert page.records[0] == rec(11)  # every field survives the store
    second = await b.query(CdrFilter(), limit=5, offset=10)
    assert [r.call_id for r in second.records] == ["c1", "c0"]
    assert page.facets == {"dialplan": ["main", "voicemail"], "reason": ["caller-hangup", "no-input"]}

    only = await b.query(CdrFilter(caller="1001", reason="no-input"), limit=50)
    assert [r.call_id for r in only.records] == ["c10", "c7", "c4", "c1"] and only.total == 4
    window = await b.query(CdrFilter(since=T0 + 13, until=T0 + 16, dialplan="main"), limit=50)
    assert [r.call_id for r in window.records] == ["c5", "c3"]
    batches = [[r.call_id for r in chunk] async for chunk in b.batches(CdrFilter(dialplan="voicemail"), 4)]
    assert batches == [["c10", "c8", "c6", "c4"], ["c2", "c0"]]


async def test_a_batch_is_stored_whole_in_one_add(cdrs: tuple[CdrStore, CdrStore]) -> None:
    a, b = cdrs
    await a.add(*(rec(n) for n in range(7)))
    await a.add()  # an empty batch is nothing to do
    page = await b.query(CdrFilter(), limit=10)
    assert page.total == 7 and page.records == [rec(n) for n in reversed(range(7))]


async def test_purge_forgets_only_records_older_than_the_cut(cdrs: tuple[CdrStore, CdrStore]) -> None:
    a, b = cdrs
    for n in range(6):
        await a.add(rec(n))
    assert await b.purge(T0 + 13) == 3
    left = await a.query(CdrFilter(), limit=50)
    assert [r.call_id for r in left.records] == ["c5", "c4", "c3"]


async def test_a_caller_part_is_text_not_a_pattern(cdrs: tuple[CdrStore, CdrStore]) -> None:
    a, _ = cdrs
    await a.add(rec(1, caller="100%_x"))
    await a.add(rec(2, caller="1000"))
    assert [r.call_id for r in (await a.query(CdrFilter(caller="%_"), limit=9)).records] == ["c1"]


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_run_is_neutralised(text: str) -> None:
    assert csv_cell(text) == "'" + text
    row = next(csv.reader(io.StringIO(csv_lines([rec(1, caller=text, call_id=text)]))))
    cells = dict(zip(CSV_COLUMNS, row, strict=True))
    assert cells["caller"] == "'" + text and cells["call_id"] == "'" + text


def test_ordinary_cells_and_our_numbers_are_unchanged() -> None:
    row = next(csv.reader(io.StringIO(csv_lines([rec(7, caller="sip:alice@example.com")]))))
    cells = dict(zip(CSV_COLUMNS, row, strict=True))
    assert cells["caller"] == "sip:alice@example.com" and cells["duration"] == "10.000"
    assert cells["menus"] == "welcome > sales" and cells["sip_status"] == "200"
    assert cells["started_at"].startswith("2027-01-15T08:00:07")


async def test_the_recorder_writes_each_call_and_keeps_them_for_the_retention(tmp_path: Path) -> None:
    recorder = CallRecorder(open_cdr_store("sqlite", tmp_path), retention=100.0)
    plain = rec(1).to_json()
    recorder.record(plain)
    recorder.record({"caller": "no call id"})  # malformed: logged and dropped, nothing raised
    reader = open_cdr_store("sqlite", tmp_path)
    try:
        for _ in range(100):
            if (await reader.query(CdrFilter(), limit=5)).total:
                break
            await asyncio.sleep(0.01)
        assert (await reader.query(CdrFilter(), limit=5)).records == [rec(1)]
        assert await recorder.purge_once(T0 + 1 + 10 + 99) == 0
        assert await recorder.purge_once(T0 + 1 + 10 + 101) == 1
        recorder.set_retention(0)
        await reader.add(rec(2))
        assert await recorder.purge_once(T0 + 10**9) == 0  # 0 keeps them for ever
    finally:
        await reader.aclose()
        await recorder.stop()


class _CountingStore:
    """A store that counts its writes and fails the first one."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def add(self, *records: CallRecord) -> None:
        self.batches.append([r.call_id for r in records])
        await asyncio.sleep(0)
        if len(self.batches) == 1:
            raise OSError("disk full")

    async def aclose(self) -> None:
        return None


async def test_records_of_a_burst_are_written_in_batches_and_a_failed_batch_loses_only_itself() -> None:
    store = _CountingStore()
    recorder = CallRecorder(store, retention=0)  # type: ignore[arg-type]
    recorder.record(rec(0).to_json())  # the first write starts at once ...
    await asyncio.sleep(0)
    for n in range(1, 6):  # ... and the calls that end while it runs wait for the next one
        recorder.record(rec(n).to_json())
    await recorder.stop()  # stop writes what is left
    assert store.batches == [["c0"], ["c1", "c2", "c3", "c4", "c5"]]


async def test_calls_ending_just_after_a_batch_share_the_next_one_and_stop_ends_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cdr_writer, "BATCH_LINGER", 3600.0, raising=False)  # only stop() can end the wait
    store = _CountingStore()
    recorder = CallRecorder(store, retention=0)  # type: ignore[arg-type]
    recorder.record(rec(0).to_json())  # written at once: no one waits for the linger ...
    for _ in range(5):
        await asyncio.sleep(0)
    assert store.batches == [["c0"]]
    for n in range(1, 4):  # ... and the calls that end after it wait for one another
        recorder.record(rec(n).to_json())
        for _ in range(5):
            await asyncio.sleep(0)
    assert store.batches == [["c0"]]
    await asyncio.wait_for(recorder.stop(), 5)  # the linger ends: what is left is written
    assert store.batches == [["c0"], ["c1", "c2", "c3"]]


async def _until_stored(store: CdrStore, n: int) -> None:
    async with asyncio.timeout(5):
        for _ in range(1000):  # polls the store itself: no event to wait for
            if (await store.query(CdrFilter(), limit=1)).total >= n:
                return
            await asyncio.sleep(0.005)


async def test_a_writer_cancelled_while_it_lingers_still_writes_what_queued_meanwhile(
    cdrs: tuple[CdrStore, CdrStore], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A task cancelled at shutdown, without ``stop()``: the calls that ended in the linger."""
    monkeypatch.setattr(cdr_writer, "BATCH_LINGER", 3600.0, raising=False)
    a, b = cdrs
    recorder = CallRecorder(a, retention=0)
    recorder.record(rec(0).to_json())
    await _until_stored(b, 1)  # written at once; now the writer lingers ...
    for n in range(1, 4):
        recorder.record(rec(n).to_json())  # ... and these wait for it
    writer = recorder._writer
    assert writer is not None and not writer.done()
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    page = await b.query(CdrFilter(), limit=10)
    assert sorted(r.call_id for r in page.records) == ["c0", "c1", "c2", "c3"]


async def test_a_writer_cancelled_before_its_first_step_leaves_its_records_to_another(
    cdrs: tuple[CdrStore, CdrStore],
) -> None:
    a, b = cdrs
    recorder = CallRecorder(a, retention=0)
    recorder.record(rec(0).to_json())
    first = recorder._writer
    assert first is not None
    first.cancel()  # before it ran at all: its body, and its ``finally``, never run
    await asyncio.gather(first, return_exceptions=True)
    recorder.record(rec(1).to_json())
    await _until_stored(b, 2)
    page = await b.query(CdrFilter(), limit=10)
    assert sorted(r.call_id for r in page.records) == ["c0", "c1"]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_records_queued_when_the_loop_ends_without_stop_reach_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loop: str,
) -> None:
    """``asyncio.run`` (or the engine's uvloop runner) ending with the writer in its linger: the
    runner cancels every task left; the records queued meanwhile are written, not dropped."""
    monkeypatch.setattr(cdr_writer, "BATCH_LINGER", 3600.0, raising=False)
    uvloop = pytest.importorskip("uvloop") if loop == "uvloop" else None

    async def calls_end_then_the_program_returns() -> None:
        recorder = CallRecorder(open_cdr_store("sqlite", tmp_path), retention=0)
        recorder.record(rec(0).to_json())
        await _until_stored(recorder.store, 1)
        for n in range(1, 4):
            recorder.record(rec(n).to_json())

    async def stored() -> list[str]:
        store = open_cdr_store("sqlite", tmp_path)
        try:
            return sorted(r.call_id for r in (await store.query(CdrFilter(), limit=10)).records)
        finally:
            await store.aclose()

    with asyncio.Runner(loop_factory=None if uvloop is None else uvloop.new_event_loop) as runner:
        runner.run(calls_end_then_the_program_returns())
    assert asyncio.run(stored()) == ["c0", "c1", "c2", "c3"]


def test_a_loop_ending_mid_write_still_writes_the_records_queued_behind_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The runner cancels every task, the write in flight too: that batch may or may not be in
    the store (logged lost, ``in_flight``, when it is not known); the ones queued behind it are
    written, not given up with it."""
    monkeypatch.setattr(cdr_writer, "BATCH_LINGER", 3600.0, raising=False)

    async def a_write_in_flight_then_the_program_returns() -> None:
        recorder = CallRecorder(open_cdr_store("sqlite", tmp_path), retention=0)
        recorder.record(rec(0).to_json())
        for _ in range(100):
            if recorder._writing is not None:
                break
            await asyncio.sleep(0)
        assert recorder._writing is not None and not recorder._writing.done()
        for n in range(1, 4):
            recorder.record(rec(n).to_json())

    async def stored() -> set[str]:
        store = open_cdr_store("sqlite", tmp_path)
        try:
            return {r.call_id for r in (await store.query(CdrFilter(), limit=10)).records}
        finally:
            await store.aclose()

    with capture_logs() as logs:
        asyncio.run(a_write_in_flight_then_the_program_returns())
    found = asyncio.run(stored())
    lost = [e for e in logs if e["event"] == "cdr.lost"]
    assert {"c1", "c2", "c3"} <= found, (found, logs)
    assert [(e["records"], e["in_flight"]) for e in lost] in ([], [(1, 1)]), logs
    assert "c0" in found or lost, (found, logs)  # never silently missing


class _StalledStore:
    """A store whose writes never finish (a Redis that stopped answering) until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def add(self, *records: CallRecord) -> None:
        await self.release.wait()

    async def aclose(self) -> None:
        return None


async def test_records_a_stalled_store_never_takes_are_logged_lost_once_with_their_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cdr_writer, "FLUSH_GRACE", 0.05, raising=False)
    store = _StalledStore()
    recorder = CallRecorder(store, retention=0)  # type: ignore[arg-type]
    recorder.record(rec(0).to_json())  # in flight for ever ...
    await asyncio.sleep(0)
    for n in range(1, 3):
        recorder.record(rec(n).to_json())  # ... and these behind it
    with capture_logs() as logs, pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):  # the engine's STOP_GRACE, run out
            await recorder.stop()
    store.release.set()
    lost = [e for e in logs if e["event"] == "cdr.lost"]
    assert len(lost) == 1 and (lost[0]["records"], lost[0]["in_flight"]) == (3, 1)
    assert lost[0]["call_ids"] == ["c1", "c2"]


# -- over HTTP ---------------------------------------------------------------------------------------
async def test_api_cdrs_filters_pages_and_refuses_bad_values(browser: Browser) -> None:
    store = browser.node.component.cdrs
    for n in range(7):
        await store.add(rec(n))
    await browser.login()
    status, body, _ = await browser.call("GET", "/api/cdrs?limit=3&offset=3")
    assert (
        status == 200 and body["total"] == 7 and [r["call_id"] for r in body["records"]] == ["c3", "c2", "c1"]
    )
    first = body["records"][0]
    assert first["menus"] == ["welcome", "sales"] and first["duration"] == 10.0 and first["sip_status"] == 200
    status, body, _ = await browser.call("GET", "/api/cdrs?reason=caller-hangup&since=2027-01-15T08:00:13Z")
    assert status == 200 and [r["call_id"] for r in body["records"]] == ["c6", "c3"]
    for query, field in (("since=yesterday", "since"), ("limit=0", "limit"), ("offset=x", "offset")):
        status, body, _ = await browser.call("GET", f"/api/cdrs?{query}")
        assert (status, body["error"], body["field"]) == (400, "invalid-request", field)


async def test_export_streams_every_matching_record_formula_safe(browser: Browser) -> None:
    store = browser.node.component.cdrs
    for n in range(2500):  # more than one batch
        await store.add(rec(n, caller="=cmd|' /C calc'!A0" if n == 7 else f"10{n}"))
    await browser.login()
    status, text, resp = await browser.call("POST", "/api/export", {"dialplan": "main"})
    assert status == 200 and resp.content_type == "text/csv"
    assert 'filename="call-records-' in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1250 and all(r["dialplan"] == "main" for r in rows)
    assert rows[0]["call_id"] == "c2499"
    assert [r["caller"] for r in rows if r["call_id"] == "c7"] == ["'=cmd|' /C calc'!A0"]


class HeldStore:
    """The real SQLite store, with the export held after its first batch until released."""

    def __init__(self, inner: CdrStore) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.holding = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def batches(self, f: CdrFilter, size: int) -> AsyncIterator[list[CallRecord]]:
        async for chunk in self.inner.batches(f, size):
            yield chunk
            self.holding.set()
            await self.release.wait()


async def test_a_running_export_holds_the_lock_off(
    make_node: NodeFactory, settings: PortalSettings, http: object, tmp_path: Path
) -> None:
    held = HeldStore(open_cdr_store("sqlite", settings.data_dir))
    node = await make_node(settings, cdrs=held)
    await held.inner.add(rec(1))
    browser = Browser(http, node)  # type: ignore[arg-type]
    await browser.login()
    export = asyncio.create_task(browser.call("POST", "/api/export", {}))
    await asyncio.wait_for(held.holding.wait(), 10)
    for _ in range(3):  # well past the 0.5 s timeout while the export runs
        await asyncio.sleep(0.4)
        assert await browser.state() == "active"
    held.release.set()
    status, text, _ = await export
    assert status == 200 and text.count("\n") == 2
    await browser.wait_state("locked")  # idle after the task: the lock comes as usual
    await held.inner.aclose()


async def test_export_batches_split_records_that_ended_at_the_same_time(
    cdrs: tuple[CdrStore, CdrStore],
) -> None:
    a, b = cdrs
    for n in range(5):
        await a.add(rec(n, ended_at=T0))
    got = [r.call_id async for chunk in b.batches(CdrFilter(), 2) for r in chunk]
    assert sorted(got) == [f"c{n}" for n in range(5)]
