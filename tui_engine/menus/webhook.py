"""The ``webhook`` step, sans-I/O: what it is, how it is built and checked, and its wait.

A ``webhook`` step POSTs the call's state (:func:`request_payload`) to an HTTP(S) URL and acts
on the JSON answer: a step, or a whole menu (``{"menu": {...}}``), checked by
:mod:`tui_engine.menus.answers` with the dialplan's own schema and builder. The runner owns the
wait (:class:`WebhookWait`): the no-input timer is held (the application server working on the
caller's request is progress, not inactivity), a filler prompt plays after ``filler-delay``, and
past ``timeout`` the step's (else the menu's) ``on-webhook-failed`` runs. The HTTP client lives
in :mod:`tui_engine.tui.webhooks`; this module never does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from tui_engine.config.values import parse_duration
from tui_engine.menus.template import TemplateError, placeholders
from tui_engine.menus.yamlnodes import JsonPath

if TYPE_CHECKING:
    from tui_engine.menus.checks import Checker
    from tui_engine.menus.model import Menu, PromptItem, Step

#: the answer names a whole menu this way: ``{"menu": {...}, "name": "optional-identifier"}``
ANSWER_MENU_KEYS = frozenset({"menu", "name"})
#: the temporary menu's name when the answer gives none
ANSWER_MENU_NAME = "webhook"
#: webhooks in a row with no key from the caller and no no-input timer run between them (answers
#: that webhook again, an on-webhook-failed that webhooks): the next one is not sent, the apology
#: plays and the menu's no-input rules run. The wait holds the no-input timer and is not counted by
#: max-silence-total, so without this an application server (or a dialplan whose on-webhook-failed
#: webhooks a dead server) could keep a silent caller up until max-call-duration, or for ever.
MAX_WEBHOOK_CHAIN = 20


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookSpec:
    """A dialplan's ``webhook:`` (``None`` fields: the engine's ``webhook-*`` options)."""

    url: str  #: a ``{name}`` template (tui_engine.menus.template)
    timeout: float | None = None
    filler: tuple[PromptItem, ...] = ()  #: prompt(s) played while the request is out; () = none
    filler_delay: float | None = None
    on_failed: Step | None = None  #: None: the menu's on-webhook-failed, else apology + menu again


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookRequest:
    """POST ``payload`` (as JSON, signed) to ``url``; report back with
    ``webhook_answered(request_id, answer)`` or ``webhook_failed(request_id, why)``.

    The runner times the request out itself (``timeout`` after it was sent: a
    :class:`WebhookFailed` with ``why="timeout"``); the driver then cancels it."""

    request_id: int
    url: str
    payload: Mapping[str, Any]
    timeout: float


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookAnswered:
    """The answer to request ``request_id`` was valid; ``kind`` is ``"step"`` or ``"menu"``."""

    request_id: int
    url: str
    kind: str


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookFailed:
    """Request ``request_id`` failed (``why``: ``timeout``, ``HTTP 500``, ``invalid answer: ...``);
    its ``on-webhook-failed`` step follows. ``due`` is when the failure was known."""

    request_id: int
    url: str
    why: str
    due: float


@dataclass(slots=True)
class WebhookWait:
    """One request in flight (the runner holds at most one)."""

    request_id: int
    spec: WebhookSpec
    url: str
    menu: str  #: the menu the step ran in: its on-webhook-failed, and "the menu again"
    deadline: float  #: the timeout
    filler_delay: float
    filler_at: float | None  #: next filler play (None: no filler)
    filler_started: float = 0.0  #: when the filler last started
    #: what came back while the filler played: a Step, a Menu, or a failure reason
    outcome: Step | Menu | str | None = None

    def next_deadline(self, waiting: bool) -> float | None:
        """The timeout, or the filler's start when it comes first (only while ``waiting``)."""
        if self.outcome is not None:
            return None
        if waiting and self.filler_at is not None:
            return min(self.deadline, self.filler_at)
        return self.deadline


def request_payload(
    *, dialplan: str, menu: str, attempt: int, entry: str, variables: Mapping[str, str]
) -> dict[str, Any]:
    """The call's state as the application server receives it (documented in docs/dialplans.md)."""
    return {
        "event": "webhook",
        "call_id": variables.get("call_id", ""),
        "caller": variables.get("caller", ""),
        "dialled": variables.get("dialled", ""),
        "dialplan": dialplan,
        "menu": menu,
        "attempt": attempt,
        "entry": entry,
        "variables": dict(variables),
    }


# -- building (called by build._Builder.step) ------------------------------------------------
class StepBuilder(Protocol):
    """What :func:`build_webhook` needs of the dialplan builder (``build._Builder``)."""

    def step(self, raw: dict[str, Any], path: JsonPath) -> Step: ...

    def items(self, value: Any) -> tuple[PromptItem, ...]: ...


def build_webhook(raw: dict[str, Any], path: JsonPath, builder: StepBuilder) -> WebhookSpec:
    failed = raw.get("on-webhook-failed")
    return WebhookSpec(
        url=raw["url"],
        timeout=parse_duration(raw["timeout"]) if "timeout" in raw else None,
        filler=builder.items(raw.get("filler")),
        filler_delay=parse_duration(raw["filler-delay"]) if "filler-delay" in raw else None,
        on_failed=None if failed is None else builder.step(failed, (*path, "on-webhook-failed")),
    )


# -- checking (called by checks.Checker.check_step) ------------------------------------------
def url_problem(template: str) -> str | None:
    """Why ``template`` cannot be a webhook URL, or ``None``: placeholders, scheme and host."""
    try:
        names = placeholders(template)
    except TemplateError as exc:
        return f"webhook url {template!r}: {exc}"
    sample = template
    for name in names:
        sample = sample.replace(f"{{{name}}}", "x")
    try:
        parts = urlsplit(sample.replace("{{", "{").replace("}}", "}"))
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"webhook url {template!r} is not a URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"webhook url {template!r} must be http:// or https:// with a host"
    if "{" in urlsplit(template).netloc:  # a caller's From or digits must never pick the host (SSRF)
        return f"webhook url {template!r}: the host may not come from a variable"
    return None


def check_webhook(checker: Checker, raw: dict[str, Any], path: JsonPath, collected: set[str]) -> None:
    url = raw.get("url")
    if isinstance(url, str):
        problem = url_problem(url)
        if problem is not None:
            checker.fail((*path, "url"), problem)
    checker.check_sequence(raw.get("filler"), (*path, "filler"))
    if "on-webhook-failed" in raw:
        checker.check_step(raw["on-webhook-failed"], (*path, "on-webhook-failed"), collected)
