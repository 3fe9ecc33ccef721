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
#: the longest value read by say-digits / say-number (a collect entry is at most 64 digits) and
#: the longest say text once rendered: beyond them an item is skipped, not read for minutes
MAX_DIGITS = 64
MAX_SAY = 1000
PROBE = "probe"  # rendered once when say: text has variables, to check espeak-ng and the voice

Kind = Literal["say", "say-digits", "say-number"]
#: what a driver answers per text of a ``Speak``: the prompt, or why it failed (``None``: no reason)
Rendered = PromptRef | str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class SpeechOptions:
    """What loading needs to know of speech: the espeak-ng voice and the number words' language."""

    voice: Voice = field(default_factory=Voice)
    language: str = "en"
    #: longest a load-time rendering may take
    timeout: float = 10.0
    #: False for dialplans built while a call runs (e.g. a menu from a webhook answer): no
    #: blocking espeak-ng there; static ``say`` text is then rendered by the call like the rest
    render_at_load: bool = True


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
            if self.options.render_at_load:
                self.render(template if not names else PROBE, where)
            return
        self.need_words(kind, where)
        if not names and kind == "say-number":
            try:
                number_words(template)
            except NotANumber as exc:
                self.fail(where, f"say-number: {exc} (write a number or a {{variable}})")

    def render(self, text: str, where: JsonPath) -> None:
        """Render static text now; for text with variables (``PROBE``), check espeak-ng and the
        voice work, so ``tui-engine check`` finds them missing before a call does."""
        if text in self.rendered:
            return
        voice = self.options.voice.name
        try:
            self.rendered[text] = render_sync(text, self.options.voice, self.options.timeout)
        except PromptError as exc:
            what = "cannot speak" if text == PROBE else f"cannot render {text!r}"
            self.fail(where, f"say: {what} with voice {voice!r}: {exc.reason}")

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

    def all_words(self) -> Mapping[str, PromptRef]:
        """The words of the language whether or not this file uses them (a menu built later
        during the call may), or none when they are not shipped."""
        if self.words or self.options.language not in LANGUAGES:
            return self.words
        try:
            return word_prompts(self.options.language)
        except PromptError:
            return {}

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
        self, rendered: Mapping[str, Rendered], why: str
    ) -> tuple[tuple[PromptRef, ...], list[SpeechSkipped]]:
        """The prompts once rendered; a text that failed (its reason, ``None`` or missing:
        ``why``) is skipped."""
        refs: list[PromptRef] = []
        skipped: list[SpeechSkipped] = []
        for part in self.parts:
            got = part if isinstance(part, PromptRef) else rendered.get(part)
            if isinstance(got, PromptRef):
                refs.append(got)
            elif not any(s.text == part for s in skipped):
                reason = got if isinstance(got, str) else why
                skipped.append(SpeechSkipped(kind="say", text=str(part), why=reason))
        return tuple(refs), skipped


def resolve(plan: Dialplan, items: tuple[PromptItem, ...], variables: Mapping[str, str]) -> Resolution:
    """``items`` with the call's ``variables`` → prompt files and texts to render (no I/O)."""
    parts: list[PromptRef | str] = []
    skipped: list[SpeechSkipped] = []
    for item in items:
        if isinstance(item, str):
            parts.append(plan.prompts[item])
            continue
        if item.static is not None:
            parts.append(item.static)
            continue
        text = render(item.template, variables)
        limit = MAX_SAY if item.kind == "say" else MAX_DIGITS
        said = _words(plan, item.kind, text) if len(text) <= limit else f"longer than {limit} characters"
        if isinstance(said, str):  # a value from outside (webhook, caller ID) must not hold the call
            skipped.append(SpeechSkipped(kind=item.kind, text=text[:limit], why=said))
        else:
            parts += said
    return Resolution(parts=tuple(parts), skipped=tuple(skipped))


def _words(plan: Dialplan, kind: Kind, text: str) -> list[PromptRef | str] | str:
    """The parts for one rendered item (``say``: the text to render), or why it cannot be said."""
    if kind == "say":
        return [text] if text.strip() else []
    try:
        words = digit_words(text) if kind == "say-digits" else number_words(text)
    except NotANumber as exc:
        return str(exc)
    if not all(w in plan.words for w in words):
        return "no recorded words loaded"
    return [plan.words[w] for w in words]
