"""Load, validate and override the configuration; turn pydantic errors into located issues."""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

import tui_engine
from tui_engine.config.errors import MISSING, ConfigError, ConfigIssue
from tui_engine.config.locate import key_lines, locate
from tui_engine.config.models import SECTIONS, EngineConfig
from tui_engine.config.template import template_text

EMBEDDED = "<embedded default>"
_TOP_LEVEL = ("engine", "logging", "applications")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(slots=True)
class _Source:
    """What the issues point at: the file (with its key lines) and the ``--option`` texts."""

    name: str
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)
    overrides: dict[tuple[str, ...], str] = field(default_factory=dict)

    def where(self, path: tuple[str, ...]) -> tuple[str, int | None]:
        for end in range(len(path), 0, -1):
            if (text := self.overrides.get(path[:end])) is not None:
                return f"--option {text}", None
        return self.name, locate(self.lines, path)

    def issue(
        self, keys: tuple[str, ...], option: str, value: object, problem: str, allowed: str
    ) -> ConfigIssue:
        file, line = self.where(keys)
        return _issue(file, line, option, value, problem, allowed)


# -- public entry points -------------------------------------------------------------------
def bundled_dialplans() -> Path:
    """The dialplans and prompts shipped inside the package (``tui_engine/dialplans/``, package
    data): what the embedded default runs and ``tui-engine init`` copies out.

    Inside the package, not beside it, so a checkout, an editable install and a wheel find them
    the same way: ``importlib.resources`` on the installed package.
    """
    root = resources.files(tui_engine).joinpath("dialplans")
    if not isinstance(root, Path):  # a zipped install: the engine reads prompts as files
        raise RuntimeError(f"the bundled dialplans are not on the file system: {root}")
    return root


def load_config_text(
    text: str, source_name: str = "<string>", *, base_dir: Path | None = None
) -> EngineConfig:
    """Parse and validate TOML ``text``; relative paths resolve against ``base_dir`` (default: cwd)."""
    base = (base_dir or Path.cwd()).absolute()
    return _load(text, source_name, {"data": base, "dialplans": base})


def load_config(path: str | Path) -> EngineConfig:
    """Read ``path``; relative paths in it resolve against its directory."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [_issue(str(path), None, "", MISSING, f"cannot read: {exc.strerror}", "")]
        ) from None
    return load_config_text(text, str(path), base_dir=path.absolute().parent)


def embedded_default() -> EngineConfig:
    """The template itself; ``data`` under the current directory, the bundled dialplans."""
    context = {"data": Path.cwd().absolute(), "dialplans": bundled_dialplans().parent}
    return _load(template_text(), EMBEDDED, context)


def load_with_overrides(path: str | Path | None, overrides: Sequence[str] = ()) -> EngineConfig:
    """What ``serve`` and a reload use: the file (or the embedded default), then ``--option``s."""
    config = embedded_default() if path is None else load_config(path)
    return apply_overrides(config, overrides) if overrides else config


def apply_overrides(
    config_or_raw: EngineConfig | Mapping[str, Any], overrides: Iterable[str]
) -> EngineConfig:
    """Apply ``APP.SECTION.OPTION=VALUE`` (or ``engine.OPTION=VALUE``) and re-validate.

    VALUE is read as a TOML literal (``10``, ``"90s"``, ``true``), else taken as a string, so
    ``portal.security.inactivity-timeout=10`` means 10 minutes, exactly as in the file.
    """
    if isinstance(config_or_raw, EngineConfig):
        raw = copy.deepcopy(config_or_raw._raw)
        context = dict(config_or_raw._context)
        source = _Source(config_or_raw.source, dict(config_or_raw._lines))
    else:
        raw = copy.deepcopy(dict(config_or_raw))
        base = Path.cwd().absolute()
        context, source = {"data": base, "dialplans": base}, _Source("<overrides>")
    issues = [i for text in overrides if (i := _apply_one(raw, text, source)) is not None]
    return _validate(raw, context, source, issues)


def issue_at(config: EngineConfig, option: str, value: object, problem: str, allowed: str) -> ConfigIssue:
    """An issue about ``option`` (a dotted path) found after loading, located in ``config``'s file."""
    keys = tuple(option.split("."))
    return _Source(config.source, config._lines).issue(keys, option, value, problem, allowed)


# -- loading and validation ----------------------------------------------------------------
def _load(text: str, name: str, context: dict[str, Any]) -> EngineConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_POSITION.search(str(exc))
        line = int(m.group(1)) if m else None
        allowed = "TOML 1.0 syntax (https://toml.io/en/v1.0.0)"
        raise ConfigError([_issue(name, line, "", MISSING, str(exc), allowed)]) from None
    return _validate(raw, context, _Source(name, key_lines(text)), [])


