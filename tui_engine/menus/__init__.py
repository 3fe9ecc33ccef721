"""Phone menus: YAML dialplans (validated by JSON Schema + semantic checks) and the sans-I/O
interpreter :class:`MenuRunner` that real calls and ``simulate`` share.

The format is described in ``docs/dialplans.md``; the schema for editors is
``tui_engine/menus/dialplan.schema.json``.
"""

from tui_engine.menus.actions import (
    Action,
    AttemptsExhausted,
    Authenticate,
    DigitsCollected,
    GuardTripped,
    Hangup,
    MenuEntered,
    PlayPrompts,
    Reprompt,
    StopPlayback,
    SwitchTaken,
    Transfer,
    TransferFailed,
    VariablesSet,
)
from tui_engine.menus.errors import DialplanError, Issue, MenuError
from tui_engine.menus.loader import dialplan_schema, load_dialplan, load_dialplans
from tui_engine.menus.model import Dialplan, DialplanSet, HangupReason, Menu, PromptRef
from tui_engine.menus.runner import MenuRunner, Phase
from tui_engine.menus.settings import MenuDefaults
from tui_engine.menus.webhook import WebhookAnswered, WebhookFailed, WebhookRequest

__all__ = [
    "Action",
    "AttemptsExhausted",
    "Authenticate",
    "Dialplan",
    "DialplanError",
    "DialplanSet",
    "DigitsCollected",
    "GuardTripped",
    "Hangup",
    "HangupReason",
    "Issue",
    "Menu",
    "MenuDefaults",
    "MenuEntered",
    "MenuError",
    "MenuRunner",
    "Phase",
    "PlayPrompts",
    "PromptRef",
    "Reprompt",
    "StopPlayback",
    "SwitchTaken",
    "Transfer",
    "TransferFailed",
    "VariablesSet",
    "WebhookAnswered",
    "WebhookFailed",
    "WebhookRequest",
    "dialplan_schema",
    "load_dialplan",
    "load_dialplans",
]
