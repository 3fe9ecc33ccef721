"""Persistence for users and web sessions: SQLite (embedded, default) or Redis (several nodes)."""

from __future__ import annotations

from pathlib import Path

from tui_engine.web.store.base import AUDIT_MAX_EVENTS, Store, UserExists
from tui_engine.web.store.records import ADMIN, OPERATOR, ROLES, AuditEntry, SessionRecord, UserRecord


def open_store(spec: str, data_dir: Path) -> Store:
    """``"sqlite"`` (``DATA_DIR/portal.sqlite3``), ``"sqlite:///path"``, or ``"redis://..."``."""
    if spec.startswith(("redis://", "rediss://", "unix://")):
        from tui_engine.web.store.redis import RedisStore

        return RedisStore(spec)
    if spec == "sqlite":
        path = data_dir / "portal.sqlite3"
    elif spec.startswith("sqlite:///"):
        path = Path(spec.removeprefix("sqlite:///"))
    else:
        raise ValueError(f"store = {spec!r}: expected 'sqlite', 'sqlite:///PATH' or 'redis://HOST:PORT/DB'")
    from tui_engine.web.store.sqlite import SqliteStore

    return SqliteStore(path)


__all__ = [
    "ADMIN", "AUDIT_MAX_EVENTS", "OPERATOR", "ROLES", "AuditEntry", "SessionRecord", "Store", "UserExists",
    "UserRecord", "open_store",
]
