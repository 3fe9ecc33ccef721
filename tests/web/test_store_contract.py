"""The store's compare-and-set contract, identical for SQLite and Redis: the lock is written
once, stale activity cannot revive a session, rotation moves the row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tui_engine.web.store import AuditEntry, SessionRecord, Store, UserRecord, open_store

T0 = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "redis"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    """Two independent store clients on the same data (two processes' view)."""
    spec = request.getfixturevalue("redis_url") if request.param == "redis" else "sqlite"
    a, b = open_store(spec, tmp_path), open_store(spec, tmp_path)
    yield a, b
    await a.aclose()
    await b.aclose()


def record(h: str = "h1") -> SessionRecord:
    return SessionRecord(
        id_hash=h, username="alice", app="portal", verifier="v", csrf="c", created_at=T0, anchor=T0
    )


async def test_only_one_of_many_concurrent_lockers_wins(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_session(record())
    results = await asyncio.gather(*(s.lock_if_idle("h1", T0, T0 + 1) for s in (a, b) * 5))
    assert sorted(results) == [False] * 9 + [True]
    got = await b.get_session("h1")
    assert got is not None and got.locked and got.locked_at == T0 + 1


async def test_the_lock_is_refused_when_the_anchor_moved(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_session(record())
    assert await b.touch("h1", T0 + 5, T0)  # activity seen by node B
    assert not await a.lock_if_idle("h1", T0, T0 + 600)  # A decided on the stale anchor
    assert await a.touch("h1", T0 + 3, T0)  # an older input reported late: the anchor stays
    got = await a.get_session("h1")
    assert got is not None and (got.anchor, got.locked) == (T0 + 5, False)
    assert await a.lock_if_idle("h1", T0 + 5, T0 + 605)


async def test_audit_events_are_kept_newest_first_and_filtered(stores: tuple[Store, Store]) -> None:
    a, b = stores
    ids = [await (a, b)[i % 2].append_audit(
        AuditEntry(at=T0 + i, event="login" if i % 2 else "lock", user=f"u{i % 3}", details={"n": i})
    ) for i in range(6)]
    assert ids == sorted(ids) and len(set(ids)) == 6  # one sequence for both clients
    got = await b.list_audit(limit=3)
    assert [e.details["n"] for e in got] == [5, 4, 3] and got[0].id == ids[5] and got[0].at == T0 + 5
    older = await a.list_audit(limit=10, before=got[-1].id)
    assert [e.details["n"] for e in older] == [2, 1, 0]
    assert [e.details["n"] for e in await a.list_audit(limit=10, event="login")] == [5, 3, 1]
    assert [e.details["n"] for e in await a.list_audit(limit=10, user="u0")] == [3, 0]


async def test_login_failures_are_shared_and_blocks_never_shorten(stores: tuple[Store, Store]) -> None:
    a, b = stores
    assert await a.login_failed("alice", T0, 900.0) == 1
    assert await b.login_failed("alice", T0 + 1, 900.0) == 2
    await a.block_login("alice", T0 + 60)
    await b.block_login("alice", T0 + 30)
    assert await b.login_blocked_until("alice") == T0 + 60
    await b.login_succeeded("alice")
    assert await a.login_blocked_until("alice") is None
    assert await a.login_failed("alice", T0 + 2, 900.0) == 1


async def test_roles_are_stored_and_changed(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_user(UserRecord(username="op", password_hash="x", password_changed_at=T0, role="operator"))
    got = await b.get_user("op")
    assert got is not None and got.role == "operator"
    assert await b.set_role("op", "admin") and not await b.set_role("nobody", "admin")
    got = await a.get_user("op")
    assert got is not None and got.role == "admin"


async def test_activity_cannot_revive_a_locked_session_and_rotation_moves_it(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    await a.create_session(record())
    assert await a.lock_if_idle("h1", T0, T0 + 1)
    assert not await b.touch("h1", T0 + 2, T0)
    assert await a.add_failure("h1") == 1
    assert await b.add_failure("h1") == 2
    assert await b.unlock_and_rotate("h1", "h2", T0 + 3)
    assert not await a.unlock_and_rotate("h1", "h3", T0 + 3)  # the old ID is gone
    assert await a.get_session("h1") is None
    moved = await a.get_session("h2")
    assert moved is not None and (moved.locked, moved.failures, moved.anchor) == (False, 0, T0 + 3)
    assert [s.id_hash for s in await b.open_sessions()] == ["h2"]
    assert await a.close_session("h2", "cancel") and not await b.close_session("h2", "cancel")
    assert await a.open_sessions() == []


async def test_sqlite_users_from_before_roles_become_admins(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "portal.sqlite3"
    db = sqlite3.connect(path)  # the schema of the previous release, one user in it
    db.executescript(
        "CREATE TABLE users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL,"
        " password_changed_at REAL NOT NULL, pin_hash TEXT, created_at REAL NOT NULL);"
        "INSERT INTO users VALUES ('old-admin', 'h', 1.0, NULL, 1.0);"
    )
    db.commit()
    db.close()
    store = open_store(f"sqlite:///{path}", tmp_path)
    old = await store.get_user("old-admin")
    assert old is not None and old.role == "admin"
    await store.create_user(UserRecord(username="new", password_hash="h", password_changed_at=T0))
    new = await store.get_user("new")
    assert new is not None and new.role == "operator"
    await store.aclose()


async def test_redis_users_from_before_roles_become_admins(redis_url: str, tmp_path: Path) -> None:
    import redis.asyncio as aioredis

    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await raw.hset("tui:u:old-admin", mapping={  # a user hash as the previous release wrote it
        "username": "old-admin", "password_hash": "h", "password_changed_at": "1.0", "pin_hash": "",
        "created_at": "1.0",
    })
    await raw.sadd("tui:users", "old-admin")
    store = open_store(redis_url, tmp_path)
    assert [u.role for u in await store.list_users()] == ["admin"]
    assert await raw.hget("tui:u:old-admin", "role") == "admin"  # written back, not only read so
    await raw.aclose()
    await store.aclose()
