"""The validated dialplan: what a loaded YAML file means, as frozen values.

Everything here has passed the JSON Schema and the semantic checks of ``loader``, so the
interpreter never meets a dangling ``goto`` or an unknown prompt at call time.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, ValuesView
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tui_engine.media.prompts import Prompt
    from tui_engine.menus.record import RecordStep
    from tui_engine.menus.switch import Switch
    from tui_engine.menus.voicemail import VoicemailStep

from tui_engine.menus.webhook import WebhookSpec


class HangupReason(enum.Enum):
    """Why a call ended; the glue logs it and counts it in metrics."""

    #: no input for ``max-attempts`` silent periods (the Genesys TUI "30 s" case).
    INACTIVITY_TIMEOUT = "inactivity-timeout"
    #: invalid input ``max-invalid`` times (FreeSWITCH ``max-failures``), or failed logins.
    MAX_INVALID = "max-invalid"
    #: the dialplan reached a ``hangup: completed`` step.
    COMPLETED = "completed"
    #: the call was handed to another SIP URI.
    TRANSFER = "transfer"
    #: the caller hung up first (BYE / CANCEL).
    CALLER_HANGUP = "caller-hangup"
    #: RTP could not be sent to the caller any more (media-failed): the call cannot be heard.
    MEDIA_FAILED = "media-failed"
    #: something went wrong on our side.
    ERROR = "error"


@dataclass(frozen=True, kw_only=True, slots=True)
class PromptRef:
    """One prompt file: ``path`` (absolute), its ``text`` transcript and its ``duration`` in seconds."""

    name: str
    path: Path
    text: str | None = None
    duration: float = 0.0
    #: speech rendered in memory (``say:``): played instead of reading ``path``
    audio: Prompt | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SayItem:
    """A spoken prompt item (menus/speech.py): ``{say: ...}``, ``{say-digits: ...}``, ``{say-number: ...}``.

    ``template`` is rendered with the call's variables (menus/template.py); a ``say`` without
    placeholders was rendered at load into ``static``.
    """

    kind: Literal["say", "say-digits", "say-number"]
    template: str
    static: PromptRef | None = None


#: One item of a prompt sequence: a prompt name, or something spoken.
PromptItem = str | SayItem


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Overrides of :class:`~tui_engine.menus.runner.MenuDefaults`; ``None`` means "inherit"."""

    no_input_timeout: float | None = None
    max_attempts: int | None = None
    max_invalid: int | None = None
    inter_digit_timeout: float | None = None
    barge_in: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthStep:
    """Ask the glue to check ``mailbox`` + ``pin`` (variable names); ``max_failures`` tries per call."""

    mailbox: str
    pin: str
    max_failures: int
    on_success: Step
    on_failure: Step
    on_max_failures: Step | None  # None: goodbye, then hang up with reason max-invalid
    key: str  # where it is written (file:line): names its failure counter


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """``set`` variables, play ``play`` (may be empty), then exactly one of goto / hangup /
    transfer / authenticate / switch / webhook.

    With none of them, the step re-enters the menu it was taken from ("play, then back").
    ``transfer`` is a template (``sip:{target}@pbx``), checked to be a SIP URI once rendered.
    """

    set: tuple[tuple[str, str], ...] = ()  # (variable, template), applied in order
    play: tuple[PromptItem, ...] = ()  # a step's ``say:`` is its last item
    goto: str | None = None
    hangup: HangupReason | None = None
    transfer: str | None = None
    authenticate: AuthStep | None = None
    switch: Switch | None = None
    record: RecordStep | None = None
    voicemail: VoicemailStep | None = None
    webhook: WebhookSpec | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Collect:
    """Collect digits into ``variable`` (Asterisk ``Read``, VoiceXML ``<field>`` with DTMF grammar)."""

    variable: str
    min_digits: int = 1
    max_digits: int = 1
    terminator: str = "#"  # "" = no terminator key


