"""The store's compare-and-set contract, identical for SQLite and Redis: the lock is written
once, stale activity cannot revive a session, rotation moves the row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tui_engine.web.store import SessionRecord, Store, open_store

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


async def test_the_lock_is_refused_when_the_anchor_moved_or_a_request_runs(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    await a.create_session(record())
    assert await b.touch("h1", T0 + 5, T0)  # activity seen by node B
    assert not await a.lock_if_idle("h1", T0, T0 + 600)  # A decided on the stale anchor
    await a.progress_started("h1")
    assert not await a.lock_if_idle("h1", T0 + 5, T0 + 700)
    await b.progress_finished("h1", T0 + 700)
    got = await a.get_session("h1")
    assert got is not None and (got.progress, got.anchor, got.locked) == (0, T0 + 700, False)


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
