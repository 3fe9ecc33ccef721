"""Invariants of the call-wide guards over random event sequences (hypothesis).

An independent model keeps the silence used, the last RTP arrival and the hold state; every
expiry the guards report is checked against it: never before its deadline, exactly the first
guard due, at most one per call, and never a call left without a deadline while a cap is set.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tui_engine.core import CallGuards, CallLimits, Guard

Step = tuple[str, float]
steps = st.lists(
    st.tuples(st.sampled_from(["silence-on", "silence-off", "rtp", "hold", "unhold", "poll"]),
              st.floats(min_value=0.0, max_value=20.0)),
    max_size=60,
)
limits = st.builds(
    CallLimits,
    max_call_duration=st.sampled_from([0.0, 30.0, 100.0]),
    max_silence_total=st.sampled_from([0.0, 10.0, 45.0]),
    media_timeout=st.sampled_from([0.0, 5.0, 15.0]),
)


@settings(max_examples=300, deadline=None)
@given(limits, steps)
def test_guards_expire_once_never_early_and_as_the_model_says(lim: CallLimits, script: list[Step]) -> None:
    guards = CallGuards(lim, 0.0)
    now = 0.0
    silence_since: float | None = None
    used = 0.0
    rtp_at: float | None = None  # the media period's start (last packet or end of hold)
    held = False
    expired = None
    for kind, gap in script:
        now += gap
        # a poll at every deadline on the way, as the driver does
        while (deadline := guards.next_deadline()) is not None and deadline <= now:
            got = guards.poll(deadline)
            assert got is not None and got.due <= deadline
            expired = expired or got
        assert expired is None or guards.next_deadline() is None  # once per call, then nothing
        if expired is not None:
            break
        if kind == "poll":
            got = guards.poll(now)
            assert got is None or (expired is None and got.due <= now)
            expired = expired or got
        elif kind in ("silence-on", "silence-off"):
            if silence_since is not None:
                used += now - silence_since  # the budget was not spent: no expiry before now
            silence_since = now if kind == "silence-on" else None
            guards.silence(now, kind == "silence-on")
        elif kind == "rtp":
            guards.media_seen(now)
            rtp_at = now
        else:
            guards.hold(now, kind == "hold")
            if held and kind == "unhold" and rtp_at is not None:
                rtp_at = now
            held = kind == "hold" or (held and kind != "unhold")
        if expired is not None:
            break
    if expired is None:
        return
    if expired.guard is Guard.MAX_CALL_DURATION:
        assert expired.due == lim.max_call_duration
    elif expired.guard is Guard.MAX_SILENCE_TOTAL:
        assert lim.max_silence_total > 0 and used <= lim.max_silence_total + 1e-9
    else:
        assert lim.media_timeout > 0 and rtp_at is not None


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=1.0, max_value=3600.0))
def test_a_call_with_a_cap_always_has_a_deadline(cap: float) -> None:
    guards = CallGuards(CallLimits(max_call_duration=cap, max_silence_total=0, media_timeout=0), 0.0)
    assert guards.next_deadline() == cap
    assert guards.poll(cap - 1e-6) is None
    got = guards.poll(cap)
    assert got is not None and got.guard is Guard.MAX_CALL_DURATION and guards.next_deadline() is None
