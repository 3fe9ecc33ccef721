"""What the admin console shows, provided by the Engine (live calls, endings, applications)."""

from __future__ import annotations

import copy
from typing import Protocol


class OptionsRefused(ValueError):
    """Options the configuration's rules refuse: ``problems`` maps ``section.option`` to why."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


class NotApplied(RuntimeError):
    """Valid options that the running engine could not apply (nothing was changed or saved)."""


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

    def set_options(self, app: str, changes: list[tuple[str, str, object]]) -> None:
        """Several options of one application (one form), all or none: :class:`OptionsRefused`
        when a value is not allowed, :class:`NotApplied` when the engine could not apply them."""
        ...

    def option_help(self) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
        """app → section → option → ``{"help", "allowed"}``."""
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
        self.set_options(app, [(section, option, value)])

    def set_options(self, app: str, changes: list[tuple[str, str, object]]) -> None:
        problems: dict[str, str] = {}
        for section, option, value in changes:
            current = self.apps.get(app, {}).get(section, {}).get(option, _MISSING)
            if current is _MISSING:
                problems[f"{section}.{option}"] = "unknown option"
            elif not _same_kind(current, value):
                problems[f"{section}.{option}"] = f"expected {type(current).__name__}, got {value!r}"
        if problems:
            raise OptionsRefused(problems)
        for section, option, value in changes:
            self.apps[app][section][option] = value
            self.changes.append((app, section, option, value))

    def option_help(self) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
        return {}


_MISSING = object()


def _same_kind(current: object, value: object) -> bool:
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(current))
