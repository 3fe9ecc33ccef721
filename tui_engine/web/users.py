"""User operations shared by the portal's API and ``tui-engine users``.

The password-change rule lives here, once: a change made *through* application ``A``
updates the user's hash (fresh logins everywhere need the new password) and the verifier
of ``A``'s open sessions (their re-login needs the new one too); open sessions of other
applications keep the verifier they logged in with, so their re-login still takes the
old password.

Who may do what (roles) is decided by the caller (routes / CLI); what a new password must be
(the policy) is checked here for every caller that passes ``min_length``.
"""

from __future__ import annotations

import time

from tui_engine.web import audit
from tui_engine.web.passwords import hash_secret_async
from tui_engine.web.store import OPERATOR, ROLES, Store, UserExists, UserRecord


class UnknownUser(LookupError):
    pass


class WeakPassword(ValueError):
    """A new password the policy refuses; ``min_length`` is the configured minimum."""

    def __init__(self, min_length: int) -> None:
        super().__init__(f"password must be at least {min_length} characters")
        self.min_length = min_length


def check_password(password: str, min_length: int) -> None:
    """The policy for new passwords: at least ``min_length`` characters (NIST SP 800-63B
    §5.1.1.2: length, not composition rules). Raise :class:`WeakPassword`."""
    if not password or len(password) < min_length:
        raise WeakPassword(max(min_length, 1))


def check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")


async def add_user(
    store: Store, username: str, password: str, *, via: str, role: str = OPERATOR,
    min_length: int = 1, actor: str | None = None,
) -> UserRecord:
    """Raise :class:`UserExists` if taken, ``ValueError`` for a bad name, role or password."""
    if not username or not username.isprintable() or len(username) > 64:
        raise ValueError("username must be 1-64 printable characters")
    check_role(role)
    check_password(password, min_length)
    now = time.time()
    user = UserRecord(
        username=username, password_hash=await hash_secret_async(password),
        password_changed_at=now, created_at=now, role=role,
    )
    await store.create_user(user)
    await audit.record(store, "user_created", user=username, actor=actor, application=via, role=role)
    return user


async def change_password(
    store: Store, username: str, password: str, *, application: str, min_length: int = 1,
    actor: str | None = None,
) -> int:
    """Return how many open sessions of ``application`` now unlock with the new password."""
    check_password(password, min_length)
    new_hash = await hash_secret_async(password)
    if not await store.set_password(username, new_hash, time.time()):
        raise UnknownUser(username)
    updated = await store.set_verifier(username, application, new_hash)
    await audit.record(
        store, "password_change", user=username, actor=actor, application=application,
        sessions_updated=updated,
    )
    return updated


async def set_pin(store: Store, username: str, pin: str, *, actor: str | None = None) -> None:
    """A TUI PIN: digits only (it is typed on a phone keypad), 4-12 of them."""
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError("PIN must be 4-12 digits")
    if not await store.set_pin(username, await hash_secret_async(pin)):
        raise UnknownUser(username)
    await audit.record(store, "pin_change", user=username, actor=actor)


__all__ = [
    "UnknownUser", "UserExists", "WeakPassword", "add_user", "change_password", "check_password",
    "check_role", "set_pin",
]
