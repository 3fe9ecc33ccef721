"""The embedded store: stdlib ``sqlite3`` in WAL mode, each call run in a worker thread.

Why stdlib rather than aiosqlite: every operation here is one short statement, and
``asyncio.to_thread`` around a lock-guarded connection gives the same non-blocking loop
(the loop also carries RTP) without another dependency. Conditional ``UPDATE ... WHERE``
statements are atomic in SQLite, which is what the lock compare-and-set needs; two
processes on one file (an engine and ``tui-engine users``) serialise through SQLite's locks.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tui_engine.web.store.base import AUDIT_MAX_EVENTS, UserExists
from tui_engine.web.store.records import AuditEntry, SessionRecord, UserRecord

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    password_changed_at REAL NOT NULL,
    pin_hash TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    app TEXT NOT NULL,
    verifier TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    anchor REAL NOT NULL,
    locked INTEGER NOT NULL DEFAULT 0,
    locked_at REAL,
    failures INTEGER NOT NULL DEFAULT 0,
    progress INTEGER NOT NULL DEFAULT 0,
    closed INTEGER NOT NULL DEFAULT 0,
    close_reason TEXT
);
CREATE INDEX IF NOT EXISTS sessions_open ON sessions (closed);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    user TEXT,
    actor TEXT,
    session TEXT,
    remote TEXT,
    details TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (
    name TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    last_at REAL NOT NULL,
    forget_at REAL NOT NULL,
    blocked_until REAL NOT NULL DEFAULT 0
);
"""

# Columns added after the first release, with the value existing rows get: users from before
# roles were the portal's administrators (the first-run admin among them).
_MIGRATIONS = (("users", "role", "TEXT NOT NULL DEFAULT 'admin'"),)

_USER_COLS = "username, password_hash, password_changed_at, pin_hash, created_at, role"
# (a ``progress`` column of older files stays, unused: requests are no longer progress)
_SESSION_COLS = (
    "id_hash, username, app, verifier, csrf, created_at, anchor, locked, locked_at,"
    " failures, closed, close_reason"
)
_AUDIT_COLS = "id, at, event, user, actor, session, remote, details"


def _session(row: tuple[Any, ...]) -> SessionRecord:
    (id_hash, user, app, verifier, csrf, created, anchor, locked, locked_at, fails, closed, why) = row
    return SessionRecord(
        id_hash=id_hash, username=user, app=app, verifier=verifier, csrf=csrf, created_at=created,
        anchor=anchor, locked=bool(locked), locked_at=locked_at, failures=fails,
        closed=bool(closed), close_reason=why,
    )


def _user(row: tuple[Any, ...]) -> UserRecord:
    name, pw, changed, pin, created, role = row
    return UserRecord(
        username=name, password_hash=pw, password_changed_at=changed, pin_hash=pin, created_at=created,
        role=role,
    )


def _audit(row: tuple[Any, ...]) -> AuditEntry:
    id_, at, event, user, actor, session, remote, details = row
    return AuditEntry(
        id=id_, at=at, event=event, user=user, actor=actor, session=session, remote=remote,
        details=json.loads(details),
    )


def _migrate(db: sqlite3.Connection) -> None:
    for table, column, decl in _MIGRATIONS:
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


