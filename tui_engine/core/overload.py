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
  taken. While the queue is that long and at least :data:`BACKLOG_WINDOW` calls are in set-up,
  calls are taken at a **rate** (a token bucket, RFC 7415's rate-based control applied to our
  own queue): it starts at the rate calls left set-up (their ACK read: what the engine really
  completes), and each probe interval the queue's trend moves it, down by
  :data:`RATE_DECREASE` while the queue grows (or is past :data:`BACKLOG_HIGH`), up by
  :data:`RATE_INCREASE` while it holds or shrinks, never below :data:`MIN_RATE`. Refusing every
  INVITE behind a backlog starved a CPU-starved engine of calls (the queue never got short: 44
  calls/s at 4x in one bench run); taking calls at the normal pace let the socket fill and drop
  their ACKs and BYEs; a fixed window of calls in set-up (the last round) took at most that
  window per queue delay (~50 / 0.11 s at 4x), 29-66 % of the 0-failure rate, and less the
  longer the queue.
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
#: before the admission rate applies (below it the backlog is not even read: no syscall)
BACKLOG_WINDOW = 50
#: bytes waiting in the SIP socket beyond which the admission rate falls whatever the trend: half
#: the 8 MiB buffer, ~0.45 s of reading at 4x (7 000 datagrams/s), near a caller's T1
BACKLOG_HIGH = 4 * BACKLOG_LIMIT
#: the admission rate's factor for a probe interval in which the backlog grew (or passed
#: :data:`BACKLOG_HIGH`); 0.1 s intervals: a rate twice too high is halved in ~0.7 s
RATE_DECREASE = 0.9
#: calls/s added to the admission rate for a probe interval in which the backlog did not grow
#: (200 calls/s per second: a rate halved too far comes back to 800/s in ~2 s)
RATE_INCREASE = 20.0
#: the backlog must have grown by more than this (bytes) since the last probe to count as growing
#: (the loop reads the socket in batches of datagrams: a few of them are noise)
BACKLOG_NOISE = 64 * 1024
#: the admission rate's floor (calls/s): a starved engine still takes calls
MIN_RATE = 50.0
#: the token bucket's depth, in seconds of the admission rate (at least one call)
BURST = 0.02


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

    __slots__ = (
        "_admitted", "_backlog", "_backlog_before", "_completed", "_late_until", "_new", "_overloaded",
        "_probe_at", "_probed_at", "_rate", "_retransmitted", "_setup", "_setup_before", "_tokens",
        "_tokens_at", "lag", "policy",
    )

    def __init__(self, policy: OverloadPolicy, *, now: float) -> None:
        self.policy = policy
        #: the smoothed event-loop lag, seconds
        self.lag = 0.0
        self._overloaded = False
        self._probe_at = now + PROBE_INTERVAL
        self._probed_at = now  # when the current probe interval began
        self._new = self._retransmitted = 0  # INVITEs of the current probe interval
        self._late_until = now
        # -- the admission rate under a socket backlog (see "socket backlog") --
        self._admitted = 0  # calls taken in the current probe interval
        self._setup = self._setup_before = 0  # calls in set-up: last told, and at the last probe
        self._completed = 0.0  # calls/s that left set-up (their ACK read), smoothed over probes
        self._backlog: int | None = None  # the last backlog told in this interval (None: none)
        self._backlog_before = 0  # ... and in the interval before
        self._rate: float | None = None  # calls/s taken behind a backlog; None: not limiting
        self._tokens = 0.0
        self._tokens_at = now

    @property
    def overloaded(self) -> bool:
        """True while the smoothed lag says so (between the limit and half of it, the last state holds)."""
        return self._overloaded

    @property
    def admission_rate(self) -> float | None:
        """Calls/s taken while the socket is backlogged, or None while no backlog limits them."""
        return self._rate

    def next_deadline(self) -> float | None:
        return self._probe_at if self.policy.max_lag > 0 else None

    def poll(self, now: float) -> bool:
        """The probe ran at ``now``: its lateness is one lag sample. False if it woke early."""
        if now < self._probe_at:
            return False
        self.observe_lag(now - self._probe_at)
        self._judge_answers(now)
        self._judge_backlog(now)
        self._probe_at = now + PROBE_INTERVAL
        return True

    def admitted(self, now: float) -> None:
        """A call was taken at ``now`` (:meth:`refusal` gave None and the caller took the call)."""
        self._admitted += 1
        if self._rate is not None:
            self._refill(now)
            # never below empty: a call taken with the backlog not read (fewer than the window in
            # set-up, or read down since the last probe) was not the bucket's to ration, and a debt
            # would refuse every INVITE once the window fills again until it was paid
            self._tokens = max(0.0, self._tokens - 1.0)

    def _refill(self, now: float) -> None:
        assert self._rate is not None
        burst = max(1.0, self._rate * BURST)
        self._tokens = min(burst, self._tokens + (now - self._tokens_at) * self._rate)
        self._tokens_at = now

    def _judge_backlog(self, now: float) -> None:
        """Once per probe: the completion rate, and the admission rate from the backlog's trend."""
        elapsed = now - self._probed_at
        if elapsed > 0:
            left = max(0, self._admitted + self._setup_before - self._setup)
            self._completed += SMOOTHING * (left / elapsed - self._completed)
        backlog = self._backlog
        if backlog is None or backlog <= BACKLOG_LIMIT:
            self._rate = None  # read down (or not read: fewer than the window in set-up)
        elif self._rate is None:
            self._start_rate(now)
        elif backlog > BACKLOG_HIGH or backlog > self._backlog_before + BACKLOG_NOISE:
            self._rate = max(MIN_RATE, self._rate * RATE_DECREASE)
        else:
            self._rate += RATE_INCREASE
        self._backlog_before = backlog or 0
        self._backlog = None
        self._admitted = 0
        self._setup_before = self._setup
        self._probed_at = now

    def _start_rate(self, now: float) -> None:
        """A backlog begins: calls are taken at the rate they have been leaving set-up."""
        self._rate = max(MIN_RATE, self._completed)
        self._tokens, self._tokens_at = 1.0, now

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

    def refusal(self, now: float, *, calls_in_setup: int, queued: int | None = None) -> Refusal | None:
        """Why a new call arriving at ``now`` must be refused, or None to admit it (then the caller
        tells :meth:`admitted`); ``queued``: bytes waiting unread in the SIP socket, None when not
        read (a timing signal: off with the lag check). Counts nothing: asking twice is safe."""
        policy = self.policy
        if policy.max_calls_in_setup and calls_in_setup >= policy.max_calls_in_setup:
            return Refusal.CALLS_IN_SETUP
        if policy.max_lag <= 0:
            return None
        self._setup = calls_in_setup
        if queued is not None:
            self._backlog = queued if self._backlog is None else max(self._backlog, queued)
            if queued > BACKLOG_LIMIT and calls_in_setup >= BACKLOG_WINDOW and not self._token(now):
                return Refusal.SOCKET_BACKLOG
        if self._overloaded or now - self._probe_at > policy.max_lag / SMOOTHING:
            return Refusal.LOOP_LAG
        if now < self._late_until:
            return Refusal.LATE_ANSWERS
        return None

    def _token(self, now: float) -> bool:
        """Behind a backlog: may one more call be taken now, at the admission rate?"""
        if self._rate is None:  # the probe has not seen this backlog yet: its trend starts here
            self._start_rate(now)
            self._backlog_before = self._backlog or 0
        self._refill(now)
        return self._tokens >= 1.0

    def update_policy(self, policy: OverloadPolicy, now: float) -> None:
        """A reload: new limits from the next sample and the next INVITE on."""
        if self.policy.max_lag <= 0 < policy.max_lag:
            self._probe_at = now + PROBE_INTERVAL  # the probe starts now, not at a stale deadline
            self._probed_at, self._admitted, self._backlog = now, 0, None  # and its interval
        if policy.max_lag <= 0:
            self._rate = None  # the timing checks off: no backlog limits calls (none is read)
        self.policy = policy
        self.observe_lag(self.lag)  # the same lag, judged by the new limit
