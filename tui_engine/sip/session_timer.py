"""RFC 4028 session timers, UAS side: negotiation rules and the per-call timer (sans-I/O).

A caller that vanishes without a BYE (phone crashed, NAT binding gone) would otherwise keep its
call until some other guard fires. With a session timer the dialog has a lease: the refresher
renews it with a re-INVITE or UPDATE before half of it has run; when it is not renewed we send
BYE (reason ``session-expired``).

What this module decides (the endpoint applies it):

* :func:`negotiate` reads ``Session-Expires`` / ``Min-SE`` / ``Supported`` of an INVITE or of an
  in-dialog refresh (§9): a requested interval below our ``Min-SE`` gets 422 with our
  ``Min-SE`` when the UAC supports timers (§6); otherwise we copy the interval (never increasing
  it, never below the request's ``Min-SE`` or 90 s), or use our own when none was asked for.
  Refresher: the request's choice, else ``uas`` (we do not depend on the quality of the caller's
  implementation to detect that it is gone); ``uas`` whenever the UAC does not support timers.
* :class:`SessionTimer` is one deadline in the endpoint's heap: as refresher it fires at half the
  interval (§10) to send the refresh, otherwise (and if our refresh failed) it fires slightly
  before the session expires, ``min(32 s, interval / 3)`` early (§10), to send the BYE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiosipua.message import SipMessage

#: RFC 4028 §4: no Session-Expires or Min-SE may be below 90 seconds.
MIN_SE_FLOOR = 90
#: The option tag (§3); our Supported lists it, a Require of it no longer gets 420.
TIMER_TAG = "timer"

Refresher = Literal["uac", "uas"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionTimerPolicy:
    """``session-expires`` / ``min-se`` of ``[applications.<tui app>.tui]``; 0 disables timers."""

    session_expires: int = 1800  #: the interval we ask for when the request names none
    min_se: int = MIN_SE_FLOOR  #: the shortest interval we accept (422 below it)

    @property
    def enabled(self) -> bool:
        return self.session_expires > 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Negotiated:
    """The session timer of one dialog, as our 2xx states it."""

    interval: int  #: seconds
    refresher: Refresher
    peer_supports: bool  #: the request had ``Supported: timer`` (or ``Require: timer``)

    def response_headers(self) -> list[tuple[str, str]]:
        """§9: Session-Expires with the refresher; Require: timer when the UAC supports it."""
        out = [("Session-Expires", f"{self.interval};refresher={self.refresher}")]
        if self.peer_supports:
            out.append(("Require", TIMER_TAG))
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class TooSmall:
    """§6: answer 422 (Session Interval Too Small) with ``Min-SE: min_se``."""

    min_se: int

    def response_headers(self) -> list[tuple[str, str]]:
        return [("Min-SE", str(self.min_se))]


def option_tags(msg: SipMessage, name: str, compact: str | None = None) -> list[str]:
    """The option tags of ``Supported``/``Require`` (comma lists, several header lines)."""
    return tags_of(msg.headers.get(name) + (msg.headers.get(compact) if compact else []))


def tags_of(values: list[str]) -> list[str]:
    """The option tags of comma-list header values (``Allow``, ``Supported``, ``Require``)."""
    return [tag.strip().lower() for value in values for tag in value.split(",") if tag.strip()]


def _delta_seconds(value: str | None) -> int | None:
    if value is None:
        return None
    head = value.split(";", 1)[0].strip()
    return int(head) if head.isdigit() and len(head) <= 10 else None


def _session_expires(msg: SipMessage) -> tuple[int | None, Refresher | None]:
    raw = msg.headers.get_first("session-expires") or msg.headers.get_first("x")  # §4: compact "x"
    interval = _delta_seconds(raw)
    refresher: Refresher | None = None
    for param in (raw or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "refresher" and value.strip().lower() in ("uac", "uas"):
            refresher = "uac" if value.strip().lower() == "uac" else "uas"
    return interval, refresher


def negotiate(msg: SipMessage, policy: SessionTimerPolicy) -> Negotiated | TooSmall | None:
    """§9 for an INVITE (or a refresh): the dialog's timer, a 422, or ``None`` (timers off)."""
    peer_supports = TIMER_TAG in option_tags(msg, "supported", "k") + option_tags(msg, "require")
    asked, refresher = _session_expires(msg)
    if not policy.enabled and asked is None:
        return None
    floor = max(MIN_SE_FLOOR, _delta_seconds(msg.headers.get_first("min-se")) or 0)
    minimum = max(policy.min_se, floor)
    if asked is not None and asked < minimum:
        if peer_supports:
            return TooSmall(min_se=minimum)
        asked = minimum  # a proxy's value the UAC cannot retry: we refresh, at our minimum
    interval = asked if asked is not None else max(policy.session_expires, minimum)
    if not peer_supports:
        refresher = "uas"  # §9: a UAC without timer support cannot refresh
    return Negotiated(interval=interval, refresher=refresher or "uas", peer_supports=peer_supports)


def bye_margin(interval: float) -> float:
    """§10: the BYE goes ``min(32 s, interval / 3)`` before the session would expire."""
    return min(32.0, interval / 3)


class SessionTimer:
    """One dialog's lease in the endpoint's heap (a ``Timed``); the endpoint acts when it fires.

    ``on_fire(call_id, now, refresh_due)``: ``refresh_due`` is True at the refresh point (we are
    the refresher), False at the expiry point (send BYE).
    """

    __slots__ = ("call_id", "deadline", "expires_at", "on_fire", "refresh_at")

    def __init__(self, call_id: str, on_fire: Callable[[str, float, bool], None]) -> None:
        self.call_id = call_id  # not the call itself: a stopped timer left in the heap holds no call
        self.on_fire = on_fire
        self.deadline: float | None = None
        self.expires_at = 0.0
        self.refresh_at: float | None = None

    def start(self, negotiated: Negotiated, now: float) -> None:
        """(Re)start the lease at ``now``: a 2xx to the INVITE or to a refresh (§10)."""
        self.expires_at = now + negotiated.interval - bye_margin(negotiated.interval)
        self.refresh_at = now + negotiated.interval / 2 if negotiated.refresher == "uas" else None
        self.deadline = self.refresh_at if self.refresh_at is not None else self.expires_at

    def stop(self) -> None:
        self.deadline = None
        self.refresh_at = None

    def on_timer(self, now: float) -> None:
        if self.deadline is None:
            return
        refresh_due = self.refresh_at is not None and now < self.expires_at
        if refresh_due:
            self.refresh_at = None
            self.deadline = self.expires_at
        else:
            self.deadline = None
        self.on_fire(self.call_id, now, refresh_due)
