"""Re-login on a locked session (docs/web-security.md, "Re-login").

Order of checks: the session's own verifier (the password hash it logged in with) →
another user's current password (refused as "access not permitted", not counted) → a
failure, counted atomically in the store; the ``max-unlock-failures``-th closes the session.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tui_engine.web import audit
from tui_engine.web.decide import SessionState
from tui_engine.web.passwords import verify_secret_async
from tui_engine.web.security import id_hash, new_session_id
from tui_engine.web.sessions import Current, SessionManager
from tui_engine.web.store import SessionRecord


class UnlockOutcome(enum.Enum):
    #: the owner's password (the verifier the session holds): unlocked, ID rotated.
    ACCEPTED = "accepted"
    #: a correct password of another user: refused, still locked.
    OTHER_USER = "access-not-permitted"
    #: a wrong password: refused, one failure counted.
    INVALID = "invalid-password"
    #: closed (failure limit reached now or before, lifetime over, or no such session).
    CLOSED = "closed"
    #: the session was not locked (or another tab unlocked it first): nothing to do.
    NOT_LOCKED = "not-locked"


@dataclass(frozen=True, kw_only=True, slots=True)
class UnlockResult:
    outcome: UnlockOutcome
    new_session_id: str | None = None
    failures: int = 0


async def unlock(m: SessionManager, cur: Current, password: str) -> UnlockResult:
    record, h = cur.record, cur.id_hash
    if record is None or h is None or cur.verdict.state is SessionState.CLOSED:
        return UnlockResult(outcome=UnlockOutcome.CLOSED)
    if cur.verdict.state is not SessionState.LOCKED:
        return UnlockResult(outcome=UnlockOutcome.NOT_LOCKED)
    if await verify_secret_async(record.verifier, password):
        return await _accept(m, h, record)
    if await _belongs_to_other_user(m, record.username, password):
        audit.event("unlock_refused", session=h, user=record.username, reason="access-not-permitted")
        return UnlockResult(outcome=UnlockOutcome.OTHER_USER, failures=record.failures)
    return await _refuse(m, h, record)


async def _accept(m: SessionManager, h: str, record: SessionRecord) -> UnlockResult:
    new_id = new_session_id()
    new_h = id_hash(new_id)
    if not await m.store.unlock_and_rotate(h, new_h, m.now()):
        # Raced with another tab's unlock or with a close: report what the store says now.
        again = await m.store.get_session(h)
        closed = again is not None and again.closed
        return UnlockResult(outcome=UnlockOutcome.CLOSED if closed else UnlockOutcome.NOT_LOCKED)
    audit.event("unlock_accepted", session=new_h, previous=h[:16], user=record.username)
    await m.rotated(h, new_h)
    return UnlockResult(outcome=UnlockOutcome.ACCEPTED, new_session_id=new_id)


async def _refuse(m: SessionManager, h: str, record: SessionRecord) -> UnlockResult:
    limit = m.settings.max_unlock_failures
    failures = await m.store.add_failure(h)
    audit.event("unlock_refused", session=h, user=record.username, reason="invalid-password",
                failures=failures, max=limit)
    if failures >= limit:
        await m.close(h, "unlock-failures", record.username)
        return UnlockResult(outcome=UnlockOutcome.CLOSED, failures=failures)
    return UnlockResult(outcome=UnlockOutcome.INVALID, failures=failures)


async def _belongs_to_other_user(m: SessionManager, owner: str, password: str) -> bool:
    """One argon2 verify per other user, each in a worker thread."""
    for user in await m.store.list_users():
        if user.username != owner and await verify_secret_async(user.password_hash, password):
            return True
    return False
