"""The configuration template: the embedded default and what ``tui-engine init`` writes.

One source of truth: ``template.toml`` (package data) is both, so the defaults users read in
their file are the defaults the engine runs with.
"""

from __future__ import annotations

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
