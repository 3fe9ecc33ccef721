"""The refusal metric under a flood: exact per refusal, its label child looked up once per reason
(``labels()`` takes a lock and builds a key: as much as the rest of a refusal's counting)."""

from __future__ import annotations

import pytest

from tui_engine.obs.metrics import Metrics
from tui_engine.tui.metrics import MetricsObserver


def test_every_refusal_is_counted_and_each_reason_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = Metrics()
    observer = MetricsObserver(metrics)
    looked_up: list[str] = []
    labels = metrics.sip_refused.labels

    def counting(**names: str) -> object:
        looked_up.append(names["reason"])
        return labels(**names)

    monkeypatch.setattr(metrics.sip_refused, "labels", counting)
    for _ in range(500):
        observer.refused("socket-backlog")
    observer.refused("max-calls")
    assert sorted(looked_up) == ["max-calls", "socket-backlog"]
    value = metrics.registry.get_sample_value
    assert value("tui_sip_refused_total", {"reason": "socket-backlog"}) == 500
    assert value("tui_sip_refused_total", {"reason": "max-calls"}) == 1
