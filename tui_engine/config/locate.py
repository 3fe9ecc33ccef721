"""Find the line of an option in TOML text.

``tomllib`` gives values, not positions, and tomlkit's document model has no line numbers,
so this small scanner maps every table header and ``key = value`` line to its full key path.
It understands dotted and quoted keys and skips multi-line strings; an option that is not
written (a missing ``type``) or lives in an inline table is located at its nearest written
parent, which is where the fix goes.
"""

from __future__ import annotations

import re
import tomllib

_BARE = r"[A-Za-z0-9_-]+"
_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_PART)


def _key_path(dotted: str) -> tuple[str, ...]:
    parts: list[str] = []
    for token in _PART_RE.findall(dotted):
        parts.append(tomllib.loads(f"k = {token}")["k"] if token[0] in "\"'" else token)
    return tuple(parts)


def _add(found: dict[tuple[str, ...], int], path: tuple[str, ...], number: int) -> None:
    """Record ``path`` and its parents: ``[a.b.c]`` defines ``a.b`` implicitly, right there."""
    for end in range(1, len(path) + 1):
        found.setdefault(path[:end], number)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Every written key path (tables and options) -> its first line (1-based)."""
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_string: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        if m := _HEADER.match(line):
            table = _key_path(m.group(1))
            _add(found, table, number)
        elif m := _ASSIGN.match(line):
            _add(found, table + _key_path(m.group(1)), number)
        for quote in ('"""', "'''"):
            if line.count(quote) % 2 == 1:
                in_string = quote
    return found


def locate(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    """The line of ``path`` or of its nearest written parent; ``None`` if nothing is written."""
    for end in range(len(path), 0, -1):
        if (line := lines.get(path[:end])) is not None:
            return line
    return None
