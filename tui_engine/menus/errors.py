"""Dialplan errors: every problem found in a load, each with its file, line and column.

A dialplan is configuration written by people, so the loader reports *all* issues at once
(one edit-reload cycle instead of one per mistake), each pointing at the YAML node at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tui_engine.core.errors import LocalError


@dataclass(frozen=True, kw_only=True, slots=True)
class Issue:
    """One problem: ``file:line:column: reason`` (line and column are 1-based, as editors count)."""

    file: Path
    line: int
    column: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.reason}"


class DialplanError(LocalError):
    """One or more dialplans cannot be used; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues: list[Issue] = sorted(issues, key=lambda i: (str(i.file), i.line, i.column))
        count = len(self.issues)
        head = f"{count} problem{'s' if count != 1 else ''} in dialplans"
        super().__init__("\n".join([head, *(f"  {issue}" for issue in self.issues)]))


class MenuError(LocalError):
    """The driver called the menu interpreter out of turn (e.g. ``prompt_finished`` with nothing playing)."""
