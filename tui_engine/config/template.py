"""The configuration template: the embedded default and what ``tui-engine init`` writes.

One source of truth: ``template.toml`` (package data) is both, so the defaults users read in
their file are the defaults the engine runs with.
"""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

CONFIG_NAME = "tui-engine.toml"


def template_text() -> str:
    """The commented template, every option at its default."""
    return resources.files("tui_engine.config").joinpath("template.toml").read_text(encoding="utf-8")


def write_template(directory: Path, *, force: bool = False, dialplans: Path | None = None) -> Path:
    """Write ``DIR/tui-engine.toml``; refuse to overwrite unless ``force``.

    When ``dialplans`` (the bundled directory) exists and ``DIR/dialplans`` does not, copy it,
    so the new file's ``dialplans = "dialplans"`` points at something that passes ``check``.
    Raises ``FileExistsError`` when the file is there and ``force`` is false.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / CONFIG_NAME
    if target.exists() and not force:
        raise FileExistsError(target)
    target.write_text(template_text(), encoding="utf-8")
    own = directory / "dialplans"
    if dialplans is not None and dialplans.is_dir() and not own.exists():
        shutil.copytree(dialplans, own)
    return target


_HEADER = re.compile(r"^\[applications\.([A-Za-z0-9_-]+)(?:\.([a-z]+))?\]\s*$")
_OPTION = re.compile(r"^([a-z][a-z0-9-]*)\s*=")


def template_help() -> dict[str, dict[str, dict[str, str]]]:
    """The template's comments above each application option, by application *type*:
    ``{"tui": {"tui": {"max-attempts": "No-input attempts: ..."}}, "web": {...}}``.

    The console shows them as the options' help, so the words a user reads in the file and on
    the screen are the same. Read with a line scanner: tomlkit keeps comments, but attaches
    them to the previous item, not to the option they describe."""
    types: dict[str, str] = {}
    out: dict[str, dict[str, dict[str, str]]] = {}
    app = section = None
    comment: list[str] = []
    for raw in template_text().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            continue
        if (m := _HEADER.match(line)) is not None:
            app, section = m.group(1), m.group(2)
        elif app and section is None and line.startswith("type"):
            types[app] = line.split("=", 1)[1].strip().strip('"')
        elif app and section and (m := _OPTION.match(line)) is not None and comment:
            kind = types.get(app, app)
            out.setdefault(kind, {}).setdefault(section, {})[m.group(1)] = " ".join(comment)
        comment = []
    return out
