"""Scenario tests of the overload detector (sans-I/O, FakeClock): step by step, asserting after each."""

from __future__ import annotations

import pytest

from tui_engine.core.clock import FakeClock
from tui_engine.core.overload import (
    BACKLOG_HIGH,
    BACKLOG_LIMIT,
    BACKLOG_NOISE,
    BACKLOG_WINDOW,
    LATE_HOLD,
    MIN_RATE,
    PROBE_INTERVAL,
    RATE_DECREASE,
    RATE_INCREASE,
    SMOOTHING,
    OverloadDetector,
    OverloadPolicy,
    Refusal,
)


def detector(max_lag: float = 0.05, max_setup: int = 0) -> tuple[FakeClock, OverloadDetector]:
    clock = FakeClock(100.0)
    policy = OverloadPolicy(max_lag=max_lag, max_calls_in_setup=max_setup)
    return clock, OverloadDetector(policy, now=clock.now())


def probe(clock: FakeClock, d: OverloadDetector, late: float) -> None:
    """The driver wakes the probe ``late`` seconds after its deadline."""
    deadline = d.next_deadline()
    assert deadline is not None
    clock.set(deadline + late)
    assert d.poll(clock.now())


def test_a_healthy_loop_admits_every_call() -> None:
    clock, d = detector()
    for _ in range(50):
        probe(clock, d, 0.002)
        assert d.refusal(clock.now(), calls_in_setup=0) is None
    assert d.lag == pytest.approx(0.002, abs=1e-4)
    assert not d.overloaded


def test_one_gc_pause_does_not_shed_calls_but_sustained_lag_does() -> None:
    clock, d = detector(max_lag=0.05)
    probe(clock, d, 0.1)  # one 100 ms pause: smoothed to 30 ms, under the limit
    assert not d.overloaded
    assert d.refusal(clock.now(), calls_in_setup=0) is None
    probe(clock, d, 0.1)
    probe(clock, d, 0.1)  # sustained: 51 ms smoothed
    assert d.overloaded
    assert d.refusal(clock.now(), calls_in_setup=0) is Refusal.LOOP_LAG


def test_overload_ends_below_half_the_limit_not_at_it() -> None:
    clock, d = detector(max_lag=0.05)
    for _ in range(5):
        probe(clock, d, 0.2)
    assert d.overloaded
    probe(clock, d, 0.0)  # lag falls, but stays above 25 ms: still refusing (no flapping)
    assert 0.025 < d.lag and d.overloaded
    assert d.refusal(clock.now(), calls_in_setup=0) is Refusal.LOOP_LAG
    while d.lag >= 0.025:
        probe(clock, d, 0.0)
    assert not d.overloaded
    assert d.refusal(clock.now(), calls_in_setup=0) is None


def test_an_overdue_probe_counts_before_it_runs_when_its_sample_alone_would_tip_the_lag() -> None:
    """INVITEs read after a stall, before the probe runs: refused when the probe, once it runs,
    would report overload; a shorter stall (one that the smoothing forgives) admits them."""
    clock, d = detector(max_lag=0.05)
    deadline = d.next_deadline()
    assert deadline is not None
    clock.set(deadline + 0.1)
    assert d.refusal(clock.now(), calls_in_setup=0) is None  # 100 ms: forgiven (30 ms smoothed)
    clock.set(deadline + 0.05 / SMOOTHING + 0.001)
    assert d.refusal(clock.now(), calls_in_setup=0) is Refusal.LOOP_LAG
    assert d.poll(clock.now()) and d.overloaded  # the probe then says the same


def test_an_early_wake_is_no_sample() -> None:
    clock, d = detector()
    deadline = d.next_deadline()
    assert deadline is not None
    clock.set(deadline - 0.0005)
    assert d.poll(clock.now()) is False
    assert d.next_deadline() == deadline
    assert d.lag == 0.0


def test_the_probe_reschedules_from_when_it_ran() -> None:
    clock, d = detector()
    probe(clock, d, 0.03)
    assert d.next_deadline() == pytest.approx(clock.now() + PROBE_INTERVAL)


