"""Re-login on a locked session (docs/web-security.md, "Re-login").

One check: the session's own verifier (the password hash its owner logged in with), one
argon2 verify. Anything else is a failure, counted atomically in the store, with one answer
whether it was a wrong password or another user's right one: telling those apart would make
the lock dialog an oracle for other users' passwords, and checking them would cost one argon2
verify per user per attempt. The ``max-unlock-failures``-th failure closes the session. The
feature description's "if this user is not the original user, access will not be permitted"
holds because only the owner's password ever opens it.
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
    #: not the owner's password (wrong, or another user's): refused, one failure counted.
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


async def unlock(
    m: SessionManager, cur: Current, password: str, *, remote: str | None = None
) -> UnlockResult:
    record, h = cur.record, cur.id_hash
    if record is None or h is None or cur.verdict.state is SessionState.CLOSED:
        return UnlockResult(outcome=UnlockOutcome.CLOSED)
    if cur.verdict.state is not SessionState.LOCKED:
        return UnlockResult(outcome=UnlockOutcome.NOT_LOCKED)
    # The attempt is counted before the password is checked (an accepted one resets the count
    # when the session rotates): guesses sent in parallel cannot all be verified before the
    # first failure is counted, so max-unlock-failures caps them too.
    limit = m.settings.max_unlock_failures
    attempts = await m.store.add_failure(h)
    if attempts > limit:
        await m.close(h, "unlock-failures", record.username, remote=remote)
        return UnlockResult(outcome=UnlockOutcome.CLOSED, failures=attempts - 1)
    if await verify_secret_async(record.verifier, password):
        return await _accept(m, h, record, remote)
    return await _refuse(m, h, record, remote, attempts)


async def _accept(m: SessionManager, h: str, record: SessionRecord, remote: str | None) -> UnlockResult:
    new_id = new_session_id()
    new_h = id_hash(new_id)
    if not await m.store.unlock_and_rotate(h, new_h, m.now()):
        # Raced with another tab's unlock or with a close: report what the store says now.
        again = await m.store.get_session(h)
        closed = again is not None and again.closed
        return UnlockResult(outcome=UnlockOutcome.CLOSED if closed else UnlockOutcome.NOT_LOCKED)
    await audit.record(
        m.store, "unlock_accepted", session=new_h, user=record.username, actor=record.username,
        remote=remote, previous=h[:16],
    )
    await m.rotated(h, new_h)
    return UnlockResult(outcome=UnlockOutcome.ACCEPTED, new_session_id=new_id)


async def _refuse(
    m: SessionManager, h: str, record: SessionRecord, remote: str | None, failures: int
) -> UnlockResult:
    limit = m.settings.max_unlock_failures
    await audit.record(
        m.store, "unlock_refused", session=h, user=record.username, remote=remote,
        reason="invalid-password", failures=failures, max=limit,
    )
    if failures >= limit:
        await m.close(h, "unlock-failures", record.username, remote=remote)
        return UnlockResult(outcome=UnlockOutcome.CLOSED, failures=failures)
    return UnlockResult(outcome=UnlockOutcome.INVALID, failures=failures)

