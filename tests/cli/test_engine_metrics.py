"""The engine's Prometheus registry: names, labels, buckets, and lateness as a LatenessSink."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tui_engine.obs.metrics import LATENESS_BUCKETS, Metrics
from tui_engine.runtime import LatenessSink


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_lateness_is_observed_per_kind_into_half_millisecond_to_one_second_buckets() -> None:
    metrics = Metrics()
    sink: LatenessSink = metrics  # the runtime's protocol
    sink.observe_lateness("reprompt", 0.0007)
    sink.observe_lateness("reprompt", 0.3)
    sink.observe_lateness("lock", -0.001)  # never negative in the histogram
    got = samples(metrics)
    bucket = "tui_timer_lateness_seconds_bucket"
    assert got[(bucket, (("kind", "reprompt"), ("le", "0.0005")))] == 0
    assert got[(bucket, (("kind", "reprompt"), ("le", "0.001")))] == 1
    assert got[(bucket, (("kind", "reprompt"), ("le", "0.5")))] == 2
    assert got[(bucket, (("kind", "lock"), ("le", "0.0005")))] == 1
    assert got[("tui_timer_lateness_seconds_count", (("kind", "reprompt"),))] == 2
    assert LATENESS_BUCKETS[0] == 0.0005 and LATENESS_BUCKETS[-1] == 1.0


def test_every_series_has_its_name_and_labels() -> None:
    metrics = Metrics()
    metrics.active_calls.inc(2)
    metrics.calls_ended.labels(reason="inactivity-timeout").inc()
    metrics.dtmf_digits.labels(method="rfc4733").inc(3)
    metrics.web_sessions.labels(state="locked").set(4)
    metrics.web_locks.inc()
    metrics.sip_messages.labels(method="INVITE", direction="in").inc()
    got = samples(metrics)
    assert got[("tui_active_calls", ())] == 2
    assert got[("tui_calls_ended_total", (("reason", "inactivity-timeout"),))] == 1
    assert got[("tui_dtmf_digits_total", (("method", "rfc4733"),))] == 3
    assert got[("web_sessions", (("state", "locked"),))] == 4
    assert got[("web_locks_total", ())] == 1
    assert got[("sip_messages_total", (("direction", "in"), ("method", "INVITE")))] == 1


def test_two_engines_in_one_process_have_separate_registries() -> None:
    a, b = Metrics(), Metrics()
    a.web_locks.inc()
    assert samples(b)[("web_locks_total", ())] == 0
