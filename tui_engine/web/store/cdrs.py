"""Call records (CDRs): one row per finished call, in the same SQLite file or Redis as the
portal's sessions, with their own connection (the session store's contract stays as it is).

SQLite keeps them in a ``cdrs`` table indexed by end time; Redis in one sorted set scored by end
time whose members are the records' JSON (a record never changes once written, so the member
is the whole record and retention is one ``ZREMRANGEBYSCORE``). Filters on Redis are applied
while reading the time window (documented in docs/web-api.md); SQLite filters in SQL.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

_KEY = "tui:cdrs"


@dataclass(frozen=True, kw_only=True, slots=True)
class CallRecord:
    """One finished call. Times are epoch seconds; ``answered_at`` is None for a call that was
    never answered (rejected, or the caller hung up first); ``sip_status`` is the final status
    the engine sent to the INVITE (200 when answered)."""

    call_id: str
    started_at: float
    answered_at: float | None
    ended_at: float
    caller: str
    dialled: str
    dialplan: str
    menus: tuple[str, ...] = ()
    digits: int = 0
    no_input: int = 0
    end_reason: str = ""
    sip_status: int | None = None

    @property
    def duration(self) -> float:
        return max(0.0, self.ended_at - self.started_at)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> CallRecord:
        """From the telephony component's plain record (or a stored JSON row); unknown keys are
        ignored, so a record written by a newer engine still reads."""
        answered = m.get("answered_at")
        status = m.get("sip_status")
        return cls(
            call_id=str(m["call_id"]), started_at=float(m["started_at"]),
            answered_at=None if answered is None else float(answered), ended_at=float(m["ended_at"]),
            caller=str(m.get("caller", "")), dialled=str(m.get("dialled", "")),
            dialplan=str(m.get("dialplan", "")), menus=tuple(str(x) for x in m.get("menus", ())),
            digits=int(m.get("digits", 0)), no_input=int(m.get("no_input", 0)),
            end_reason=str(m.get("end_reason", "")), sip_status=None if status is None else int(status),
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["menus"] = list(self.menus)
        out["duration"] = round(self.duration, 3)
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class CdrFilter:
    """``caller`` and ``dialled`` match a part (case-insensitive); ``dialplan`` and ``reason``
    match exactly; ``since`` <= ended_at < ``until``."""

    caller: str = ""
    dialled: str = ""
    dialplan: str = ""
    reason: str = ""
    since: float | None = None
    until: float | None = None

    def matches(self, r: CallRecord) -> bool:
        return (
            (not self.caller or self.caller.lower() in r.caller.lower())
            and (not self.dialled or self.dialled.lower() in r.dialled.lower())
            and (not self.dialplan or self.dialplan == r.dialplan)
            and (not self.reason or self.reason == r.end_reason)
            and (self.since is None or r.ended_at >= self.since)
            and (self.until is None or r.ended_at < self.until)
        )


@dataclass(frozen=True, slots=True)
class CdrPage:
    records: list[CallRecord]
    total: int
    facets: dict[str, list[str]] = field(default_factory=dict)


class CdrStore(Protocol):
    async def add(self, *records: CallRecord) -> None:
        """Store ``records`` (one round trip / transaction for all of them)."""
        ...

    async def query(self, f: CdrFilter, *, limit: int, offset: int = 0) -> CdrPage:
        """Newest first; ``total`` counts every match; ``facets``: the dialplans and end
        reasons present (for the history's filter menus)."""
        ...

    def batches(self, f: CdrFilter, size: int) -> AsyncIterator[list[CallRecord]]:
        """Every match, newest first, ``size`` at a time (the export)."""
        ...

    async def purge(self, ended_before: float) -> int:
        """Forget records that ended before ``ended_before``; how many went."""
        ...

    async def aclose(self) -> None: ...


def open_cdr_store(spec: str, data_dir: Path) -> CdrStore:
    """The same ``store`` option as the portal's (``"sqlite"``, ``"sqlite:///PATH"``, a Redis URL)."""
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisCdrStore(spec)
    if spec == "sqlite":
        return SqliteCdrStore(data_dir / "portal.sqlite3")
    if spec.startswith("sqlite:///"):
        return SqliteCdrStore(Path(spec.removeprefix("sqlite:///")))
    raise ValueError(f"store = {spec!r}: expected 'sqlite', 'sqlite:///PATH' or 'redis://HOST:PORT/DB'")


# -- SQLite ---------------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS cdrs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    answered_at REAL,
    ended_at REAL NOT NULL,
    caller TEXT NOT NULL,
    dialled TEXT NOT NULL,
    dialplan TEXT NOT NULL,
    menus TEXT NOT NULL,
    digits INTEGER NOT NULL,
    no_input INTEGER NOT NULL,
    end_reason TEXT NOT NULL,
    sip_status INTEGER
);
CREATE INDEX IF NOT EXISTS cdrs_ended ON cdrs (ended_at);
"""
_COLS = (
    "call_id, started_at, answered_at, ended_at, caller, dialled, dialplan, menus, digits, no_input,"
    " end_reason, sip_status"
)


def _row(row: tuple[Any, ...]) -> CallRecord:
    call_id, started, answered, ended, caller, dialled, plan, menus, digits, no_input, why, status = row
    return CallRecord(
        call_id=call_id, started_at=started, answered_at=answered, ended_at=ended, caller=caller,
        dialled=dialled, dialplan=plan, menus=tuple(json.loads(menus)), digits=digits,
        no_input=no_input, end_reason=why, sip_status=status,
    )


def _where(f: CdrFilter) -> tuple[str, list[object]]:
    terms: list[str] = []
    args: list[object] = []
    for column, part in (("caller", f.caller), ("dialled", f.dialled)):
        if part:
            # instr on lower(): a part of the text, with no LIKE wildcards to escape
            terms.append(f"instr(lower({column}), ?) > 0")
            args.append(part.lower())
    for column, exact in (("dialplan", f.dialplan), ("end_reason", f.reason)):
        if exact:
            terms.append(f"{column} = ?")
            args.append(exact)
    if f.since is not None:
        terms.append("ended_at >= ?")
        args.append(f.since)
    if f.until is not None:
        terms.append("ended_at < ?")
        args.append(f.until)
    return (" WHERE " + " AND ".join(terms)) if terms else "", args


def _fetch(sql: str, params: list[object]) -> Callable[[sqlite3.Connection], list[Any]]:
    return lambda db: db.execute(sql, params).fetchall()


class SqliteCdrStore:
    """Its own connection to the portal's SQLite file (WAL: readers never block the writer).
    Stdlib ``sqlite3`` in worker threads, for the reason given in ``store/sqlite.py``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return fn(self._db)

        return await asyncio.to_thread(locked)

    async def add(self, *records: CallRecord) -> None:
        rows = [
            (r.call_id, r.started_at, r.answered_at, r.ended_at, r.caller, r.dialled, r.dialplan,
             json.dumps(list(r.menus)), r.digits, r.no_input, r.end_reason, r.sip_status)
            for r in records
        ]
        sql = f"INSERT INTO cdrs ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"

        def insert(db: sqlite3.Connection) -> None:
            if len(rows) == 1:
                db.execute(sql, rows[0])
                return
            with db:  # one transaction: one commit (and WAL sync) for the batch
                db.execute("BEGIN")
                db.executemany(sql, rows)

        if rows:
            await self._run(insert)

    async def _select(self, f: CdrFilter, limit: int, offset: int) -> list[CallRecord]:
        where, args = _where(f)
        sql = f"SELECT {_COLS} FROM cdrs{where} ORDER BY ended_at DESC, id DESC LIMIT ? OFFSET ?"
        rows = await self._run(lambda db: db.execute(sql, [*args, limit, offset]).fetchall())
        return [_row(r) for r in rows]

    async def query(self, f: CdrFilter, *, limit: int, offset: int = 0) -> CdrPage:
        where, args = _where(f)

        def counts(db: sqlite3.Connection) -> tuple[int, list[str], list[str]]:
            total = db.execute(f"SELECT COUNT(*) FROM cdrs{where}", args).fetchone()[0]
            plans = [r[0] for r in db.execute("SELECT DISTINCT dialplan FROM cdrs ORDER BY 1")]
            reasons = [r[0] for r in db.execute("SELECT DISTINCT end_reason FROM cdrs ORDER BY 1")]
            return int(total), plans, reasons

        total, plans, reasons = await self._run(counts)
        records = await self._select(f, limit, offset)
        return CdrPage(records, total, {"dialplan": plans, "reason": reasons})

    async def batches(self, f: CdrFilter, size: int) -> AsyncIterator[list[CallRecord]]:
        """Keyset paging on (ended_at, id): each batch is one index range, however deep."""
        where, args = _where(f)
        joiner = " AND " if where else " WHERE "
        after: tuple[float, int] | None = None
        while True:
            if after is None:
                sql = f"SELECT {_COLS}, id FROM cdrs{where} ORDER BY ended_at DESC, id DESC LIMIT ?"
                params = [*args, size]
            else:
                sql = (
                    # a row value: SQLite walks the index from there (an OR of two terms it would scan)
                    f"SELECT {_COLS}, id FROM cdrs{where}{joiner}(ended_at, id) < (?, ?)"
                    " ORDER BY ended_at DESC, id DESC LIMIT ?"
                )
                params = [*args, after[0], after[1], size]
            rows = await self._run(_fetch(sql, params))
            if not rows:
                return
            yield [_row(r[:-1]) for r in rows]
            after = (rows[-1][3], rows[-1][-1])

    async def purge(self, ended_before: float) -> int:
        sql = "DELETE FROM cdrs WHERE ended_at < ?"
        return await self._run(lambda db: db.execute(sql, (ended_before,)).rowcount)

    async def aclose(self) -> None:
        await self._run(lambda db: db.close())


