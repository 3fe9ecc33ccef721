"""The ``voicemail`` step: mailbox operations, asked of the driver and answered back.

The runner stays sans-I/O: a ``voicemail:`` step returns a :class:`MailboxRequest`; the driver
performs it on its :class:`Mailboxes` (``tui_engine.voicemail``'s store in real calls, ``simulate``
and :class:`~tui_engine.menus.testing.MenuHarness`) and calls ``MenuRunner.mailbox_result``. While it
runs the no-input timer is held (the system is working, not the caller silent).

Operations (Asterisk ``VoiceMailMain``'s, reduced): ``open`` (counts: ``new_messages``,
``old_messages``, ``messages``; ``message`` = 1, the first new message first), ``play`` (the current
message, which becomes old), ``next``, ``delete`` (the current one), ``greeting`` (play the
mailbox's greeting), ``save-greeting`` (the last ``record``'s ``{recording}`` becomes it) and
``room`` (fails when the mailbox, the store or the disk cannot take another message).
A failed operation (no such message, no greeting, a disk error) runs ``on-failure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tui_engine.menus.model import PromptRef

if TYPE_CHECKING:
    from tui_engine.menus.model import Step
    from tui_engine.menus.record import StopRecording

OPERATIONS = ("open", "play", "next", "delete", "greeting", "save-greeting", "room")
#: the variables ``voicemail`` operations set (for ``check``'s known names)
VOICEMAIL_VARIABLES = (
    "new_messages", "old_messages", "messages", "message", "message_ids", "message_from", "message_length",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class VoicemailStep:
    """``voicemail: {op: ..., mailbox: "{mailbox}", then: step, on-failure: step}``."""

    op: str
    mailbox: str = "{mailbox}"
    then: Step | None = None  # None: back to the menu
    on_failure: Step | None = None  # None: the dialplan's invalid prompt, then the menu again


@dataclass(frozen=True, kw_only=True, slots=True)
class MailboxRequest:
    """Perform ``op`` on ``mailbox`` with the call's ``variables`` (``message``, ``message_ids``,
    ``recording``), then call ``MenuRunner.mailbox_result``."""

    op: str
    mailbox: str
    variables: Mapping[str, str]


@dataclass(frozen=True, kw_only=True, slots=True)
class MailboxResult:
    """``values`` go into the call's variables; ``audio`` plays before the step's ``then``."""

    ok: bool
    values: Mapping[str, str] = field(default_factory=dict)
    audio: tuple[PromptRef, ...] = ()
    why: str = ""


class Mailboxes(Protocol):
    """What a driver performs mailbox operations and recordings with."""

    def perform(self, request: MailboxRequest) -> MailboxResult: ...

    def save_recording(self, stop: StopRecording, pcm16: bytes, *, caller: str, name: str) -> str:
        """Write a kept recording (a new message of ``stop.mailbox`` when set); its path.
        Raises ``OSError`` (or ``ValueError`` for a bad mailbox) when it cannot."""
        ...


def build_voicemail(raw: dict[str, Any], step: Any) -> VoicemailStep:
    """``raw`` passed the schema; ``step(raw, key)`` builds a nested step (the builder's)."""
    return VoicemailStep(
        op=raw["op"],
        mailbox=raw.get("mailbox", "{mailbox}"),
        then=step(raw["then"], "then") if "then" in raw else None,
        on_failure=step(raw["on-failure"], "on-failure") if "on-failure" in raw else None,
    )
