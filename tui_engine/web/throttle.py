"""Login throttling: consecutive failed sign-ins for one user name make the next ones wait.

After ``free`` failures in a row for a name, each further attempt for that name is refused
(429 with Retry-After) until a wait has passed: ``first_wait`` seconds, doubling with every
failure after that, up to ``max_wait``. A successful sign-in clears the name. This answers
online password guessing at the login form; the lock dialog has its own limit
(``max-unlock-failures`` closes the session).

Keyed by the user name, not the source address, so spreading guesses over many sources does
not help. The price, as with Keycloak's temporary lockout, is that someone guessing a name can
delay that user's sign-in; the waits stay short for that reason. The table lives in the engine
process (each node of a Redis deployment throttles on its own) and is bounded: the oldest names
are forgotten first, so a flood of made-up names cannot grow it without end.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Failures:
    count: int = 0
    blocked_until: float = 0.0


class LoginThrottle:
    """``retry_after(name, now)`` before checking a password; ``failed`` / ``succeeded`` after."""

    def __init__(
        self, *, free: int = 5, first_wait: float = 30.0, max_wait: float = 900.0, max_names: int = 10_000
    ) -> None:
        self.free = free
        self.first_wait = first_wait
        self.max_wait = max_wait
        self.max_names = max_names
        self._names: dict[str, _Failures] = {}

    def retry_after(self, name: str, now: float) -> float | None:
        """Seconds this name must still wait before a password is even checked, or None."""
        entry = self._names.get(name)
        if entry is None or entry.blocked_until <= now:
            return None
        return entry.blocked_until - now

    def failed(self, name: str, now: float) -> None:
        entry = self._names.pop(name, None) or _Failures()
        entry.count += 1
        over = entry.count - self.free
        if over >= 0:
            entry.blocked_until = now + min(self.max_wait, self.first_wait * 2**over)
        self._names[name] = entry  # re-inserted: the most recently failed names are kept longest
        if len(self._names) > self.max_names:
            del self._names[next(iter(self._names))]

    def succeeded(self, name: str) -> None:
        self._names.pop(name, None)
