"""Telephony figures into the engine's Prometheus registry."""

from __future__ import annotations

from collections.abc import Callable

from tui_engine.obs.metrics import Metrics
from tui_engine.tui.call import Observer


class MetricsObserver(Observer):
    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def lateness(self, kind: str, seconds: float) -> None:
        self._m.observe_lateness(kind, seconds)

    def media_tick(self, lateness: float) -> None:
        self._m.observe_media_tick(lateness)

    def digit(self, method: str) -> None:
        self._m.dtmf_digits.labels(method=method).inc()

    def count_active_calls(self, count: Callable[[], int]) -> None:
        self._m.active_calls.set_function(count)

    def ended(self, reason: str) -> None:
        self._m.calls_ended.labels(reason=reason).inc()

    def refused(self, reason: str) -> None:
        self._m.sip_refused.labels(reason=reason).inc()
