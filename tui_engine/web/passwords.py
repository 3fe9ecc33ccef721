"""Password and PIN hashing with argon2id (argon2-cffi's ``PasswordHasher``, RFC 9106).

Verifying costs tens of milliseconds of CPU by design; the engine's one event loop also
carries RTP, so every hash/verify here runs in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, RFC 9106 "second recommended" (low-memory) parameters
# Verified against when the user does not exist, so a login for an unknown name costs the
# same time as one for a known name (no user enumeration by timing). Made on first use.
_dummy_hash: str | None = None


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Swap the hasher (tests use ``argon2.profiles.CHEAPEST``); returns the previous one.

    Existing hashes keep verifying: the parameters are stored in each PHC string."""
    global _hasher, _dummy_hash
    previous, _hasher, _dummy_hash = _hasher, hasher, None
    return previous


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("tui-engine: no such user")
    return _dummy_hash


def hash_secret(secret: str) -> str:
    """Blocking; use :func:`hash_secret_async` on the event loop."""
    return _hasher.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    """Constant-time argon2 verification; ``None`` verifies against a dummy hash and fails."""
    try:
        ok = _hasher.verify(stored_hash or _dummy(), secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and stored_hash is not None


async def hash_secret_async(secret: str) -> str:
    return await asyncio.to_thread(hash_secret, secret)


async def verify_secret_async(stored_hash: str | None, secret: str) -> bool:
    return await asyncio.to_thread(verify_secret, stored_hash, secret)