@dataclass(frozen=True, kw_only=True, slots=True)
class Menu:
    """One menu: choices by key, a digit collection followed by ``next``, or (neither) an
    announcement whose ``next`` runs once its prompts have played."""

    name: str
    prompts: tuple[tuple[PromptItem, ...], ...]  # attempt n plays prompts[n-1]; the last one repeats
    choices: Mapping[str, Step] = field(default_factory=dict)
    collect: Collect | None = None
    next: Step | None = None
    invalid: tuple[PromptItem, ...] | None = None  # None: the dialplan's invalid prompt
    on_no_input: Step | None = None  # None: goodbye, then hang up (inactivity-timeout)
    on_max_invalid: Step | None = None  # None: goodbye, then hang up (max-invalid)
    #: None: the dialplan's transfer-failed prompt (else its invalid prompt), then this menu again
    on_transfer_failed: Step | None = None
    #: None: the dialplan's webhook-failed prompt (else its invalid prompt), then this menu again
    on_webhook_failed: Step | None = None
    settings: Settings = Settings()
    line: int = 1
    #: a switch menu: this step (set + switch) runs as soon as the menu is entered; no prompts
    route: Step | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Demo:
    """Credentials the simulator's demo verifier accepts."""

    mailbox: str | None = None
    pin: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Dialplan:
    """A loaded dialplan file; prompt names in menus and steps are keys of ``prompts``."""

    name: str
    path: Path
    start: str
    menus: Mapping[str, Menu]
    prompts: Mapping[str, PromptRef]
    numbers: tuple[str, ...] = ()
    goodbye: tuple[PromptItem, ...] = ()
    invalid: tuple[PromptItem, ...] = ()
    transfer_failed: tuple[PromptItem, ...] = ()  # () : the invalid prompt
    webhook_failed: tuple[PromptItem, ...] = ()  # () : the invalid prompt
    settings: Settings = Settings()
    demo: Demo | None = None
    #: the recorded words of say-digits / say-number (menus/numbers.py), when the dialplan uses them
    words: Mapping[str, PromptRef] = field(default_factory=dict)
    #: variables a call starts with (declared, e.g. for what a webhook sets), by name
    variables: Mapping[str, str] = field(default_factory=dict)
    #: IANA zone of the clock variables (``time``, ``weekday``...); None: the engine's option
    time_zone: str | None = None

    def resolve(self, names: tuple[str, ...]) -> tuple[PromptRef, ...]:
        """The prompt files for ``names`` (validated at load, so never a missing key)."""
        return tuple(self.prompts[n] for n in names)

    def prompt_paths(self) -> tuple[Path, ...]:
        """Every distinct prompt file (number words included), sorted (for converting them once, up front)."""
        return tuple(sorted({p.path for p in (*self.prompts.values(), *self.words.values())}))


@dataclass(frozen=True, slots=True)
class DialplanSet:
    """All dialplans of a directory, by name; ``pick`` maps a Request-URI user part to one.

    Iterating gives the names (like a mapping); ``values()`` the dialplans.
    """

    by_name: Mapping[str, Dialplan]
    default_name: str | None = None

    def __getitem__(self, name: str) -> Dialplan:
        return self.by_name[name]

    def __len__(self) -> int:
        return len(self.by_name)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_name)

    def values(self) -> ValuesView[Dialplan]:
        return self.by_name.values()

    @property
    def default(self) -> Dialplan | None:
        """The dialplan that takes calls no name or number matches (``None``: answer 404)."""
        return None if self.default_name is None else self.by_name.get(self.default_name)

    def pick(self, user: str | None) -> Dialplan | None:
        """The dialplan for the Request-URI user part (RFC 3261 §19.1.1): by name, then by
        ``numbers``, else the default dialplan (``None`` when there is none: answer 404)."""
        if user:
            if user in self.by_name:
                return self.by_name[user]
            for plan in self.by_name.values():
                if user in plan.numbers:
                    return plan
        return self.default
