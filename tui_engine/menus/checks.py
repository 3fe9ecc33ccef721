"""Semantic checks the JSON Schema cannot express, run on the located raw data.

They are written defensively (every access type-checked) so that they also run on a file
that failed the schema: the author sees every problem of a file in one report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_engine.media.errors import PromptError
from tui_engine.media.wav import read_wav
from tui_engine.menus.errors import Issue
from tui_engine.menus.langchecks import LanguageChecks
from tui_engine.menus.record import check_record
from tui_engine.menus.speech import SpeechChecks, SpeechOptions
from tui_engine.menus.webhook import check_webhook
from tui_engine.menus.yamlnodes import JsonPath, Located

_TERMINALS = ("goto", "hangup", "transfer", "authenticate", "switch", "webhook", "record", "voicemail")
_FEATURE_STEPS = {"record": ("next", "on-no-speech", "on-failed"), "voicemail": ("then", "on-failure")}
_STEP_KEYS = ("on-no-input", "on-max-invalid", "on-transfer-failed", "on-webhook-failed", "next")
_AUTH_STEPS = ("on-success", "on-failure", "on-max-failures")


def prompt_duration(path: Path) -> float:
    """Seconds of audio in a prompt file; raises ``PromptError`` if it is not a usable WAV."""
    return read_wav(path).duration


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, str | dict[str, Any]]]:
    """Items of a prompt sequence (a name, a spoken item, or a list of them)."""
    if isinstance(value, str | dict):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str | dict):
                yield (*path, i), item


@dataclass(frozen=True, slots=True)
class _Failer:
    """``fail(path, reason)`` into ``issues``, holding no reference to the checker."""

    doc: Located
    issues: list[Issue]

    def __call__(self, path: JsonPath, reason: str, *, key: bool = False) -> None:
        self.issues.append(self.doc.issue(path, reason, key=key))


class Checker:
    """Collects issues for one file; ``durations`` maps each readable prompt to its length."""

    def __init__(self, doc: Located, issues: list[Issue], speech: SpeechOptions | None = None) -> None:
        self.doc = doc
        self.issues = issues
        # not self.fail: checker -> speech -> bound method -> checker is a reference cycle, and
        # the engine runs with automatic full collections off (runtime/gc_policy); a checker is
        # made for every webhook answer
        self._fail = _Failer(doc, issues)
        self.speech = SpeechChecks(speech or SpeechOptions(), self._fail)
        self.durations: dict[str, float] = {}
        self.data = _dict(doc.data)
        self.menus = _dict(self.data.get("menus"))
        self.prompts = _dict(self.data.get("prompts"))
        self.language = LanguageChecks(self, _STEP_KEYS)  # set, switch, templates (langchecks.py)

    def fail(self, path: JsonPath, reason: str, *, key: bool = False) -> None:
        self._fail(path, reason, key=key)

    def run(self) -> None:
        self.check_prompt_files()
        start = self.data.get("start")
        if isinstance(start, str) and start not in self.menus:
            self.fail(("start",), f"start menu {start!r} is not defined in menus")
        for key in ("goodbye", "invalid", "transfer-failed", "webhook-failed"):
            self.check_sequence(self.data.get(key), (key,))
        collected = self.collected_variables()
        for name, menu in self.menus.items():
            if isinstance(menu, dict):
                self.check_menu(name, menu, collected)
        self.language.run()

    # -- prompts -----------------------------------------------------------------------
    def check_prompt_files(self) -> None:
        base = self.doc.file.parent.resolve()
        for name, spec in self.prompts.items():
            file = _dict(spec).get("file")
            if not isinstance(file, str) or not file:
                continue
            where: JsonPath = ("prompts", name, "file")
            target = (base / file).resolve()
            if not target.is_relative_to(base):
                self.fail(where, f"prompt file {file!r} must be inside the dialplan's directory")
            elif not target.is_file():
                self.fail(where, f"prompt file {file!r} not found next to the dialplan ({target})")
            else:
                try:
                    self.durations[name] = prompt_duration(target)
                except PromptError as exc:
                    self.fail(where, f"prompt file {file!r}: {exc.reason}")

    def check_sequence(self, value: Any, path: JsonPath) -> None:
        for where, name in _sequence(value, path):
            if isinstance(name, dict):
                self.speech.item(name, where)
            elif name not in self.prompts:
                self.fail(where, f"unknown prompt {name!r} (not defined under prompts)")

    # -- menus and steps ---------------------------------------------------------------
    def collected_variables(self) -> set[str]:
        names = set()
        for menu in self.menus.values():
            variable = _dict(_dict(menu).get("collect")).get("variable")
            if isinstance(variable, str):
                names.add(variable)
        return names

    def check_menu(self, name: str, menu: dict[str, Any], collected: set[str]) -> None:
        base: JsonPath = ("menus", name)
        prompts = menu.get("prompts")
        if isinstance(prompts, list):
            for i, item in enumerate(prompts):
                self.check_sequence(item, (*base, "prompts", i))
        self.check_sequence(menu.get("invalid"), (*base, "invalid"))
        if "switch" in menu:  # a switch menu is one step, run on entry
            self.check_step(menu, base, collected)
        else:
            self.check_menu_kind(base, menu)
        for key, step in _dict(menu.get("choices")).items():
            self.check_step(step, (*base, "choices", key), collected)
        for key in _STEP_KEYS:
            if key in menu:
                self.check_step(menu[key], (*base, key), collected)

    def check_menu_kind(self, base: JsonPath, menu: dict[str, Any]) -> None:
        collect = menu.get("collect")
        if collect is None:
            if "choices" not in menu and "next" not in menu:
                self.fail(base, "a menu needs choices, collect, or next (an announcement)")
            if "choices" in menu and "next" in menu:
                why = "next is for collect menus and announcements, not with choices"
                self.fail((*base, "next"), why, key=True)
            return
        if "choices" in menu:
            self.fail((*base, "choices"), "a menu has either choices or collect, not both", key=True)
        if "next" not in menu:
            self.fail((*base, "collect"), "a collect menu needs next (the step after the digits)", key=True)
        spec = _dict(collect)
        low, high = spec.get("min-digits", 1), spec.get("max-digits")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            self.fail((*base, "collect", "min-digits"), f"min-digits {low} is above max-digits {high}")

    def check_step(self, step: Any, path: JsonPath, collected: set[str]) -> None:
        if not isinstance(step, dict):
            return
        self.check_sequence(step.get("play"), (*path, "play"))
        if isinstance(step.get("say"), str):
            self.speech.text("say", step["say"], (*path, "say"))
        terminals = [key for key in _TERMINALS if key in step]
        if len(terminals) > 1:
            self.fail(path, f"a step does one thing after play; found {', '.join(terminals)}")
        target = step.get("goto")
        if isinstance(target, str) and target not in self.menus:
            self.fail((*path, "goto"), f"goto target {target!r} is not a menu of this dialplan")
        auth = step.get("authenticate")
        if isinstance(auth, dict):
            self.check_auth(auth, (*path, "authenticate"), collected)
        self.language.check_step(step, path)
        webhook = step.get("webhook")
        if isinstance(webhook, dict):
            check_webhook(self, webhook, (*path, "webhook"), collected)
        if isinstance(step.get("record"), dict):
            check_record(self, step["record"], (*path, "record"))
        for feature, keys in _FEATURE_STEPS.items():
            spec = _dict(step.get(feature))
            for key in keys:
                if key in spec:
                    self.check_step(spec[key], (*path, feature, key), collected)

    def check_auth(self, auth: dict[str, Any], path: JsonPath, collected: set[str]) -> None:
        for key in ("mailbox", "pin"):
            variable = auth.get(key)
            if isinstance(variable, str) and variable not in collected:
                self.fail((*path, key), f"variable {variable!r} is not collected by any menu")
        for key in _AUTH_STEPS:
            if key in auth:
                self.check_step(auth[key], (*path, key), collected)
