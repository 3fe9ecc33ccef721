"""Invariants of MenuRunner under random callers and a driver that polls late and at random."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_engine.menus import (
    Action,
    Dialplan,
    Hangup,
    MenuDefaults,
    MenuEntered,
    MenuRunner,
    Phase,
    PlayPrompts,
    Reprompt,
    StopPlayback,
    load_dialplans,
)

BUNDLED = Path(__file__).resolve().parents[2] / "tui_engine" / "dialplans"
PLANS = load_dialplans(BUNDLED)

#: keys are not input while a recording runs or is being saved (the record step's own rule)
RECORD_PHASES = (Phase.RECORDING, Phase.SAVING)

Step = tuple[str, float, str]  # (kind, seconds to wait first, digit)
steps = st.lists(
    st.tuples(
        st.sampled_from(["wait", "wait", "digit", "auth-ok", "auth-fail"]),
        st.floats(min_value=0.0, max_value=25.0, allow_nan=False),
        st.sampled_from(list("0123456789*#")),
    ),
    max_size=40,
)


class RandomDriver:
    """Ends prompts at their real end, but polls at arbitrary (often late) times."""

    def __init__(self, plan: Dialplan, defaults: MenuDefaults) -> None:
        self.runner = MenuRunner(plan, defaults)
        self.now = 0.0
        self.play_ends: float | None = None
        self.quiet_since = 0.0  # last input or prompt end: where a silent period may start
        self.reprompts = 0  # since the last input or menu entry
        self.no_speech = False  # in a record step's "nothing said" re-prompts (counted by the runner)

    def input(self) -> None:
        self.quiet_since = self.now
        if not self.no_speech:  # a key does not undo "nothing said" attempts of a record step
            self.reprompts = 0

    def absorb(self, actions: list[Action]) -> None:
        for i, action in enumerate(actions):
            # (a record step's no-speech re-prompt may go to its menu again: still the same count)
            if isinstance(action, MenuEntered) and not (i and isinstance(actions[i - 1], Reprompt)):
                self.reprompts = 0
                self.no_speech = False
            elif isinstance(action, PlayPrompts):
                self.play_ends = self.now + sum(p.duration for p in action.prompts)
            elif isinstance(action, StopPlayback):
                self.play_ends = None
                self.finished(completed=False)

    def finished(self, *, completed: bool) -> None:
        self.play_ends = None
        self.quiet_since = self.now
        self.absorb(self.runner.prompt_finished(self.now, completed))

    def wait(self, seconds: float) -> None:
        target = self.now + seconds
        while self.play_ends is not None and self.play_ends <= target:
            self.now = self.play_ends
            self.finished(completed=True)
        self.now = target
        self.poll()

    def poll(self) -> None:
        timeout = self.runner.settings.no_input_timeout
        typing = bool(self.runner.entry)  # the inter-digit timer, not the no-input one, is running
        # a record step's "nothing said" attempt is timed by its own silence cut-off, not the no-input
        # timer (tests/menus/test_menus_record.py checks that one): here only "never early" holds
        recording = self.runner.phase in RECORD_PHASES
        actions = self.runner.poll(self.now)
        reprompts = [a for a in actions if isinstance(a, Reprompt)]
        for i, reprompt in enumerate(reprompts):
            # never decided before its deadline, and each period is a whole timeout long
            assert reprompt.due <= self.now
            if not recording:
                assert reprompt.due >= self.quiet_since + (i + 1) * timeout - 1e-9
        self.no_speech = self.no_speech or (recording and bool(reprompts))
        goodbye = [a for a in actions if isinstance(a, PlayPrompts) and not a.barge_in]
        hangup = [a for a in actions if isinstance(a, Hangup) and a.reason == "inactivity-timeout"]
        if (goodbye or hangup) and not typing and not any(isinstance(a, MenuEntered) for a in actions):
            # the final silent period is whole, and it is the last of max_attempts
            last_start = reprompts[-1].due if reprompts else self.quiet_since
            assert self.now >= last_start + timeout - 1e-9
            assert self.reprompts + len(reprompts) == self.runner.max_attempts - 1
        self.reprompts += len(reprompts)
        self.absorb(actions)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_name=st.sampled_from(sorted(PLANS.by_name)), script=steps)
def test_no_reprompt_or_inactivity_hangup_before_its_deadline(plan_name: str, script: list[Step]) -> None:
    driver = RandomDriver(PLANS[plan_name], MenuDefaults())
    driver.absorb(driver.runner.start(0.0))
    for kind, seconds, digit in script:
        driver.wait(seconds)
        if driver.runner.phase is Phase.ENDED:
            break
        if kind == "digit":
            if driver.runner.phase not in RECORD_PHASES:  # keys while recording are not input
                driver.input()
            driver.absorb(driver.runner.digit(digit, driver.now))
        elif kind.startswith("auth") and driver.runner.phase is Phase.AUTHENTICATING:
            driver.input()
            driver.absorb(driver.runner.auth_result(kind == "auth-ok", driver.now))
        deadline = driver.runner.next_deadline()
        assert deadline is None or deadline > driver.now  # nothing overdue is ever left behind


@settings(max_examples=100, deadline=None)
@given(script=steps)
def test_every_call_ends_with_exactly_one_hangup(script: list[Step]) -> None:
    driver = RandomDriver(PLANS["voicemail"], MenuDefaults(no_input_timeout=3.0))
    log: list[Action] = []
    original = driver.absorb

    def record(actions: list[Action]) -> None:
        log.extend(actions)
        original(actions)

    driver.absorb = record  # type: ignore[method-assign]
    record(driver.runner.start(0.0))
    for kind, seconds, digit in script:
        driver.wait(seconds)
        if kind == "digit":
            driver.input()
            record(driver.runner.digit(digit, driver.now))
        elif kind.startswith("auth") and driver.runner.phase is Phase.AUTHENTICATING:
            driver.input()
            record(driver.runner.auth_result(kind == "auth-ok", driver.now))
    if driver.runner.phase is Phase.AUTHENTICATING:
        record(driver.runner.auth_result(False, driver.now))
    for _ in range(20):  # silence from here on always ends the call
        driver.wait(60.0)
    hangups = [a for a in log if isinstance(a, Hangup)]
    assert len(hangups) == 1 and log[-1] == hangups[0]
    assert driver.runner.phase is Phase.ENDED
