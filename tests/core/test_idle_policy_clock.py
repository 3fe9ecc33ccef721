"""IdlePolicy validation and the FakeClock contract."""

from __future__ import annotations

import math

import pytest

from tui_engine.core import FakeClock, FinalAction, IdlePolicy, MonotonicClock
from tui_engine.core.errors import LocalError


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": -1.0},
        {"timeout": math.inf},
        {"timeout": math.nan},
        {"timeout": 10.0, "max_attempts": 0},
        {"timeout": 10.0, "warn_before": 0.0},
        {"timeout": 10.0, "warn_before": -5.0},
        {"timeout": 10.0, "warn_before": math.inf},
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(LocalError):
        IdlePolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_defaults_and_derived_values() -> None:
    p = IdlePolicy(timeout=10.0, max_attempts=3)
    assert p.final is FinalAction.DISCONNECT and p.warn_before is None
    assert p.enabled and p.total_silence == 30.0
    assert not IdlePolicy(timeout=0.0).enabled
    with pytest.raises(AttributeError):
        p.timeout = 5.0  # type: ignore[misc]


def test_fake_clock_moves_only_forward() -> None:
    c = FakeClock(start=100.0)
    assert c.now() == 100.0
    assert c.advance(2.5) == 102.5
    assert c.set(110.0) == 110.0
    with pytest.raises(ValueError):
        c.advance(-0.1)
    with pytest.raises(ValueError):
        c.set(109.0)
    assert c.now() == 110.0


def test_monotonic_clock_never_goes_backwards() -> None:
    c = MonotonicClock()
    a, b = c.now(), c.now()
    assert b >= a
