"""A webhook's JSON answer, checked like a dialplan: the same schema, checks and builder.

The answer is a step (``{"play": "balance", "goto": "main"}``: every key a YAML step has, so
keys added to the dialplan language work in answers too), or a whole menu wrapped as
``{"menu": {...}, "name": "optional"}``, which runs as a temporary menu of the call. It is
validated against ``$defs/step`` / ``$defs/menu`` of ``dialplan.schema.json``, then by the
semantic checks of :class:`~tui_engine.menus.checks.Checker` against the running dialplan
(prompt names, goto targets), and built by the dialplan builder, before anything of it runs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

from tui_engine.menus.build import _Builder
from tui_engine.menus.checks import Checker
from tui_engine.menus.errors import Issue
from tui_engine.menus.loader import dialplan_schema
from tui_engine.menus.model import Dialplan, Menu, Step
from tui_engine.menus.speech import SpeechChecks, SpeechOptions
from tui_engine.menus.webhook import ANSWER_MENU_KEYS, ANSWER_MENU_NAME
from tui_engine.menus.yamlnodes import JsonPath, Located

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_MAX_REASONS = 3
#: keys and values an answer may hold in all (a menu of 12 choices with a few prompts each is
#: under 100). The 64 KiB body limit alone lets through ~6000 prompt names: ~200 ms of schema
#: checks on the event loop every call shares, and hours of prompts for a silent caller.
MAX_ANSWER_VALUES = 1000


class AnswerError(ValueError):
    """The answer cannot run; the message says why (for the log and ``WebhookFailed.why``)."""


@functools.cache
def _validator(definition: str) -> jsonschema.Draft202012Validator:
    schema = dialplan_schema()
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]})


def _where(path: JsonPath) -> str:
    return ".".join(str(p) for p in path) or "answer"


def _schema_errors(definition: str, data: Any, base: JsonPath) -> list[str]:
    errors = sorted(_validator(definition).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_where((*base, *e.absolute_path))}: {e.message}" for e in errors]


_Link = tuple[str | int, "_Link"] | None


def _text_problems(data: Any) -> list[str]:
    """Too many values (:data:`MAX_ANSWER_VALUES`), or strings holding half a UTF-16 pair
    (JSON's ``"\\ud800"``): those cannot be encoded, so espeak-ng's input, a SIP header or the
    next webhook's body would fail far from here."""
    found: list[str] = []
    # no recursion (an answer may be nested deep: refused later); paths as (key, parent) links
    todo: list[tuple[Any, _Link]] = [(data, None)]
    seen = 0
    while todo:
        value, link = todo.pop()
        seen += 1
        if seen > MAX_ANSWER_VALUES:
            return [f"more than {MAX_ANSWER_VALUES} keys and values"]
        if isinstance(value, dict):
            todo += [(k, link) for k in value]
            todo += [(v, (str(k), link)) for k, v in value.items()]
        elif isinstance(value, list):
            todo += [(v, (i, link)) for i, v in enumerate(value)]
        elif isinstance(value, str) and not value.isascii():
            lone = next((c for c in value if "\ud800" <= c <= "\udfff"), None)
            if lone is not None:
                found.append(f"{_where(_path(link))}: text with a lone surrogate ({ascii(lone)[1:-1]})")
    return sorted(found)


def _path(link: _Link) -> JsonPath:
    keys: list[str | int] = []
    while link is not None:
        key, link = link
        keys.append(key)
    return tuple(reversed(keys))


def _fail(reasons: list[str]) -> AnswerError:
    shown = "; ".join(reasons[:_MAX_REASONS])
    more = f" (+{len(reasons) - _MAX_REASONS} more)" if len(reasons) > _MAX_REASONS else ""
    return AnswerError(f"invalid answer: {shown}{more}")


def parse_answer(data: Any, dialplan: Dialplan, *, source: str = "webhook") -> Step | Menu:
    """The step or temporary menu ``data`` describes; raise :class:`AnswerError` if it cannot run."""
    try:
        return _parse(data, dialplan, source)
    except RecursionError:  # steps nested thousands deep (the schema and builder recurse)
        raise _fail(["nested too deeply"]) from None


def _parse(data: Any, dialplan: Dialplan, source: str) -> Step | Menu:
    reasons = _text_problems(data)
    if reasons:
        raise _fail(reasons)
    if isinstance(data, dict) and "menu" in data:
        return _menu_answer(data, dialplan, source)
    reasons = _schema_errors("step", data, ())
    if reasons:
        raise _fail(reasons)
    doc = Located(file=Path(source), data=data)
    checker = _check(doc, dialplan, lambda checker: checker.check_step(data, (), _collected(dialplan)))
    return _Builder(doc, checker.speech).step(data, ())


def _menu_answer(data: dict[str, Any], dialplan: Dialplan, source: str) -> Menu:
    extra = sorted(set(data) - ANSWER_MENU_KEYS)
    if extra:
        raise _fail([f"unknown key {key!r} next to menu (allowed: menu, name)" for key in extra])
    name = data.get("name", ANSWER_MENU_NAME)
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise _fail([f"name: {name!r} is not an identifier"])
    if name in dialplan.menus:
        raise _fail([f"name: {name!r} is a menu of the dialplan already"])
    raw = data["menu"]
    reasons = _schema_errors("menu", raw, ("menu",))
    if reasons:
        raise _fail(reasons)
    doc = Located(file=Path(source), data={"menus": {name: raw}})
    checker = _check(doc, dialplan, lambda c: c.check_menu(name, raw, _collected(dialplan, raw)), name)
    return _Builder(doc, checker.speech).menu(name, raw)


def _collected(dialplan: Dialplan, extra: dict[str, Any] | None = None) -> set[str]:
    names = {menu.collect.variable for menu in dialplan.menus.values() if menu.collect is not None}
    variable = ((extra or {}).get("collect") or {}).get("variable")
    return names | ({variable} if isinstance(variable, str) else set())


class _AnswerSpeech(SpeechChecks):
    """Speech checks for an answer, which is checked inside the running call: no rendering
    here (the runner does no I/O; a ``say`` of an answer is rendered at call time, through the
    driver's cache, like text with variables), and the recorded words only if the dialplan
    loaded them (its say-digits / say-number resolve against ``Dialplan.words``)."""

    def __init__(self, dialplan: Dialplan, fail: Callable[[JsonPath, str], None]) -> None:
        super().__init__(SpeechOptions(), fail)
        self.words = dialplan.words

    def render(self, text: str, where: JsonPath) -> None:
        return None  # at call time: the item is built with no static rendering

    def need_words(self, kind: str, where: JsonPath) -> None:
        if not self.words:
            self.fail(where, f"{kind} in an answer needs a dialplan that uses {kind} itself (its words)")


def _check(doc: Located, dialplan: Dialplan, run: Any, menu: str | None = None) -> Checker:
    """The dialplan's semantic checks, run against the running dialplan's prompts and menus."""
    issues: list[Issue] = []
    checker = Checker(doc, issues)
    checker.speech = _AnswerSpeech(dialplan, checker.speech.fail)  # (not checker.fail: a cycle)
    checker.prompts = {name: {} for name in dialplan.prompts}  # only the names are looked at
    checker.menus = {name: {} for name in (*dialplan.menus, *((menu,) if menu else ()))}
    checker.language.names_from_the_call()  # an answer's {name}s are the live call's variables
    run(checker)
    if issues:
        raise _fail([issue.reason for issue in issues])
    return checker
