"""Prometheus metrics for the engine, in a registry of its own.

Its own ``CollectorRegistry`` (not the global one) so that several engines in one test
process never collide, and ``/metrics`` shows exactly the engine's series.
The lateness histogram is the figure none of Asterisk, FreeSWITCH, VoiceXML platforms or
Twilio publish: how late idle timers fire (see docs/architecture.md, runtime).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

#: Lateness buckets, 0.5 ms to 1 s: a timer within a few ms is healthy; near 1 s is an overloaded loop.
LATENESS_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0,
)  # fmt: skip

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """Every series the engine exports. Implements ``runtime.LatenessSink``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.active_calls = Gauge("tui_active_calls", "Calls in progress.", registry=r)
        self.calls_ended = Counter(
            "tui_calls_ended_total",
            "Calls ended, by reason (hangup, inactivity-timeout, ...).",
            ["reason"],
            registry=r,
        )
        self.sip_refused = Counter(
            "tui_sip_refused_total",
            "New calls refused with 503 + Retry-After before any media work, by reason "
            "(max-calls, loop-lag, late-answers, calls-in-setup, rtp-ports).",
            ["reason"],
            registry=r,
        )
        self.timer_lateness = Histogram(
            "tui_timer_lateness_seconds",
            "How late idle timers fired after their deadline, by decision kind; kind=hangup: "
            "how late the BYE left after the goodbye prompt ended.",
            ["kind"],
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.media_tick_lateness = Histogram(
            "tui_media_tick_lateness_seconds",
            "How late the media clock's 20 ms ticks ran after their deadline.",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.gc_pause = Histogram(
            "tui_gc_pause_seconds",
            "How long each cyclic garbage collection stopped the loop, by generation.",
            ["generation"],
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.dtmf_digits = Counter(
            "tui_dtmf_digits_total",
            "DTMF digits received, by method (rfc4733, info, inband).",
            ["method"],
            registry=r,
        )
        self.webhooks = Counter(
            "tui_webhooks_total",
            "Webhook requests of dialplan steps, by outcome (step, menu, timeout, http-error, "
            "connection, bad-answer, invalid-answer, error).",
            ["outcome"],
            registry=r,
        )
        self.webhook_seconds = Histogram(
            "tui_webhook_seconds",
            "From a webhook request to its answer or failure (what callers wait, filler and all).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
            registry=r,
        )
        self.web_sessions = Gauge(
            "web_sessions", "Portal sessions, by state (active, locked).", ["state"], registry=r
        )
        self.web_locks = Counter("web_locks_total", "Portal sessions locked for inactivity.", registry=r)
        self.sip_messages = Counter(
            "sip_messages_total",
            "SIP messages, by method (a request's: INVITE, BYE, ..., other; a response's status: "
            "200, 486, ...; malformed) and direction (in, out).",
            ["method", "direction"],
            registry=r,
        )

    def observe_gc_pause(self, generation: int, seconds: float) -> None:
        """``obs.gcwatch.PauseSink``: one collection of ``generation`` stopped the loop ``seconds``."""
        self.gc_pause.labels(generation=str(generation)).observe(seconds)

    def observe_media_tick(self, seconds: float) -> None:
        """How late one tick of the media clock ran (its frames went out that late)."""
        self.media_tick_lateness.observe(seconds)

    def observe_lateness(self, kind: str, seconds: float) -> None:
        """``runtime.LatenessSink``: record how late a ``kind`` decision fired (negative -> 0).

        A ``lock`` decision is also counted in ``web_locks_total``.
        """
        self.timer_lateness.labels(kind=kind).observe(max(0.0, seconds))
        if kind == "lock":
            self.web_locks.inc()

    def observe_sessions(self, counts: Mapping[str, int]) -> None:
        """Portal sessions by state, as counted by the portal's periodic sweep."""
        for state, n in counts.items():
            self.web_sessions.labels(state=state).set(n)

    def render(self) -> bytes:
        """The Prometheus text exposition format (served as ``/metrics``)."""
        return generate_latest(self.registry)
