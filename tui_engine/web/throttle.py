"""Login throttling: consecutive failed sign-ins for one user name make the next ones wait.

After ``free`` failures in a row for a name, each further attempt for that name is refused
(429 with Retry-After) until a wait has passed: ``first_wait`` seconds, doubling with every
failure after that, up to ``max_wait``. A successful sign-in clears the name. This answers
online password guessing at the login form; the lock dialog has its own limit
(``max-unlock-failures`` closes the session).

Keyed by the user name, not the source address, so spreading guesses over many sources does
not help. The price, as with Keycloak's temporary lockout, is that someone guessing a name can
delay that user's sign-in; the waits stay short for that reason. The counts live in the
**store** (SQLite table or Redis hash), so every engine sharing the store counts the same
failures: guessing round-robin over several nodes gains nothing. A count is forgotten
``max_wait`` after the last failure, so a flood of made-up names cannot grow the table without
end.
"""

from __future__ import annotations

from tui_engine.web.store import Store


class LoginThrottle:
    """``retry_after(name, now)`` before checking a password; ``failed`` / ``succeeded`` after."""

    def __init__(
        self, store: Store, *, free: int = 5, first_wait: float = 30.0, max_wait: float = 900.0
    ) -> None:
        self.store = store
        self.free = free
        self.first_wait = first_wait
        self.max_wait = max_wait

    def wait_after(self, failures: int) -> float | None:
        """The wait after ``failures`` in a row (pure policy), None while they are free."""
        over = failures - self.free
        return None if over < 0 else min(self.max_wait, self.first_wait * 2**over)

    async def retry_after(self, name: str, now: float) -> float | None:
        """Seconds this name must still wait before a password is even checked, or None."""
        until = await self.store.login_blocked_until(name)
        return None if until is None or until <= now else until - now

    async def failed(self, name: str, now: float) -> None:
        count = await self.store.login_failed(name, now, self.max_wait)
        wait = self.wait_after(count)
        if wait is not None:
            await self.store.block_login(name, now + wait)

    async def succeeded(self, name: str) -> None:
        await self.store.login_succeeded(name)
