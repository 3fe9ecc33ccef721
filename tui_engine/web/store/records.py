"""Rows kept by every store: users and web sessions.

Times are wall-clock epoch seconds (``time.time()``), not ``loop.time()``: several engine
processes share one Redis and each has its own monotonic epoch, so only wall-clock values
mean the same thing on every node (see docs/web-security.md, "Clocks").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class UserRecord:
    """A portal / TUI user; ``password_hash`` and ``pin_hash`` are argon2 PHC strings."""

    username: str
    password_hash: str
    password_changed_at: float
    pin_hash: str | None = None
    created_at: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionRecord:
    """One browser session, keyed by the SHA-256 of its cookie value (the raw ID is never stored).

    ``verifier`` is the password hash the user logged in with: re-login (unlock) checks it, so a
    password changed through *another* application does not change what unlocks this session.
    ``anchor`` is the start of the current silent period (last activity, or the end of the
    last long request that held the lock off); ``progress`` counts requests still running.
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
    progress: int = 0
    closed: bool = False
    close_reason: str | None = None