def test_calls_in_setup_limit() -> None:
    clock, d = detector(max_lag=0.0, max_setup=3)
    assert d.next_deadline() is None  # lag check off: no probe at all
    assert d.refusal(clock.now(), calls_in_setup=2) is None
    assert d.refusal(clock.now(), calls_in_setup=3) is Refusal.CALLS_IN_SETUP


def test_both_checks_off_never_refuse() -> None:
    clock, d = detector(max_lag=0.0, max_setup=0)
    d.observe_lag(10.0)
    clock.advance(60.0)
    assert not d.overloaded
    assert d.refusal(clock.now(), calls_in_setup=100_000) is None


def test_a_reload_applies_the_new_limit_to_the_same_lag() -> None:
    clock, d = detector(max_lag=0.05)
    for _ in range(5):
        probe(clock, d, 0.04)
    assert not d.overloaded
    d.update_policy(OverloadPolicy(max_lag=0.02, max_calls_in_setup=0), clock.now())
    assert d.overloaded
    d.update_policy(OverloadPolicy(max_lag=0.0, max_calls_in_setup=0), clock.now())
    assert not d.overloaded and d.next_deadline() is None
    clock.advance(30.0)
    d.update_policy(OverloadPolicy(max_lag=0.05, max_calls_in_setup=0), clock.now())
    assert d.next_deadline() == pytest.approx(clock.now() + PROBE_INTERVAL)  # not a stale deadline
    assert d.refusal(clock.now(), calls_in_setup=0) is None


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        OverloadPolicy(max_lag=-1.0, max_calls_in_setup=0)


def test_retransmitted_invites_mean_late_answers_even_while_the_loop_is_punctual() -> None:
    """The SIP socket's queue grows while each loop iteration stays short: callers retransmit."""
    clock, d = detector(max_lag=0.05)
    for _ in range(16):
        d.invite(retransmission=False)
    for _ in range(4):  # 20 %: at the share, not above it
        d.invite(retransmission=True)
    probe(clock, d, 0.001)
    assert d.refusal(clock.now(), calls_in_setup=0) is None
    for _ in range(15):
        d.invite(retransmission=False)
    for _ in range(5):  # 25 %
        d.invite(retransmission=True)
    probe(clock, d, 0.001)
    assert not d.overloaded  # the lag is fine ...
    refused_at = clock.now()
    assert d.refusal(refused_at, calls_in_setup=0) is Refusal.LATE_ANSWERS  # ... the answers are not
    probe(clock, d, 0.001)  # a quiet interval: the refusal holds LATE_HOLD from the bad one
    assert d.refusal(clock.now(), calls_in_setup=0) is Refusal.LATE_ANSWERS
    while clock.now() < refused_at + LATE_HOLD:  # quiet intervals, punctual probes
        assert d.refusal(clock.now(), calls_in_setup=0) is Refusal.LATE_ANSWERS
        probe(clock, d, 0.0)
    assert d.refusal(clock.now(), calls_in_setup=0) is None


def test_a_few_retransmissions_in_a_quiet_interval_are_loss_not_overload() -> None:
    clock, d = detector(max_lag=0.05)
    for _ in range(3):
        d.invite(retransmission=True)
    d.invite(retransmission=False)
    probe(clock, d, 0.0)
    assert d.refusal(clock.now(), calls_in_setup=0) is None  # under MIN_INVITES: not judged


def test_late_answers_are_not_judged_with_the_timing_checks_off() -> None:
    clock, d = detector(max_lag=0.0, max_setup=5)
    for _ in range(20):
        d.invite(retransmission=True)
    d.poll(clock.advance(1.0))
    assert d.refusal(clock.now(), calls_in_setup=0) is None


def offer(
    clock: FakeClock, d: OverloadDetector, *, seconds: float, rate: float, setup: int, queued: int | None
) -> list[Refusal | None]:
    """INVITEs at ``rate`` for ``seconds`` (the probe runs on time): each admitted one is taken,
    and calls leave set-up as fast as they come in (``setup`` stays the same)."""
    answers: list[Refusal | None] = []
    end = clock.now() + seconds
    while clock.now() + 1 / rate <= end + 1e-9:
        clock.advance(1 / rate)
        deadline = d.next_deadline()
        if deadline is not None and deadline <= clock.now():
            d.poll(clock.now())
        reason = d.refusal(clock.now(), calls_in_setup=setup, queued=queued)
        if reason is None:
            d.admitted(clock.now())
        answers.append(reason)
    return answers


