"""What :class:`~tui_engine.menus.runner.MenuRunner` asks its driver to do.

Every method of the runner returns a list of these, in order. The driver (the call glue or
``simulate``) performs them and reports back: ``prompt_finished`` after each
:class:`PlayPrompts`, ``auth_result`` after each :class:`Authenticate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui_engine.menus.model import PromptRef
from tui_engine.menus.record import StartRecording, StopRecording
from tui_engine.menus.voicemail import MailboxRequest
from tui_engine.menus.webhook import WebhookAnswered, WebhookFailed, WebhookRequest


@dataclass(frozen=True, kw_only=True, slots=True)
class PlayPrompts:
    """Play these prompts back to back; a digit may stop them when ``barge_in``.

    Exactly one ``prompt_finished`` call must follow, when the last one ends or playback stops.
    """

    prompts: tuple[PromptRef, ...]
    barge_in: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class StopPlayback:
    """Barge-in: stop the prompt now (then report ``prompt_finished(completed=False)``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MenuEntered:
    """The caller is now in ``menu`` (for logs and metrics)."""

    menu: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Reprompt:
    """No input for a whole period: ``menu`` is played again as attempt ``attempt`` of ``of``.

    ``due`` is when the silent period ended (lateness = now - due).
    """

    menu: str
    attempt: int
    of: int
    due: float


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptsExhausted:
    """The last no-input period of ``menu`` ended: the idle core's final decision (disconnect).

    ``then`` says what the menu's ``on-no-input`` does next: ``"hangup"`` (the default:
    goodbye, then ``Hangup``), ``"goto:MENU"``, ``"transfer"``, ``"authenticate"`` or ``"switch"``.
    """

    menu: str
    attempts: int
    due: float
    then: str = "hangup"


@dataclass(frozen=True, kw_only=True, slots=True)
class GuardTripped:
    """A call-wide guard expired (``guard``: max-call-duration, max-silence-total or
    media-timeout, also the end reason): goodbye, then ``Hangup(reason=guard)`` follow."""

    guard: str
    due: float
    limit: float


@dataclass(frozen=True, kw_only=True, slots=True)
class DigitsCollected:
    """A collect menu finished: ``variable`` now holds ``value`` (terminator excluded)."""

    var: str
    value: str


@dataclass(frozen=True, kw_only=True, slots=True)
class VariablesSet:
    """A step's ``set`` ran: ``values`` are the (name, value) pairs it wrote, in order."""

    values: tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class SwitchTaken:
    """A ``switch`` on ``variable`` saw ``value`` and took ``case`` (``None``: its default)."""

    variable: str
    value: str
    case: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Authenticate:
    """Check these credentials (asynchronously) and call ``auth_result(ok, now)``."""

    mailbox: str
    pin: str

    def __repr__(self) -> str:  # never put a PIN into logs
        return f"Authenticate(mailbox={self.mailbox!r}, pin='***')"


@dataclass(frozen=True, kw_only=True, slots=True)
class Transfer:
    """Hand the call to ``uri`` (REFER, RFC 3515). The runner then waits ``timeout`` seconds
    for the outcome: success ends the call (the SIP layer's BYE), ``transfer_failed`` or the
    timeout gives :class:`TransferFailed` and the menu's ``on-transfer-failed`` step."""

    uri: str
    timeout: float = 30.0


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferFailed:
    """The transfer to ``uri`` failed (``why``: e.g. ``603``, ``notify 486``, ``timeout``);
    the caller is back in the dialplan. ``due`` is when the failure was known."""

    uri: str
    why: str
    due: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Speak:
    """Render ``texts`` (``say:`` with variables, menus/speech.py) and call
    ``speech_rendered(id, {text: PromptRef or None}, now)``. Until then the caller is not idle
    (a prompt is about to play); past ``timeout`` the runner goes on without them."""

    id: int
    texts: tuple[str, ...]
    timeout: float


@dataclass(frozen=True, kw_only=True, slots=True)
class SpeechSkipped:
    """A spoken item could not be said (``kind``: say, say-digits, say-number; ``why``): the
    rest of the sequence plays. For logs: the call goes on."""

    kind: str
    text: str
    why: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Hangup:
    """The menu is over: end the call (BYE, RFC 3261 §15) with ``reason``.

    Reasons: inactivity-timeout, max-invalid, completed, transfer, caller-hangup, error,
    media-failed, and the call-wide guards' max-call-duration, max-silence-total, media-timeout.
    Every call's action stream ends with exactly one ``Hangup``.
    """

    reason: str


Action = (
    PlayPrompts
    | StopPlayback
    | MenuEntered
    | Reprompt
    | AttemptsExhausted
    | GuardTripped
    | DigitsCollected
    | VariablesSet
    | SwitchTaken
    | Authenticate
    | Transfer
    | TransferFailed
    | WebhookRequest
    | WebhookAnswered
    | WebhookFailed
    | Speak
    | SpeechSkipped
    | StartRecording
    | StopRecording
    | MailboxRequest
    | Hangup
)
