"""Security events: logged as ``audit.<name>`` and kept in the store (``GET /api/audit``).

Session IDs appear only as the log prefix of their hash. The names are fixed and greppable
(docs/web-api.md, "Audit log"): ``login``, ``login_refused``, ``login_throttled``, ``lock``,
``unlock_accepted``, ``unlock_refused``, ``close``, ``password_change``,
``password_change_refused``, ``pin_change``, ``user_created``, ``option_change``.
"""

from __future__ import annotations

import time

import structlog

from tui_engine.web.security import log_id
from tui_engine.web.store import AuditEntry, Store


def event(name: str, *, session: str | None = None, **fields: object) -> None:
    """Log ``audit.<name>`` only; ``session`` is the stored hash and is shortened further."""
    if session is not None:
        fields["session"] = log_id(session)
    # Looked up per event (audit events are rare) rather than cached at import, so a logging
    # configuration made later, or structlog.testing.capture_logs, always sees them.
    structlog.get_logger("tui_engine.audit").info(f"audit.{name}", **fields)


async def record(
    store: Store, name: str, *, user: str | None = None, actor: str | None = None,
    session: str | None = None, remote: str | None = None, at: float | None = None, **details: object,
) -> None:
    """Log the event and keep it in the store. A store failure is logged, never raised: the
    security action itself (a lock, a refusal) has happened and must not be undone by it."""
    event(name, session=session, user=user, actor=actor, remote=remote, **details)
    entry = AuditEntry(
        at=time.time() if at is None else at, event=name, user=user, actor=actor,
        session=None if session is None else log_id(session), remote=remote, details=details,
    )
    try:
        await store.append_audit(entry)
    except Exception:
        structlog.get_logger("tui_engine.audit").exception("audit.store_failed", event_name=name)


def entry_json(e: AuditEntry) -> dict[str, object]:
    """One event as ``GET /api/audit`` shows it (times in epoch ms)."""
    return {
        "id": e.id, "at": round(e.at * 1000), "event": e.event, "user": e.user, "actor": e.actor,
        "session": e.session, "remote": e.remote, "details": e.details,
    }
