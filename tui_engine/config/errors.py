"""Configuration errors: every problem in a file, each located, reported at once.

A person fixing a config file wants the whole list in one go, each with the file and line,
the option path, the value as written and what would have been accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import tomlkit

from tui_engine.core.errors import LocalError


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


#: The value of an option that should be there and is not.
MISSING: object = _Missing()


def render_value(value: object) -> str:
    """The value as it would be written in TOML (``-3``, ``"10x"``, ``["a"]``)."""
    if value is MISSING:
        return "(missing)"
    try:
        return tomlkit.item(value).as_string()
    except Exception:  # tomlkit refuses some Python objects; repr is still informative
        return repr(value)


@dataclass(frozen=True, kw_only=True, slots=True)
class ConfigIssue:
    """One problem: where (``file``:``line``), which option, the bad value, what is allowed."""

    file: str
    line: int | None
    option: str
    value: object
    problem: str
    allowed: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        head = f"{where}: {self.option} = {render_value(self.value)}" if self.option else where
        lines = [head, f"    problem: {self.problem}"]
        if self.allowed:
            lines.append(f"    allowed: {self.allowed}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """For structured logs (``config.rejected``)."""
        return {
            "file": self.file,
            "line": self.line,
            "option": self.option,
            "value": render_value(self.value),
            "problem": self.problem,
            "allowed": self.allowed,
        }


class ConfigError(LocalError):
    """The configuration is not usable; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__(self._report())

    def _report(self) -> str:
        n = len(self.issues)
        files = sorted({i.file for i in self.issues if not i.file.startswith("--option")})
        where = f" in {', '.join(files)}" if files else ""
        head = f"{n} configuration error{'s' if n != 1 else ''}{where}:"
        return "\n".join([head, *(str(i) for i in self.issues)])