# -- Redis ----------------------------------------------------------------------------------------
class RedisCdrStore:
    """One sorted set ``tui:cdrs`` (score = end time, member = the record's JSON)."""

    #: members read per round trip while filtering a window
    SCAN = 500

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._r: Any = aioredis.Redis.from_url(url, decode_responses=True)

    async def add(self, *records: CallRecord) -> None:
        members = {
            json.dumps(r.to_json(), separators=(",", ":"), sort_keys=True): r.ended_at for r in records
        }
        if members:
            await self._r.zadd(_KEY, members)

    async def _matching(self, f: CdrFilter) -> AsyncIterator[CallRecord]:
        top = "+inf" if f.until is None else f"({f.until!r}"
        bottom = "-inf" if f.since is None else repr(f.since)
        start = 0
        while True:
            members: list[str] = await self._r.zrevrangebyscore(_KEY, top, bottom, start=start, num=self.SCAN)
            for m in members:
                r = CallRecord.from_mapping(json.loads(m))
                if f.matches(r):
                    yield r
            if len(members) < self.SCAN:
                return
            start += len(members)

    async def query(self, f: CdrFilter, *, limit: int, offset: int = 0) -> CdrPage:
        records: list[CallRecord] = []
        total = 0
        plans: set[str] = set()
        reasons: set[str] = set()
        async for r in self._matching(CdrFilter()):
            plans.add(r.dialplan)
            reasons.add(r.end_reason)
            if f.matches(r):
                if offset <= total < offset + limit:
                    records.append(r)
                total += 1
        return CdrPage(records, total, {"dialplan": sorted(plans), "reason": sorted(reasons)})

    async def batches(self, f: CdrFilter, size: int) -> AsyncIterator[list[CallRecord]]:
        chunk: list[CallRecord] = []
        async for r in self._matching(f):
            chunk.append(r)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def purge(self, ended_before: float) -> int:
        return int(await self._r.zremrangebyscore(_KEY, "-inf", f"({ended_before!r}"))

    async def aclose(self) -> None:
        await self._r.aclose()
