"""The ``Store`` protocol: what the portal and ``tui-engine users`` need from persistence.

Every session mutation that a lock decision depends on is a *conditional* write
(compare-and-set on the values the decision was made from), so two engine processes
sharing one store agree: the lock fires once, and activity seen by either node moves the
deadline for both. The decisions themselves are made by the idle core (``sessions.py``).
"""

from __future__ import annotations

from typing import Protocol

from tui_engine.web.store.records import AuditEntry, SessionRecord, UserRecord

#: the newest audit events kept; older ones are dropped as new ones come.
AUDIT_MAX_EVENTS = 100_000


class UserExists(Exception):
    """``create_user`` for a name that is already taken."""


class Store(Protocol):
    # -- users ------------------------------------------------------------------------
    async def get_user(self, username: str) -> UserRecord | None: ...
    async def list_users(self) -> list[UserRecord]: ...
    async def create_user(self, user: UserRecord) -> None:
        """Raise :class:`UserExists` if the name is taken."""
        ...

    async def set_password(self, username: str, password_hash: str, changed_at: float) -> bool: ...
    async def set_pin(self, username: str, pin_hash: str) -> bool: ...
    async def set_role(self, username: str, role: str) -> bool: ...

    # -- sessions ---------------------------------------------------------------------
    async def create_session(self, session: SessionRecord) -> None: ...
    async def get_session(self, id_hash: str) -> SessionRecord | None: ...
    async def open_sessions(self) -> list[SessionRecord]:
        """Every session not closed (locked ones included)."""
        ...

    async def touch(self, id_hash: str, at: float, expected_anchor: float) -> bool:
        """User input at ``at`` (or a progress lease renewed then): ``anchor = max(anchor, at)``
        if the session is open, unlocked and its anchor has not gone backwards since it was
        read (``>= expected_anchor``)."""
        ...

    async def lock_if_idle(self, id_hash: str, expected_anchor: float, now: float) -> bool:
        """Lock atomically iff open, unlocked and ``anchor == expected_anchor``.

        True only for the one caller whose write locked it."""
        ...

    async def unlock_and_rotate(self, id_hash: str, new_id_hash: str, now: float) -> bool:
        """Locked → active under a new ID (the old ID stops working); failures reset."""
        ...

    async def add_failure(self, id_hash: str) -> int:
        """Count one refused unlock; return the new count."""
        ...

    async def close_session(self, id_hash: str, reason: str) -> bool:
        """Close for good; True if it was open before."""
        ...

    async def set_verifier(self, username: str, app: str, verifier: str) -> int:
        """A password changed through ``app``: open sessions of ``app`` unlock with the new one."""
        ...

    async def purge_closed(self, created_before: float) -> None:
        """Forget closed sessions created before ``created_before`` (past any lifetime)."""
        ...

    # -- audit ------------------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> int:
        """Store one event (keeping the newest :data:`AUDIT_MAX_EVENTS`); return its id."""
        ...

    async def list_audit(
        self, *, limit: int, before: int | None = None, event: str | None = None, user: str | None = None
    ) -> list[AuditEntry]:
        """Newest first, ids below ``before``, filtered exactly by ``event`` / ``user``."""
        ...

    # -- login throttling (shared by every node on this store) -------------------------
    async def login_failed(self, name: str, now: float, forget_after: float) -> int:
        """Count one failed sign-in for ``name``; return the failures in a row. The count is
        forgotten ``forget_after`` seconds after the last failure."""
        ...

    async def block_login(self, name: str, until: float) -> None:
        """No sign-in for ``name`` is checked before ``until`` (never shortens a block)."""
        ...

    async def login_blocked_until(self, name: str) -> float | None: ...
    async def login_succeeded(self, name: str) -> None: ...

    async def aclose(self) -> None: ...
