"""Telephony figures into the engine's Prometheus registry."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter

from tui_engine.obs.metrics import Metrics
from tui_engine.tui.call import Observer


class MetricsObserver(Observer):
    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics
        self._sip: dict[tuple[str, str], Counter] = {}  # label children, looked up once each
        self._ended: dict[str, Counter] = {}
        self._refused: dict[str, Counter] = {}

    def sip_message(self, direction: str, method: str) -> None:
        child = self._sip.get((direction, method))
        if child is None:
            child = self._m.sip_messages.labels(method=method, direction=direction)
            self._sip[(direction, method)] = child
        child.inc()

    def lateness(self, kind: str, seconds: float) -> None:
        self._m.observe_lateness(kind, seconds)

    def media_tick(self, lateness: float) -> None:
        self._m.observe_media_tick(lateness)

    def digit(self, method: str) -> None:
        self._m.dtmf_digits.labels(method=method).inc()

    def count_active_calls(self, count: Callable[[], int]) -> None:
        self._m.active_calls.set_function(count)

    def webhook(self, outcome: str, seconds: float) -> None:
        self._m.webhooks.labels(outcome=outcome).inc()
        self._m.webhook_seconds.observe(seconds)

    def ended(self, reason: str) -> None:
        child = self._ended.get(reason)  # once per call: ``labels()`` takes a lock and builds a key
        if child is None:
            child = self._ended[reason] = self._m.calls_ended.labels(reason=reason)
        child.inc()

    def refused(self, reason: str) -> None:
        child = self._refused.get(reason)  # once per refusal, thousands a second under a flood
        if child is None:
            child = self._refused[reason] = self._m.sip_refused.labels(reason=reason)
        child.inc()