def taken(answers: list[Refusal | None]) -> int:
    return sum(a is None for a in answers)


def test_behind_a_backlog_calls_are_taken_at_the_rate_they_have_been_leaving_set_up() -> None:
    clock, d = detector()
    assert taken(offer(clock, d, seconds=2.0, rate=800, setup=BACKLOG_WINDOW, queued=0)) == 1600
    assert d.admission_rate is None  # no backlog: nothing limits the calls taken
    # 4x arrives and the socket backs up: 800/s still come in (and a little more while it holds)
    answers = offer(clock, d, seconds=1.0, rate=3200, setup=BACKLOG_WINDOW, queued=BACKLOG_LIMIT + 1)
    assert 700 <= taken(answers) <= 1000, taken(answers)
    assert set(answers) == {None, Refusal.SOCKET_BACKLOG}
    # the window: while fewer calls await their ACK, the backlog is not even read, all are taken
    assert taken(offer(clock, d, seconds=0.5, rate=3200, setup=BACKLOG_WINDOW - 1, queued=None)) == 1600
    assert d.admission_rate is None


def test_a_growing_backlog_lowers_the_rate_a_holding_one_raises_it_and_one_read_down_ends_it() -> None:
    clock, d = detector()
    offer(clock, d, seconds=2.0, rate=800, setup=BACKLOG_WINDOW, queued=0)
    queued = BACKLOG_LIMIT + 1
    offer(clock, d, seconds=PROBE_INTERVAL, rate=3200, setup=BACKLOG_WINDOW, queued=queued)
    start = d.admission_rate
    assert start is not None and start == pytest.approx(800, rel=0.1)
    rates = []
    for _ in range(5):  # the queue grows by 200 KiB a probe interval
        queued += 200 * 1024
        offer(clock, d, seconds=PROBE_INTERVAL, rate=3200, setup=BACKLOG_WINDOW, queued=queued)
        rates.append(d.admission_rate)
    assert rates == pytest.approx([start * RATE_DECREASE ** n for n in range(1, 6)], rel=1e-6)
    for _ in range(3):  # it holds (within the noise of the loop's batched reads)
        queued += BACKLOG_NOISE // 2
        offer(clock, d, seconds=PROBE_INTERVAL, rate=3200, setup=BACKLOG_WINDOW, queued=queued)
    assert d.admission_rate == pytest.approx(rates[-1] + 3 * RATE_INCREASE)
    before = d.admission_rate
    offer(clock, d, seconds=PROBE_INTERVAL, rate=3200, setup=BACKLOG_WINDOW, queued=BACKLOG_HIGH + 1)
    offer(clock, d, seconds=PROBE_INTERVAL, rate=3200, setup=BACKLOG_WINDOW, queued=BACKLOG_HIGH + 1)
    # one interval it grew to past HIGH, the next it held there: down both times
    assert d.admission_rate == pytest.approx(before * RATE_DECREASE ** 2)
    # read down to the limit: no rate any more, every call taken
    answers = offer(clock, d, seconds=2 * PROBE_INTERVAL, rate=3200, setup=BACKLOG_WINDOW,
                    queued=BACKLOG_LIMIT)
    assert d.admission_rate is None and set(answers[-100:]) == {None}


def test_a_backlog_that_grows_for_ever_still_lets_calls_in_at_the_floor_rate() -> None:
    """Refusing every INVITE behind a backlog starved a CPU-starved engine of calls altogether."""
    clock, d = detector()
    queued = BACKLOG_LIMIT + 1
    answers: list[Refusal | None] = []
    for _ in range(50):  # 5 s, the queue growing all the while, from a start with no call done
        queued += 100 * 1024
        answers = offer(clock, d, seconds=PROBE_INTERVAL, rate=3200, setup=BACKLOG_WINDOW, queued=queued)
    assert d.admission_rate == MIN_RATE
    last_second = []
    for _ in range(10):
        queued += 100 * 1024
        last_second += offer(clock, d, seconds=PROBE_INTERVAL, rate=3200, setup=BACKLOG_WINDOW, queued=queued)
    assert MIN_RATE - 2 <= taken(last_second) <= MIN_RATE + 2, taken(last_second)
    assert answers


