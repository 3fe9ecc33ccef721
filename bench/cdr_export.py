"""Call records on the embedded store: how fast they are written, paged and exported.

Seeds a throw-away SQLite file (the portal's ``cdrs`` table, through ``SqliteCdrStore``), then
measures, in this process:

* **write** - ``CallRecorder``'s path: one ``store.add`` per finished call (a worker-thread hop
  and one INSERT each), records per second;
* **page** - ``query`` as ``GET /api/cdrs`` runs it (count, facets, one page of 25): newest
  page, a caller-part filter, a deep page;
* **export** - ``batches`` (keyset paging, 1000 a batch) and ``csv_lines`` (formula-safe CSV),
  records per second, each part alone and together: what ``POST /api/export`` streams.

    .venv/bin/python -m bench --only cdr_export
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tui_engine.web.cdrs import csv_lines
from tui_engine.web.store.cdrs import CallRecord, CdrFilter, SqliteCdrStore


def _metric(value: float, unit: str, note: str = "") -> dict[str, Any]:
    return {"value": round(value, 3), "unit": unit, **({"note": note} if note else {})}


def _seed(path: Path, n: int) -> None:
    t0 = time.time() - 30 * 86400
    rows = [
        (f"{i:012x}@10.0.0.5", t0 + i, t0 + i + 0.05, t0 + i + 31, f"+4930{i % 100000:07d}", "main", "main",
         json.dumps(["welcome", "sales"]), i % 7, i % 3, "no-input" if i % 3 else "completed", 200)
        for i in range(n)
    ]
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO cdrs (call_id, started_at, answered_at, ended_at, caller, dialled, dialplan, menus,"
            " digits, no_input, end_reason, sip_status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows,
        )


async def _measure(directory: Path, n: int, writes: int) -> dict[str, Any]:
    path = directory / "portal.sqlite3"
    store = SqliteCdrStore(path)
    record = CallRecord(call_id="w", started_at=0.0, answered_at=0.0, ended_at=0.0, caller="+4930",
                        dialled="main", dialplan="main", menus=("welcome",), end_reason="completed",
                        sip_status=200)
    t = time.perf_counter()
    for _ in range(writes):
        await store.add(record)
    write_s = time.perf_counter() - t
    _seed(path, n)

    pages: dict[str, float] = {}
    for label, f, offset in (("newest page", CdrFilter(), 0), ("caller part", CdrFilter(caller="4930000"), 0),
                             ("deep page", CdrFilter(), n // 2)):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            await store.query(f, limit=25, offset=offset)
            times.append(time.perf_counter() - t)
        pages[label] = statistics.median(times)

    t = time.perf_counter()
    chunks = [chunk async for chunk in store.batches(CdrFilter(), 1000)]
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    size = sum(len(csv_lines(chunk)) for chunk in chunks)
    csv_s = time.perf_counter() - t
    await store.aclose()
    total = sum(len(c) for c in chunks)
    return {
        "name": "SQLite (embedded store)",
        "params": {"records": total, "writes": writes, "batch": 1000},
        "metrics": {
            "write, one record per call": _metric(writes / write_s, "records/s"),
            **{f"page of 25: {k}": _metric(v * 1000, "ms", "median of 5") for k, v in pages.items()},
            "export: read (keyset batches)": _metric(total / read_s, "records/s"),
            "export: CSV (formula-safe)": _metric(total / csv_s, "records/s"),
            "export: read + CSV": _metric(total / (read_s + csv_s), "records/s"),
            "CSV size": _metric(size / total, "bytes/record"),
        },
    }


def run(quick: bool) -> dict[str, Any]:
    n, writes = (5_000, 200) if quick else (200_000, 2_000)
    with tempfile.TemporaryDirectory() as tmp:
        section = asyncio.run(_measure(Path(tmp), n, writes))
    m = section["metrics"]
    return {
        "title": "Call records: write, page, export",
        "summary": (
            f"{m['write, one record per call']['value']:.0f} records/s written; export "
            f"{m['export: read + CSV']['value']:.0f} records/s over {section['params']['records']} records"
        ),
        "sections": [section],
    }


if __name__ == "__main__":
    print(json.dumps(run(quick=False), indent=2))
