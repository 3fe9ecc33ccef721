"""Recorders for what an :class:`~tui_engine.runtime.IdleTimer` hands out.

Pass a :class:`DecisionRecorder` as ``on_decision`` and a :class:`LatenessRecorder` as
``sink``; then assert on ``kinds()`` / ``decisions`` instead of sleeping and guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tui_engine.core.decisions import Decision
from tui_engine.runtime.idle_driver import decision_kind


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivered:
    """One decision as the driver delivered it, with its lateness in seconds."""

    decision: Decision
    lateness: float

    @property
    def kind(self) -> str:
        return decision_kind(self.decision)


@dataclass(slots=True)
class DecisionRecorder:
    """An ``on_decision`` callback that keeps every decision in order.

    ``then`` (optional) is called after recording, so a test can react like the real
    application does (e.g. start a progress for the re-played prompt on ``Reprompt``).
    """

    then: Callable[[Decision, float], None] | None = None
    delivered: list[Delivered] = field(default_factory=list)

    def __call__(self, decision: Decision, lateness: float) -> None:
        self.delivered.append(Delivered(decision=decision, lateness=lateness))
        if self.then is not None:
            self.then(decision, lateness)

    @property
    def decisions(self) -> list[Decision]:
        return [d.decision for d in self.delivered]

    def kinds(self) -> list[str]:
        """``["reprompt", "reprompt", "disconnect"]`` and so on."""
        return [d.kind for d in self.delivered]

    def clear(self) -> None:
        self.delivered.clear()


@dataclass(slots=True)
class LatenessRecorder:
    """A :class:`~tui_engine.runtime.LatenessSink` that keeps ``(kind, seconds)`` pairs."""

    observed: list[tuple[str, float]] = field(default_factory=list)

    def observe_lateness(self, kind: str, seconds: float) -> None:
        self.observed.append((kind, seconds))
