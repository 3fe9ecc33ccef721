"""User operations shared by the portal's API and ``tui-engine users``.

The password-change rule lives here, once: a change made *through* application ``A``
updates the user's hash (fresh logins everywhere need the new password) and the verifier
of ``A``'s open sessions (their re-login needs the new one too); open sessions of other
applications keep the verifier they logged in with, so their re-login still takes the
old password.
"""

from __future__ import annotations

import time

from tui_engine.web import audit
from tui_engine.web.passwords import hash_secret_async
from tui_engine.web.store import Store, UserExists, UserRecord


class UnknownUser(LookupError):
    pass


async def add_user(store: Store, username: str, password: str, *, via: str) -> UserRecord:
    """Raise :class:`UserExists` if taken, ``ValueError`` for an empty name or password."""
    if not username or not username.isprintable() or len(username) > 64:
        raise ValueError("username must be 1-64 printable characters")
    if not password:
        raise ValueError("password must not be empty")
    now = time.time()
    user = UserRecord(
        username=username, password_hash=await hash_secret_async(password),
        password_changed_at=now, created_at=now,
    )
    await store.create_user(user)
    audit.event("user_created", user=username, application=via)
    return user


async def change_password(store: Store, username: str, password: str, *, application: str) -> int:
    """Return how many open sessions of ``application`` now unlock with the new password."""
    if not password:
        raise ValueError("password must not be empty")
    new_hash = await hash_secret_async(password)
    if not await store.set_password(username, new_hash, time.time()):
        raise UnknownUser(username)
    updated = await store.set_verifier(username, application, new_hash)
    audit.event("password_change", user=username, application=application, sessions_updated=updated)
    return updated


async def set_pin(store: Store, username: str, pin: str) -> None:
    """A TUI PIN: digits only (it is typed on a phone keypad), 4-12 of them."""
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError("PIN must be 4-12 digits")
    if not await store.set_pin(username, await hash_secret_async(pin)):
        raise UnknownUser(username)
    audit.event("pin_change", user=username)


__all__ = ["UnknownUser", "UserExists", "add_user", "change_password", "set_pin"]
