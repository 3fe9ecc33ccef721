"""Invariants of the idle core over random event sequences (hypothesis stateful testing).

A rule-based machine feeds random events, clock advances, polls and policy changes to one
:class:`IdleSession` and keeps a small independent model (attempts used since the last
input, the start of the current period) to check every decision against.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tui_engine.core import (
    Activity,
    Decision,
    Disconnect,
    FakeClock,
    FinalAction,
    IdlePolicy,
    IdleSession,
    IdleState,
    Lock,
    PolicyChanged,
    ProgressFinished,
    ProgressStarted,
    Reprompt,
    Resumed,
    Started,
    Stopped,
    Warn,
)

W, S, E, X = IdleState.WAITING, IdleState.SUSPENDED, IdleState.EXPIRED, IdleState.STOPPED

policies = st.builds(
    IdlePolicy,
    timeout=st.one_of(st.just(0.0), st.sampled_from([0.5, 1.0, 3.0, 10.0]), st.floats(0.01, 100.0)),
    max_attempts=st.integers(1, 5),
    final=st.sampled_from(FinalAction),
    warn_before=st.one_of(st.none(), st.sampled_from([0.25, 1.0, 5.0]), st.floats(0.01, 200.0)),
)
steps = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 10.0]), st.floats(0.0, 250.0))


class IdleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=1000.0)
        self.session: IdleSession | None = None
        self.last_due = -1.0
        self.last_poll = -1.0
        self.used = 0  # model: periods expired since the last input / resume
        self.finals = 0  # final decisions since the last (re)start
        self.period_start: float | None = None  # model, only while no policy change muddles it

    @property
    def s(self) -> IdleSession:
        assert self.session is not None
        return self.session

    # -- set-up --------------------------------------------------------------------------
    @precondition(lambda self: self.session is None)
    @rule(policy=policies, progress_first=st.booleans())
    def create(self, policy: IdlePolicy, progress_first: bool) -> None:
        self.session = IdleSession(policy)
        if progress_first:
            self.s.send(ProgressStarted(now=self.clock.now()))
        self.s.send(Started(now=self.clock.now()))
        self.period_start = self.clock.now() if self.s.state is W else None

    # -- time ----------------------------------------------------------------------------
    @rule(dt=steps)
    def advance(self, dt: float) -> None:
        self.clock.advance(dt)

    @precondition(lambda self: self.session is not None and self.session.next_deadline() is not None)
    @rule()
    def advance_to_deadline(self) -> None:
        deadline = self.s.next_deadline()
        assert deadline is not None
        self.clock.set(max(deadline, self.clock.now()))

    # -- events --------------------------------------------------------------------------
    @precondition(lambda self: self.session is not None and self.session.state in (W, S, E))
    @rule()
    def activity(self) -> None:
        was = self.s.state
        self.s.send(Activity(now=self.clock.now()))
        if was is E:
            assert self.s.state is E and self.s.next_deadline() is None
            return
        assert self.s.attempt == 1  # activity always resets the attempt count
        self.used = 0
        self.period_start = self.clock.now() if was is W else self.period_start

    @precondition(lambda self: self.session is not None and self.session.state is not X)
    @rule()
    def progress_started(self) -> None:
        self.s.send(ProgressStarted(now=self.clock.now()))
        assert self.s.state in (S, E)
        assert self.s.next_deadline() is None  # nothing can expire while progress is open

    @precondition(lambda self: self.session is not None and self.session.state is not X)
    @precondition(lambda self: self.session is not None and self.session.progress_open > 0)
    @rule()
    def progress_finished(self) -> None:
        self.s.send(ProgressFinished(now=self.clock.now()))
        if self.s.state is W:
            self.period_start = self.clock.now()

    @precondition(lambda self: self.session is not None and self.session.state is not X)
    @rule(policy=policies)
    def change_policy(self, policy: IdlePolicy) -> None:
        old = self.s.policy
        self.s.send(PolicyChanged(now=self.clock.now(), policy=policy))
        self.used = min(self.used, policy.max_attempts - 1)
        if policy != old:
            self.period_start = None
        deadline = self.s.next_deadline()
        if policy != old:  # nothing becomes due before the change that moved it
            assert deadline is None or deadline >= self.clock.now()

    @precondition(lambda self: self.session is not None and self.session.state is E)
    @rule()
    def resume(self) -> None:
        self.s.send(Resumed(now=self.clock.now()))
        self.used = 0
        self.finals = 0
        self.period_start = self.clock.now() if self.s.state is W else None
        assert self.s.attempt == 1

    @precondition(lambda self: self.session is not None and self.session.state is not X)
    @rule(data=st.data())
    def stop(self, data: st.DataObject) -> None:
        if data.draw(st.integers(0, 9)) == 0:  # rarely: a stopped session says nothing more
            self.s.send(Stopped(now=self.clock.now()))
            assert self.s.next_deadline() is None

    # -- the observation ---------------------------------------------------------------
    @precondition(lambda self: self.session is not None)
    @rule()
    def poll(self) -> None:
        now = self.clock.now()
        deadline = self.s.next_deadline()
        state, policy = self.s.state, self.s.policy
        decisions = self.s.poll(now)
        # poll has something to say exactly when next_deadline() said it would
        assert bool(decisions) == (deadline is not None and deadline <= now)
        if state is not W or not policy.enabled:
            assert decisions == []  # disabled or suspended: never fires
        for d in decisions:
            self.check_decision(d, now, policy)
        self.last_poll = now
        after = self.s.next_deadline()
        assert after is None or after > now  # nothing left behind that is already due

    def check_decision(self, d: Decision, now: float, policy: IdlePolicy) -> None:
        assert d.due <= now  # never before its due
        assert d.due >= self.last_due  # due values never decrease
        self.last_due = d.due
        if isinstance(d, Warn):
            assert policy.warn_before is not None and self.used == policy.max_attempts - 1
            assert 0 < d.time_left <= policy.warn_before
            assert d.final_at > now and d.final_at - now == d.time_left
            return
        self.used += 1
        if self.period_start is not None:
            assert d.due == self.period_start + policy.timeout  # on time: chained, no drift
            self.period_start = d.due
        if isinstance(d, Reprompt):
            assert (d.attempt, d.of) == (self.used + 1, policy.max_attempts)  # attempts 2..N in order
            assert 2 <= d.attempt <= d.of
            return
        assert isinstance(d, Lock if policy.final is FinalAction.LOCK else Disconnect)
        assert d.attempts == self.used == policy.max_attempts
        self.finals += 1
        assert self.finals == 1  # the final decision fires at most once until Resumed
        assert self.s.state is E

    @invariant()
    def consistent(self) -> None:
        if self.session is None:
            return
        if self.s.state is not X:
            assert self.s.attempt == self.used + 1
        if self.s.progress_open and self.s.state is not X:
            assert self.s.state in (S, E)
        if self.s.state is S or not self.s.policy.enabled:
            assert self.s.next_deadline() is None


IdleMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestIdleMachine = IdleMachine.TestCase
