"""Turn located, already validated YAML data into the frozen :mod:`model` values."""

from __future__ import annotations

from typing import Any

from tui_engine.config.values import parse_duration
from tui_engine.menus.model import (
    AuthStep,
    Collect,
    Demo,
    Dialplan,
    HangupReason,
    Menu,
    PromptItem,
    PromptRef,
    Settings,
    Step,
)
from tui_engine.menus.record import build_record
from tui_engine.menus.speech import SpeechChecks
from tui_engine.menus.switch import build_switch
from tui_engine.menus.variables import build_set
from tui_engine.menus.voicemail import build_voicemail
from tui_engine.menus.webhook import build_webhook
from tui_engine.menus.yamlnodes import JsonPath, Located

_Raw = str | dict[str, Any] | list[str | dict[str, Any]] | None


def build_settings(raw: dict[str, Any]) -> Settings:
    def seconds(key: str) -> float | None:
        return None if key not in raw else parse_duration(raw[key])

    return Settings(
        no_input_timeout=seconds("no-input-timeout"),
        max_attempts=raw.get("max-attempts"),
        max_invalid=raw.get("max-invalid"),
        inter_digit_timeout=seconds("inter-digit-timeout"),
        barge_in=raw.get("barge-in"),
    )


class _Builder:
    def __init__(self, doc: Located, speech: SpeechChecks) -> None:
        self.doc = doc
        self.speech = speech

    def items(self, value: _Raw) -> tuple[PromptItem, ...]:
        """A prompt sequence: a name, a spoken item, or a list of them."""
        if value is None:
            return ()
        return tuple(map(self.speech.build, value if isinstance(value, list) else [value]))

    def step(self, raw: dict[str, Any], path: JsonPath) -> Step:
        auth = raw.get("authenticate")
        hangup = raw.get("hangup")
        switch = raw.get("switch")
        webhook = None if "webhook" not in raw else build_webhook(raw["webhook"], (*path, "webhook"), self)
        say = () if "say" not in raw else (self.speech.build({"say": raw["say"]}),)
        return Step(
            set=build_set(raw.get("set")),
            play=self.items(raw.get("play")) + say,
            goto=raw.get("goto"),
            hangup=None if hangup is None else HangupReason(hangup),
            transfer=raw.get("transfer"),
            authenticate=None if auth is None else self.auth(auth, (*path, "authenticate")),
            switch=None if switch is None else build_switch(switch, (*path, "switch"), self.step),
            record=self.nested(raw, "record", path, build_record),
            voicemail=self.nested(raw, "voicemail", path, build_voicemail),
            webhook=webhook,
        )

    def nested(self, raw: dict[str, Any], key: str, path: JsonPath, build: Any) -> Any:
        """A feature's own builder for ``raw[key]``, given how to build its nested steps."""
        if key not in raw:
            return None
        return build(raw[key], lambda sub, name: self.step(sub, (*path, key, name)))

    def optional_step(self, raw: dict[str, Any], key: str, path: JsonPath) -> Step | None:
        return self.step(raw[key], (*path, key)) if key in raw else None

    def auth(self, raw: dict[str, Any], path: JsonPath) -> AuthStep:
        line, column = self.doc.where(path)
        return AuthStep(
            mailbox=raw["mailbox"],
            pin=raw["pin"],
            max_failures=raw.get("max-failures", 3),
            on_success=self.step(raw["on-success"], (*path, "on-success")),
            on_failure=self.step(raw["on-failure"], (*path, "on-failure")),
            on_max_failures=self.optional_step(raw, "on-max-failures", path),
            key=f"{self.doc.file.name}:{line}:{column}",
        )

    def menu(self, name: str, raw: dict[str, Any]) -> Menu:
        path: JsonPath = ("menus", name)
        collect = raw.get("collect")
        invalid = raw.get("invalid")
        return Menu(
            name=name,
            prompts=tuple(self.items(item) for item in raw.get("prompts", ())),
            choices={key: self.step(s, (*path, "choices", key)) for key, s in raw.get("choices", {}).items()},
            collect=None if collect is None else self.collect(collect),
            next=self.optional_step(raw, "next", path),
            invalid=None if invalid is None else self.items(invalid),
            on_no_input=self.optional_step(raw, "on-no-input", path),
            on_max_invalid=self.optional_step(raw, "on-max-invalid", path),
            on_transfer_failed=self.optional_step(raw, "on-transfer-failed", path),
            on_webhook_failed=self.optional_step(raw, "on-webhook-failed", path),
            settings=build_settings(raw),
            line=self.doc.where(path)[0],
            route=self.step(raw, path) if "switch" in raw else None,
        )

    @staticmethod
    def collect(raw: dict[str, Any]) -> Collect:
        return Collect(
            variable=raw["variable"],
            min_digits=raw.get("min-digits", 1),
            max_digits=raw["max-digits"],
            terminator=raw.get("terminator", "#"),
        )


def build_dialplan(doc: Located, durations: dict[str, float], speech: SpeechChecks) -> Dialplan:
    """The model of a file that passed every check (``durations``: seconds per prompt name;
    ``speech``: the spoken items rendered and the number words found by the checks)."""
    data: dict[str, Any] = doc.data
    base = doc.file.parent.resolve()
    builder = _Builder(doc, speech)
    prompts = {
        name: PromptRef(name=name, path=base / spec["file"], text=spec.get("text"), duration=durations[name])
        for name, spec in data["prompts"].items()
    }
    menus = {name: builder.menu(name, raw) for name, raw in data["menus"].items()}
    demo = data.get("demo")
    return Dialplan(
        name=data.get("name", doc.file.stem),
        path=doc.file,
        start=data.get("start", next(iter(menus))),
        menus=menus,
        prompts=prompts,
        numbers=tuple(data.get("numbers", ())),
        goodbye=builder.items(data.get("goodbye")),
        invalid=builder.items(data.get("invalid")),
        transfer_failed=builder.items(data.get("transfer-failed")),
        webhook_failed=builder.items(data.get("webhook-failed")),
        settings=build_settings(data.get("settings", {})),
        demo=None if demo is None else Demo(mailbox=demo.get("mailbox"), pin=demo.get("pin")),
        variables={name: str(value) for name, value in data.get("variables", {}).items()},
        time_zone=data.get("time-zone"),
        words=speech.all_words(),
    )
