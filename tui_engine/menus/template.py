"""``{name}`` placeholders in dialplan text (say text, transfer URIs, webhook URLs).

The one templating rule of the dialplan language, shared by every construct that takes text:

* ``{name}`` is replaced by the variable's value; ``name`` is an identifier
  (letters, digits, ``_`` and ``-``, starting with a letter or ``_``);
* ``{{`` and ``}}`` are literal braces;
* a variable that is not set renders as ``""`` (VoiceXML's ``undefined`` would be read aloud,
  which no caller wants); ``tui-engine check`` refuses names nothing can set (menus/langchecks.py).

Not ``str.format``: a dialplan author's text must not reach attribute or index lookups
(``{x.__class__}``), and format's errors name no file or line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_-]*)\}|[{}]")


class TemplateError(ValueError):
    """A lone ``{`` or ``}``, or a placeholder that is not an identifier."""


def placeholders(template: str) -> tuple[str, ...]:
    """The variable names ``template`` uses, in order of first use; raise :class:`TemplateError`."""
    names: dict[str, None] = {}
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            column = match.start() + 1
            raise TemplateError(f"lone {token!r} at column {column} (write {token * 2} for a brace)")
        names.setdefault(name, None)
    return tuple(names)


def render(template: str, variables: Mapping[str, str]) -> str:
    """``template`` with every ``{name}`` replaced by ``variables[name]`` (``""`` when unset)."""

    def value(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name is None:
            raise TemplateError(f"lone {token!r} at column {match.start() + 1}")
        return variables.get(name, "")

    return _TOKEN.sub(value, template)
