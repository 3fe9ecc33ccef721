"""What the admin console shows, provided by the Engine (live calls, endings, applications)."""

from __future__ import annotations

import copy
from typing import Protocol


class ConsoleSource(Protocol):
    def live_calls(self) -> list[dict[str, object]]:
        """caller, dialplan, menu, attempt, of, seconds_left, call_id."""
        ...

    def call_endings(self) -> list[dict[str, object]]:
        """call_id, caller, reason, duration, ended_at."""
        ...

    def applications(self) -> dict[str, dict[str, dict[str, object]]]:
        """app → section → option → value."""
        ...

    def set_option(self, app: str, section: str, option: str, value: object) -> None:
        """Apply at once; raise ``ValueError`` with a clear message when refused."""
        ...


class StaticConsoleSource:
    """In-memory source for tests and the standalone server; options are checked only for
    existence and type (same type as the current value, ints accepted for floats)."""

    def __init__(
        self,
        applications: dict[str, dict[str, dict[str, object]]] | None = None,
        live_calls: list[dict[str, object]] | None = None,
        call_endings: list[dict[str, object]] | None = None,
    ) -> None:
        self.apps = applications if applications is not None else {}
        self.calls = live_calls if live_calls is not None else []
        self.endings = call_endings if call_endings is not None else []
        self.changes: list[tuple[str, str, str, object]] = []

    def live_calls(self) -> list[dict[str, object]]:
        return copy.deepcopy(self.calls)

    def call_endings(self) -> list[dict[str, object]]:
        return copy.deepcopy(self.endings)

    def applications(self) -> dict[str, dict[str, dict[str, object]]]:
        return copy.deepcopy(self.apps)

    def set_option(self, app: str, section: str, option: str, value: object) -> None:
        try:
            current = self.apps[app][section][option]
        except KeyError:
            raise ValueError(f"unknown option [applications.{app}.{section}] {option}") from None
        if not _same_kind(current, value):
            raise ValueError(
                f"[applications.{app}.{section}] {option}: expected {type(current).__name__},"
                f" got {value!r}"
            )
        self.apps[app][section][option] = value
        self.changes.append((app, section, option, value))


def _same_kind(current: object, value: object) -> bool:
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(current))
