"""Overload detection: should a new call be refused now, and why? Sans-I/O, ``now`` injected.

An engine that accepts every INVITE while its event loop is already late collapses: answers go
out after the caller's Timer A has retransmitted, retransmissions add work, and goodput falls
far below what the engine handles when it says no in time. Kamailio (``pike``, ``ratelimit``)
and FreeSWITCH (``max-sessions``, ``sessions-per-second``) refuse the excess with 503 before
any media work; this module decides when we do the same (RFC 3261 §21.5.4: 503 with
Retry-After, RFC 7339's overload-control ideas without the Via parameters).

Three cheap signals:

- **event-loop lag**: a probe scheduled by the one timer driver (:meth:`next_deadline` /
  :meth:`poll`) measures how late it ran. Samples are smoothed (EWMA) so one garbage
  collection pause does not shed calls. A probe already overdue by as much as one sample
  that alone would tip the smoothed lag over the limit (``limit / SMOOTHING``) counts at once:
  asyncio runs the I/O callbacks of an iteration before its due timers, so the INVITEs read
  right after a long stall would otherwise be taken just before the probe reports it.
  Overload ends only when the smoothed lag falls below half the limit (hysteresis: no
  flapping between accept and refuse on every sample).
- **late answers**: INVITE retransmissions (RFC 3261 §17.1.1.2: the caller heard nothing from
  us within T1) counted by the probe against new INVITEs. The loop can be punctual while the
  SIP socket's receive queue grows (each loop iteration reads a bounded number of datagrams):
  then the lag stays low, yet callers retransmit. More than :data:`RETRANSMISSION_SHARE` of
  the INVITEs of a probe interval being retransmissions refuses new calls for
  :data:`LATE_HOLD` seconds; a lost 100 Trying now and then stays far below that.
- **socket backlog**: the bytes of datagrams waiting unread in the SIP socket, told by the
  caller of :meth:`refusal` (the kernel's count, read for each new INVITE). More than
  :data:`BACKLOG_LIMIT` means whatever arrives now (the ACK and BYE of a call taken now among
  it) waits behind that much work, and a socket that fills drops datagrams of calls already
  taken. While the queue is that long, only :data:`BACKLOG_WINDOW` calls may be in set-up at
  once: each further one waits for one of those to be confirmed (its ACK read), so the calls
  taken are clocked by how fast the engine really reads its socket. Refusing every INVITE
  instead starved a CPU-starved engine of calls altogether (the queue never got short: 44
  calls/s at 4x in one bench run), while taking calls at the normal pace let the socket fill
  and drop their ACKs and BYEs.
- **pending work**: calls in set-up (INVITE admitted, ACK not yet received), told by the
  caller of :meth:`refusal`; each one is work the loop owes, and a growing number is the
  first sign that answers leave late.

The caller decides what to do with the answer (the SIP endpoint answers 503 + Retry-After).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: how often the lag probe runs (a wake every 100 ms costs nothing next to a call's 50 packets/s)
PROBE_INTERVAL = 0.1
#: weight of a new lag sample in the smoothed lag
SMOOTHING = 0.3
#: share of retransmissions among the INVITEs of one probe interval that means "answers are late"
RETRANSMISSION_SHARE = 0.2
#: fewer INVITEs than this in a probe interval are not judged (a few losses are not overload)
MIN_INVITES = 10
#: how long new calls are refused after a probe interval with late answers: short, because the
#: retransmissions trail the backlog that caused them by a T1 or more (a longer hold over-sheds)
LATE_HOLD = 0.3


#: bytes waiting in the SIP socket beyond which new calls are refused: about 800 datagrams (the
#: kernel counts ~1.3 KiB each), some 330 ms of reading at the 2 400 datagrams/s of 800 calls/s
#: (the 0-failure rate of one engine on a 2-core box): a caller whose INVITE waits behind that
#: still hears us within T1 (500 ms), so it does not retransmit, and the 8 MiB receive buffer
#: (the 4 MiB the engine asks for, doubled by the kernel) is an eighth full. It was 512 KiB:
#: at 1x (800/s, 20 s) that refused 2 274 calls with 0 INVITE retransmissions and 0 datagrams
#: dropped, i.e. before any caller was kept waiting a T1.
BACKLOG_LIMIT = 1024 * 1024
#: calls that may be in set-up (INVITE taken, ACK not read) while the socket is backlogged
BACKLOG_WINDOW = 50


class Refusal(enum.StrEnum):
    """Why a new call was refused (the ``reason`` label of ``tui_sip_refused_total``)."""

    MAX_CALLS = "max-calls"  #: ``engine.max-calls`` calls are in progress
    LOOP_LAG = "loop-lag"  #: the event loop runs later than ``engine.overload-lag``
    LATE_ANSWERS = "late-answers"  #: callers retransmit their INVITEs: our answers leave too late
    #: more than :data:`BACKLOG_LIMIT` bytes wait unread in the socket (and :data:`BACKLOG_WINDOW`
    #: calls are in set-up)
    SOCKET_BACKLOG = "socket-backlog"
    CALLS_IN_SETUP = "calls-in-setup"  #: ``engine.max-calls-in-setup`` INVITEs await their ACK
    RTP_PORTS = "rtp-ports"  #: no free RTP port in ``engine.rtp-ports``


@dataclass(frozen=True, kw_only=True, slots=True)
class OverloadPolicy:
    """The limits; ``0`` disables a check (both 0: never refuse for overload)."""

    max_lag: float  #: seconds of smoothed event-loop lag beyond which new calls are refused
    max_calls_in_setup: int  #: calls in set-up beyond which new calls are refused

    def __post_init__(self) -> None:
        if self.max_lag < 0 or self.max_calls_in_setup < 0:
            raise ValueError(f"overload limits must be >= 0, got {self}")


class OverloadDetector:
    """Lag probe + admission decision; see the module docstring."""

    __slots__ = ("_late_until", "_new", "_overloaded", "_probe_at", "_retransmitted", "lag", "policy")

    def __init__(self, policy: OverloadPolicy, *, now: float) -> None:
        self.policy = policy
        #: the smoothed event-loop lag, seconds
        self.lag = 0.0
        self._overloaded = False
        self._probe_at = now + PROBE_INTERVAL
        self._new = self._retransmitted = 0  # INVITEs of the current probe interval
        self._late_until = now

    @property
    def overloaded(self) -> bool:
        """True while the smoothed lag says so (between the limit and half of it, the last state holds)."""
        return self._overloaded

    def next_deadline(self) -> float | None:
        return self._probe_at if self.policy.max_lag > 0 else None

    def poll(self, now: float) -> bool:
        """The probe ran at ``now``: its lateness is one lag sample. False if it woke early."""
        if now < self._probe_at:
            return False
        self.observe_lag(now - self._probe_at)
        self._judge_answers(now)
        self._probe_at = now + PROBE_INTERVAL
        return True

    def invite(self, *, retransmission: bool) -> None:
        """An INVITE arrived: a new one, or a retransmission of one we know (see "late answers")."""
        if retransmission:
            self._retransmitted += 1
        else:
            self._new += 1

    def _judge_answers(self, now: float) -> None:
        total = self._new + self._retransmitted
        if total >= MIN_INVITES and self._retransmitted > RETRANSMISSION_SHARE * total:
            self._late_until = now + LATE_HOLD
        self._new = self._retransmitted = 0

    def observe_lag(self, seconds: float) -> None:
        """One lag sample (also usable by any other timer that knows how late it ran)."""
        self.lag += SMOOTHING * (max(0.0, seconds) - self.lag)
        limit = self.policy.max_lag
        if limit <= 0:
            self._overloaded = False
        elif self.lag > limit:
            self._overloaded = True
        elif self.lag < limit / 2:
            self._overloaded = False

    def refusal(self, now: float, *, calls_in_setup: int, queued: int = 0) -> Refusal | None:
        """Why a new call arriving at ``now`` must be refused, or None to admit it; ``queued``:
        bytes waiting unread in the SIP socket (a timing signal: off with the lag check)."""
        policy = self.policy
        if policy.max_calls_in_setup and calls_in_setup >= policy.max_calls_in_setup:
            return Refusal.CALLS_IN_SETUP
        if policy.max_lag <= 0:
            return None
        if queued > BACKLOG_LIMIT and calls_in_setup >= BACKLOG_WINDOW:
            return Refusal.SOCKET_BACKLOG
        if self._overloaded or now - self._probe_at > policy.max_lag / SMOOTHING:
            return Refusal.LOOP_LAG
        if now < self._late_until:
            return Refusal.LATE_ANSWERS
        return None

    def update_policy(self, policy: OverloadPolicy, now: float) -> None:
        """A reload: new limits from the next sample and the next INVITE on."""
        if self.policy.max_lag <= 0 < policy.max_lag:
            self._probe_at = now + PROBE_INTERVAL  # the probe starts now, not at a stale deadline
        self.policy = policy
        self.observe_lag(self.lag)  # the same lag, judged by the new limit