def _validate(
    raw: dict[str, Any], context: dict[str, Any], source: _Source, issues: list[ConfigIssue]
) -> EngineConfig:
    try:
        config = EngineConfig.model_validate(raw, context=context)
    except ValidationError as exc:
        issues = issues + [_from_pydantic(err, raw, source) for err in exc.errors()]
        config = None
    if issues or config is None:
        raise ConfigError(issues)
    config._raw, config._context, config._source = raw, context, source.name
    config._lines = source.lines
    return config


def _issue(
    file: str, line: int | None, option: str, value: object, problem: str, allowed: str
) -> ConfigIssue:
    return ConfigIssue(file=file, line=line, option=option, value=value, problem=problem, allowed=allowed)


def _from_pydantic(err: ErrorDetails, raw: dict[str, Any], source: _Source) -> ConfigIssue:
    loc = tuple(p for p in err["loc"] if p != "[key]")
    keys = tuple(str(p) for p in loc if isinstance(p, str))
    option = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
    value = _lookup(raw, loc)
    if value is MISSING and err["type"] not in ("missing",):
        value = err.get("input", MISSING)
    if err["type"] == "extra_forbidden":
        problem, allowed = _unknown_option(keys)
    elif err["type"] == "missing":
        problem, allowed = "required option is missing", _allowed(keys)
    else:
        problem, allowed = err["msg"].removeprefix("Value error, "), _allowed(keys)
    if keys[:1] == ("applications",) and len(keys) == 2 and len(err["loc"]) == 3:
        allowed = "application names use letters, digits, - and _"
    return source.issue(keys, option, value, problem, allowed)


def _lookup(raw: Any, loc: tuple[Any, ...]) -> object:
    for part in loc:
        if isinstance(raw, dict) and part in raw:
            raw = raw[part]
        elif isinstance(raw, list) and isinstance(part, int) and part < len(raw):
            raw = raw[part]
        else:
            return MISSING
    return raw


def _section_of(keys: tuple[str, ...]) -> tuple[str, ...]:
    return ("applications", "*", *keys[2:]) if keys[:1] == ("applications",) and len(keys) > 1 else keys


def options_of(section: tuple[str, ...]) -> list[str]:
    """The option (and sub-section) names a section accepts, as written in TOML."""
    model = SECTIONS.get(_section_of(section))
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _allowed(keys: tuple[str, ...]) -> str:
    model = SECTIONS.get(_section_of(keys[:-1]))
    info = model.model_fields.get(keys[-1].replace("-", "_")) if model and keys else None
    extra = info.json_schema_extra if info is not None else None
    return str(extra.get("allowed", "")) if isinstance(extra, dict) else ""


def _unknown_option(keys: tuple[str, ...]) -> tuple[str, str]:
    known = options_of(keys[:-1])
    close = difflib.get_close_matches(keys[-1], known, n=1)
    hint = f'; did you mean "{close[0]}"?' if close else ""
    what = "section or option" if len(keys) <= 3 and keys[:1] != ("engine",) else "option"
    return f"unknown {what}{hint}", "one of: " + ", ".join(known)


# -- overrides -------------------------------------------------------------------------------
def _override_value(text: str) -> object:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_one(raw: dict[str, Any], text: str, source: _Source) -> ConfigIssue | None:
    key, sep, value_text = text.partition("=")
    keys = tuple(k.strip() for k in key.strip().split("."))
    if not sep or not all(keys) or len(keys) < 2:
        problem = "not of the form APP.SECTION.OPTION=VALUE"
        return _issue(
            f"--option {text}", None, key, MISSING, problem, "e.g. portal.security.inactivity-timeout=10"
        )
    if keys[0] not in _TOP_LEVEL:
        keys = ("applications", *keys)
    if keys[0] == "applications" and keys[1] not in raw.get("applications", {}):
        known = list(raw.get("applications", {}))
        close = difflib.get_close_matches(keys[1], known, n=1)
        problem = "no such application" + (f'; did you mean "{close[0]}"?' if close else "")
        value = _override_value(value_text)
        return _issue(f"--option {text}", None, ".".join(keys), value, problem, "one of: " + ", ".join(known))
    node = raw
    for part in keys[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            problem = f"{part} is an option, not a section"
            return _issue(f"--option {text}", None, ".".join(keys), MISSING, problem, "")
        node = child
    node[keys[-1]] = _override_value(value_text.strip())
    source.overrides[keys] = text
    return None
