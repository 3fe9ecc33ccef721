"""Load dialplan YAML files: parse with marks, validate (JSON Schema, then semantics), build.

``load_dialplans(directory)`` loads every ``*.yaml`` / ``*.yml`` of a directory and raises one
:class:`DialplanError` listing every issue of every file, or returns a :class:`DialplanSet`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from tui_engine.menus.build import build_dialplan
from tui_engine.menus.checks import Checker
from tui_engine.menus.errors import DialplanError, Issue
from tui_engine.menus.model import Dialplan, DialplanSet
from tui_engine.menus.speech import SpeechOptions
from tui_engine.menus.yamlnodes import JsonPath, Located, load_located

_MAX_REASON = 200


@functools.cache
def dialplan_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) kept next to this module for editors and for validation."""
    text = resources.files("tui_engine.menus").joinpath("dialplan.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(dialplan_schema())


def _schema_issues(doc: Located, error: ValidationError) -> list[Issue]:
    path: JsonPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        extra = [key for key in error.instance if key not in allowed]
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return [doc.issue((*path, key), f"unknown key {key!r}{hint}", key=True) for key in extra]
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        reason = f"invalid name {error.instance!r}: {error.message}"
        return [doc.issue((*path, error.instance), reason, key=True)]
    reason = error.message
    description = schema.get("description")
    if error.validator in ("anyOf", "oneOf") and description:
        reason = f"{error.instance!r} is not valid: {description}"
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 3] + "..."
    where = ".".join(str(p) for p in path)
    return [doc.issue(path, f"{where}: {reason}" if where else reason)]


def _read(path: Path, issues: list[Issue]) -> Located | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        issues.append(Issue(file=path, line=1, column=1, reason=f"cannot read dialplan: {exc}"))
        return None
    return load_located(text, path, issues)


def check_dialplan(path: Path, issues: list[Issue], speech: SpeechOptions | None = None) -> Dialplan | None:
    """Validate one file, appending its issues; the built dialplan when it has none.

    ``speech``: the voice static ``say:`` text is rendered with, the number words' language."""
    before = len(issues)
    doc = _read(path, issues)
    if doc is None or len(issues) > before:
        return None  # unreadable or not YAML: nothing further can be located
    for error in sorted(_validator().iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))):
        issues.extend(_schema_issues(doc, error))
    checker = Checker(doc, issues, speech)
    if isinstance(doc.data, dict):
        checker.run()
    if len(issues) > before:
        return None
    return build_dialplan(doc, checker.durations, checker.speech)


def load_dialplan(path: Path, *, speech: SpeechOptions | None = None) -> Dialplan:
    """Load and validate one dialplan file; raise :class:`DialplanError` with every issue."""
    issues: list[Issue] = []
    plan = check_dialplan(path, issues, speech)
    if plan is None:
        raise DialplanError(issues)
    return plan


def _cross_checks(plans: list[Dialplan], issues: list[Issue]) -> None:
    """Names and numbers must pick exactly one dialplan."""
    owner: dict[str, Dialplan] = {}
    for plan in plans:
        for word in (plan.name, *plan.numbers):
            other = owner.setdefault(word, plan)
            if other is not plan:
                reason = f"{word!r} already reaches dialplan {other.name!r} ({other.path.name})"
                issues.append(Issue(file=plan.path, line=1, column=1, reason=reason))


def load_dialplans(
    directory: Path, *, default: str | None = "main", speech: SpeechOptions | None = None
) -> DialplanSet:
    """Every ``*.yaml``/``*.yml`` dialplan in ``directory``; ``default`` takes unmatched calls.

    A ``default`` name that no dialplan has is an issue too: calls would be refused silently.
    """
    issues: list[Issue] = []
    if not directory.is_dir():
        raise DialplanError([Issue(file=directory, line=1, column=1, reason="dialplan directory not found")])
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    plans = [plan for path in files if (plan := check_dialplan(path, issues, speech)) is not None]
    _cross_checks(plans, issues)
    by_name = {plan.name: plan for plan in plans}
    if not files:
        issues.append(Issue(file=directory, line=1, column=1, reason="no *.yaml dialplans in directory"))
    elif default is not None and not issues and default not in by_name:
        reason = f"default dialplan {default!r} not found (have: {', '.join(sorted(by_name))})"
        issues.append(Issue(file=directory, line=1, column=1, reason=reason))
    if issues:
        raise DialplanError(issues)
    return DialplanSet(by_name=by_name, default_name=default)