def test_asking_twice_takes_one_token() -> None:
    """The endpoint asks once to decide the quick path and once to take the call: one token."""
    clock, d = detector()
    probe(clock, d, 0.001)

    def behind() -> Refusal | None:
        return d.refusal(clock.now(), calls_in_setup=BACKLOG_WINDOW, queued=BACKLOG_LIMIT + 1)

    assert behind() is None
    assert behind() is None
    d.admitted(clock.now())
    assert behind() is Refusal.SOCKET_BACKLOG
    clock.advance(1.01 / MIN_RATE)  # the floor rate's next token
    assert behind() is None
    _, off = detector(max_lag=0.0, max_setup=0)
    assert off.refusal(clock.now(), calls_in_setup=BACKLOG_WINDOW, queued=10 * BACKLOG_LIMIT) is None


def test_a_backlog_a_caller_hears_us_behind_within_t1_refuses_no_call() -> None:
    """600 datagrams (~1.3 KiB each in the kernel's count) take ~250 ms to read at 800 calls/s
    (3 datagrams a call): the INVITE behind them is answered within T1, no caller retransmits,
    so no call is refused for it (512 KiB refused 2 274 calls at 1x with 0 retransmissions)."""
    clock, d = detector()
    assert set(offer(clock, d, seconds=1.0, rate=800, setup=BACKLOG_WINDOW, queued=600 * 1300)) == {None}
    assert d.admission_rate is None
    answers = offer(clock, d, seconds=1.0, rate=3200, setup=BACKLOG_WINDOW, queued=1000 * 1300)
    assert Refusal.SOCKET_BACKLOG in answers


def test_calls_taken_below_the_window_leave_no_debt_in_the_bucket() -> None:
    """Review 6: the calls taken while fewer than the window await their ACK (the backlog not
    read) took a token each all the same, driving the bucket hundreds of tokens below zero: once
    the window filled again behind the same backlog, every INVITE was refused until that debt was
    paid at the admission rate, far below the rate the detector reports."""
    clock, d = detector()
    offer(clock, d, seconds=2.0, rate=800, setup=BACKLOG_WINDOW, queued=0)
    offer(clock, d, seconds=PROBE_INTERVAL, rate=3200, setup=BACKLOG_WINDOW, queued=BACKLOG_LIMIT + 1)
    rate = d.admission_rate
    assert rate is not None and rate == pytest.approx(800, rel=0.1)
    # within one probe interval: a burst of calls below the window (all taken: the window's rule)
    answers = offer(clock, d, seconds=0.9 * PROBE_INTERVAL, rate=3200, setup=BACKLOG_WINDOW - 1, queued=None)
    assert set(answers) == {None}
    # the window full again, the same backlog: calls are taken at the rate (not refused for a debt)
    answers = offer(clock, d, seconds=0.3, rate=3200, setup=BACKLOG_WINDOW, queued=BACKLOG_LIMIT + 1)
    assert d.admission_rate is not None and d.admission_rate >= rate
    assert taken(answers) >= 0.8 * 0.3 * rate, (taken(answers), rate)


def test_turning_the_lag_check_off_ends_the_admission_rate() -> None:
    """A reload to ``max-lag = 0`` turns the timing checks off: no rate limits calls any more (nor
    is one reported), and one turned on again starts from what it then sees."""
    clock, d = detector()
    offer(clock, d, seconds=2.0, rate=800, setup=BACKLOG_WINDOW, queued=0)
    offer(clock, d, seconds=PROBE_INTERVAL, rate=3200, setup=BACKLOG_WINDOW, queued=BACKLOG_LIMIT + 1)
    assert d.admission_rate is not None
    d.update_policy(OverloadPolicy(max_lag=0.0, max_calls_in_setup=0), clock.now())
    assert d.admission_rate is None
    offer(clock, d, seconds=1.0, rate=3200, setup=BACKLOG_WINDOW, queued=BACKLOG_LIMIT + 1)
    d.update_policy(OverloadPolicy(max_lag=0.05, max_calls_in_setup=0), clock.now())
    answers = offer(clock, d, seconds=1.0, rate=3200, setup=BACKLOG_WINDOW, queued=BACKLOG_LIMIT + 1)
    assert taken(answers) >= MIN_RATE, taken(answers)
