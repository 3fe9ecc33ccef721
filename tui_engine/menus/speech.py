"""Spoken prompt items: ``{say: "text {var}"}``, ``{say-digits: "{entry}"}``, ``{say-number: "{count}"}``.

Where they are handled:

* load (:class:`SpeechChecks`, called by ``checks.Checker``): each item's template is checked
  (file:line); ``say`` text without placeholders is rendered with espeak-ng right away, so a
  missing espeak-ng, a bad voice or a failure is a load error and its duration is known;
  ``say-digits``/``say-number`` need the recorded words of ``speech-language``
  (only ``en`` ships: another language is refused at load);
* call time (:func:`resolve`, called by the runner, no I/O): prompt names and number words
  become prompt files at once; ``say`` text with variables is rendered by the driver
  (:class:`~tui_engine.menus.actions.Speak`) before the sequence plays. A value that cannot be
  said (``say-number`` of ``"abc"``) or a rendering that fails or runs out of time is skipped
  (:class:`~tui_engine.menus.actions.SpeechSkipped`, logged once by the driver); the rest of
  the sequence plays and the dialplan goes on: a caller is never kept waiting for speech.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from tui_engine.media.errors import PromptError
from tui_engine.media.prompts import Prompt
from tui_engine.media.tts import Voice, render_sync
from tui_engine.media.wav import read_wav
from tui_engine.menus.actions import SpeechSkipped
from tui_engine.menus.model import Dialplan, PromptItem, PromptRef, SayItem
from tui_engine.menus.numbers import LANGUAGES, WORDS, NotANumber, digit_words, number_words
from tui_engine.menus.template import TemplateError, placeholders, render
from tui_engine.menus.yamlnodes import JsonPath

#: The recorded words of say-digits / say-number: ``<language>/<word>.wav``.
WORDS_DIR = Path(__file__).resolve().parent.parent / "dialplans" / "prompts" / "common" / "digits"
KINDS = ("say", "say-digits", "say-number")
SAY_SOURCE = Path("say")  # the "file" of a rendered prompt in logs and ``simulate``

Kind = Literal["say", "say-digits", "say-number"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SpeechOptions:
    """What loading needs to know of speech: the espeak-ng voice and the number words' language."""

    voice: Voice = field(default_factory=Voice)
    language: str = "en"
    #: longest a load-time rendering may take
    timeout: float = 10.0


def spoken(text: str, prompt: Prompt) -> PromptRef:
    """The prompt reference of ``text`` rendered to ``prompt`` (in memory, no file)."""
    return PromptRef(name="say", path=SAY_SOURCE, text=text, duration=prompt.duration, audio=prompt)


@functools.cache
def word_prompts(language: str) -> Mapping[str, PromptRef]:
    """The recorded words of ``language`` with their durations; raises ``PromptError``."""
    base = WORDS_DIR / language
    refs = {}
    for name, text in WORDS.items():
        path = base / f"{name}.wav"
        refs[name] = PromptRef(name=name, path=path, text=text, duration=read_wav(path).duration)
    return refs


