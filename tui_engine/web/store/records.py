"""Rows kept by every store: users and web sessions.

Times are wall-clock epoch seconds (``time.time()``), not ``loop.time()``: several engine
processes share one Redis and each has its own monotonic epoch, so only wall-clock values
mean the same thing on every node (see docs/web-security.md, "Clocks").
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: what a user may do in the portal (docs/web-api.md, "Roles").
ADMIN = "admin"
OPERATOR = "operator"
ROLES = (ADMIN, OPERATOR)


@dataclass(frozen=True, kw_only=True, slots=True)
class UserRecord:
    """A portal / TUI user; ``password_hash`` and ``pin_hash`` are argon2 PHC strings."""

    username: str
    password_hash: str
    password_changed_at: float
    pin_hash: str | None = None
    created_at: float = 0.0
    #: ``admin`` or ``operator``; rows from before roles existed read as ``admin``.
    role: str = OPERATOR


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionRecord:
    """One browser session, keyed by the SHA-256 of its cookie value (the raw ID is never stored).

    ``verifier`` is the password hash the user logged in with: re-login (unlock) checks it, so a
    password changed through *another* application does not change what unlocks this session.
    ``anchor`` is the start of the current silent period: the time of the last user input,
    or of the last renewal of a progress lease (a long task the user is watching).
    """

    id_hash: str
    username: str
    app: str
    verifier: str
    csrf: str
    created_at: float
    anchor: float
    locked: bool = False
    locked_at: float | None = None
    failures: int = 0
    closed: bool = False
    close_reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditEntry:
    """One security event kept in the store (``GET /api/audit``); ``id`` is 0 until stored."""

    at: float
    event: str
    user: str | None = None
    actor: str | None = None
    session: str | None = None
    remote: str | None = None
    details: dict[str, object] = field(default_factory=dict)
    id: int = 0