class SqliteStore:
    """One connection per process, guarded by a lock, used from worker threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        _migrate(self._db)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return fn(self._db)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._call, fn)

    async def _exec(self, sql: str, *params: object) -> int:
        return await self._run(lambda db: db.execute(sql, params).rowcount)

    # -- users ------------------------------------------------------------------------
    async def get_user(self, username: str) -> UserRecord | None:
        sql = f"SELECT {_USER_COLS} FROM users WHERE username=?"
        row = await self._run(lambda db: db.execute(sql, (username,)).fetchone())
        return None if row is None else _user(row)

    async def list_users(self) -> list[UserRecord]:
        sql = f"SELECT {_USER_COLS} FROM users ORDER BY username"
        rows = await self._run(lambda db: db.execute(sql).fetchall())
        return [_user(r) for r in rows]

    async def create_user(self, user: UserRecord) -> None:
        sql = f"INSERT OR IGNORE INTO users ({_USER_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
        n = await self._exec(
            sql, user.username, user.password_hash, user.password_changed_at, user.pin_hash, user.created_at,
            user.role,
        )
        if n == 0:
            raise UserExists(user.username)

    async def set_password(self, username: str, password_hash: str, changed_at: float) -> bool:
        sql = "UPDATE users SET password_hash=?, password_changed_at=? WHERE username=?"
        return await self._exec(sql, password_hash, changed_at, username) == 1

    async def set_pin(self, username: str, pin_hash: str) -> bool:
        return await self._exec("UPDATE users SET pin_hash=? WHERE username=?", pin_hash, username) == 1

    async def set_role(self, username: str, role: str) -> bool:
        return await self._exec("UPDATE users SET role=? WHERE username=?", role, username) == 1

    # -- sessions ---------------------------------------------------------------------
    async def create_session(self, session: SessionRecord) -> None:
        s = session
        await self._exec(
            f"INSERT INTO sessions ({_SESSION_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            s.id_hash, s.username, s.app, s.verifier, s.csrf, s.created_at, s.anchor, int(s.locked),
            s.locked_at, s.failures, int(s.closed), s.close_reason,
        )

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        sql = f"SELECT {_SESSION_COLS} FROM sessions WHERE id_hash=?"
        row = await self._run(lambda db: db.execute(sql, (id_hash,)).fetchone())
        return None if row is None else _session(row)

    async def open_sessions(self) -> list[SessionRecord]:
        sql = f"SELECT {_SESSION_COLS} FROM sessions WHERE closed=0"
        rows = await self._run(lambda db: db.execute(sql).fetchall())
        return [_session(r) for r in rows]

    async def touch(self, id_hash: str, at: float, expected_anchor: float) -> bool:
        sql = (
            "UPDATE sessions SET anchor=MAX(anchor, ?) "
            "WHERE id_hash=? AND locked=0 AND closed=0 AND anchor>=?"
        )
        return await self._exec(sql, at, id_hash, expected_anchor) == 1

    async def lock_if_idle(self, id_hash: str, expected_anchor: float, now: float) -> bool:
        sql = (
            "UPDATE sessions SET locked=1, locked_at=? "
            "WHERE id_hash=? AND locked=0 AND closed=0 AND anchor=?"
        )
        return await self._exec(sql, now, id_hash, expected_anchor) == 1

    async def unlock_and_rotate(self, id_hash: str, new_id_hash: str, now: float) -> bool:
        sql = (
            "UPDATE sessions SET id_hash=?, locked=0, locked_at=NULL, failures=0, anchor=? "
            "WHERE id_hash=? AND locked=1 AND closed=0"
        )
        return await self._exec(sql, new_id_hash, now, id_hash) == 1

    async def add_failure(self, id_hash: str) -> int:
        def run(db: sqlite3.Connection) -> int:
            row = db.execute(
                "UPDATE sessions SET failures=failures+1 WHERE id_hash=? RETURNING failures", (id_hash,)
            ).fetchone()
            return 0 if row is None else int(row[0])

        return await self._run(run)

    async def close_session(self, id_hash: str, reason: str) -> bool:
        sql = "UPDATE sessions SET closed=1, close_reason=? WHERE id_hash=? AND closed=0"
        return await self._exec(sql, reason, id_hash) == 1

    async def set_verifier(self, username: str, app: str, verifier: str) -> int:
        sql = "UPDATE sessions SET verifier=? WHERE username=? AND app=? AND closed=0"
        return await self._exec(sql, verifier, username, app)

    async def purge_closed(self, created_before: float) -> None:
        await self._exec("DELETE FROM sessions WHERE closed=1 AND created_at<?", created_before)

    # -- audit ------------------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> int:
        e = entry

        def run(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "INSERT INTO audit (at, event, user, actor, session, remote, details) VALUES (?,?,?,?,?,?,?)",
                (e.at, e.event, e.user, e.actor, e.session, e.remote, json.dumps(e.details)),
            )
            new_id = int(cur.lastrowid or 0)
            db.execute("DELETE FROM audit WHERE id <= ?", (new_id - AUDIT_MAX_EVENTS,))
            return new_id

        return await self._run(run)

    async def list_audit(
        self, *, limit: int, before: int | None = None, event: str | None = None, user: str | None = None
    ) -> list[AuditEntry]:
        sql = (
            f"SELECT {_AUDIT_COLS} FROM audit WHERE (? IS NULL OR id < ?) AND (? IS NULL OR event = ?)"
            " AND (? IS NULL OR user = ?) ORDER BY id DESC LIMIT ?"
        )
        params = (before, before, event, event, user, user, limit)
        rows = await self._run(lambda db: db.execute(sql, params).fetchall())
        return [_audit(r) for r in rows]

    # -- login throttling ---------------------------------------------------------------
    async def login_failed(self, name: str, now: float, forget_after: float) -> int:
        def run(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM login_failures WHERE forget_at <= ?", (now,))
            row = db.execute(
                "INSERT INTO login_failures (name, count, last_at, forget_at) VALUES (?, 1, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET count=count+1, last_at=excluded.last_at,"
                " forget_at=excluded.forget_at RETURNING count",
                (name, now, now + forget_after),
            ).fetchone()
            return int(row[0])

        return await self._run(run)

    async def block_login(self, name: str, until: float) -> None:
        sql = (
            "UPDATE login_failures SET blocked_until=MAX(blocked_until, ?), forget_at=MAX(forget_at, ?)"
            " WHERE name=?"
        )
        await self._exec(sql, until, until, name)

    async def login_blocked_until(self, name: str) -> float | None:
        sql = "SELECT blocked_until FROM login_failures WHERE name=?"
        row = await self._run(lambda db: db.execute(sql, (name,)).fetchone())
        return None if row is None or not row[0] else float(row[0])

    async def login_succeeded(self, name: str) -> None:
        await self._exec("DELETE FROM login_failures WHERE name=?", name)

    async def aclose(self) -> None:
        await self._run(lambda db: db.close())