# -- load time ------------------------------------------------------------------------------
class SpeechChecks:
    """The load-time half: checks every spoken item, renders static ``say`` text, keeps the results."""

    def __init__(self, options: SpeechOptions, fail: Callable[[JsonPath, str], None]) -> None:
        self.options = options
        self.fail = fail
        self.rendered: dict[str, Prompt] = {}
        self.words: Mapping[str, PromptRef] = {}

    def item(self, raw: dict[str, Any], path: JsonPath) -> None:
        """One ``{say...: template}`` mapping (the schema checks its shape; this its meaning)."""
        for kind in KINDS:
            template = raw.get(kind)
            if isinstance(template, str):
                self.text(cast(Kind, kind), template, (*path, kind))

    def text(self, kind: Kind, template: str, where: JsonPath) -> None:
        try:
            names = placeholders(template)
        except TemplateError as exc:
            self.fail(where, f"{kind}: {exc}")
            return
        if kind == "say":
            if not names:
                self.render(template, where)
            return
        self.need_words(kind, where)
        if not names and kind == "say-number":
            try:
                number_words(template)
            except NotANumber as exc:
                self.fail(where, f"say-number: {exc} (write a number or a {{variable}})")

    def render(self, text: str, where: JsonPath) -> None:
        if text in self.rendered:
            return
        try:
            self.rendered[text] = render_sync(text, self.options.voice, self.options.timeout)
        except PromptError as exc:
            self.fail(
                where, f"say: cannot render {text!r} with voice {self.options.voice.name!r}: {exc.reason}"
            )

    def need_words(self, kind: str, where: JsonPath) -> None:
        language = self.options.language
        if language not in LANGUAGES:
            shipped = ", ".join(repr(lang) for lang in LANGUAGES)
            self.fail(
                where,
                f"{kind} plays recorded words, shipped for {shipped} only; speech-language is {language!r}",
            )
            return
        if self.words:
            return
        try:
            self.words = word_prompts(language)
        except PromptError as exc:
            self.fail(where, f"{kind}: recorded word prompt missing or unusable: {exc}")

    # -- building ------------------------------------------------------------------------
    def build(self, value: Any) -> PromptItem:
        """A validated sequence item → a prompt name or a :class:`SayItem`."""
        if isinstance(value, str):
            return value
        kind, template = next((k, v) for k, v in value.items() if k in KINDS)
        static = self.rendered.get(template) if kind == "say" else None
        return SayItem(
            kind=kind, template=template, static=None if static is None else spoken(template, static)
        )


# -- call time ------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class Resolution:
    """A sequence resolved with the call's variables: ``parts`` are prompt files, or texts
    (``str``) the driver must render first; ``skipped`` what could not be said."""

    parts: tuple[PromptRef | str, ...]
    skipped: tuple[SpeechSkipped, ...] = ()

    @property
    def texts(self) -> tuple[str, ...]:
        """The texts to render, each once, in order."""
        return tuple(dict.fromkeys(p for p in self.parts if isinstance(p, str)))

    def fill(
        self, rendered: Mapping[str, PromptRef | None], why: str
    ) -> tuple[tuple[PromptRef, ...], list[SpeechSkipped]]:
        """The prompts once rendered (``None`` or missing: skipped, ``why``)."""
        refs: list[PromptRef] = []
        skipped: list[SpeechSkipped] = []
        for part in self.parts:
            if isinstance(part, PromptRef):
                refs.append(part)
            elif (ref := rendered.get(part)) is not None:
                refs.append(ref)
            elif not any(s.text == part for s in skipped):
                skipped.append(SpeechSkipped(kind="say", text=part, why=why))
        return tuple(refs), skipped


def resolve(plan: Dialplan, items: tuple[PromptItem, ...], variables: Mapping[str, str]) -> Resolution:
    """``items`` with the call's ``variables`` → prompt files and texts to render (no I/O)."""
    parts: list[PromptRef | str] = []
    skipped: list[SpeechSkipped] = []
    for item in items:
        if isinstance(item, str):
            parts.append(plan.prompts[item])
        elif item.static is not None:
            parts.append(item.static)
        else:
            text = render(item.template, variables)
            if item.kind == "say":
                if text.strip():
                    parts.append(text)
                continue
            try:
                words = digit_words(text) if item.kind == "say-digits" else number_words(text)
            except NotANumber as exc:
                skipped.append(SpeechSkipped(kind=item.kind, text=text, why=str(exc)))
                continue
            parts += [plan.words[w] for w in words]
    return Resolution(parts=tuple(parts), skipped=tuple(skipped))


def transcript(items: tuple[PromptItem, ...]) -> str:
    """A sequence as a dialplan author wrote it (for messages)."""
    return ", ".join(i if isinstance(i, str) else f"{{{i.kind}: {i.template!r}}}" for i in items)
