"""``set``, ``switch``, switch menus, the clock variables and templated transfers, on the fake clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tui_engine.menus import (
    Dialplan,
    Hangup,
    MenuDefaults,
    MenuEntered,
    PlayPrompts,
    SwitchTaken,
    Transfer,
    TransferFailed,
    VariablesSet,
    WebhookRequest,
)
from tui_engine.menus.actions import Speak
from tui_engine.menus.model import Menu, Step
from tui_engine.menus.runner import MAX_ROUTES
from tui_engine.menus.switch import Switch
from tui_engine.menus.testing import MenuHarness
from tui_engine.menus.variables import MAX_VALUE

BERLIN = ZoneInfo("Europe/Berlin")

PLAN = """\
name: lang
goodbye: goodbye
invalid: invalid
time-zone: Europe/Berlin
variables: {queue: "general"}
prompts:
  long: {file: long.wav, text: "Welcome."}
  short: {file: short.wav, text: "Enter your department."}
  info: {file: info.wav, text: "We are closed."}
  thanks: {file: thanks.wav, text: "Thanks."}
  invalid: {file: invalid.wav, text: "Invalid."}
  goodbye: {file: goodbye.wav, text: "Goodbye."}
start: hours
menus:
  hours:
    switch:
      variable: weekday
      cases:
        "sat-sun": {goto: closed}
      default:
        switch:
          variable: time
          cases:
            "08:00-12:30": {set: {shift: "morning"}, goto: main}
            "12:30-18:00": {set: {shift: "afternoon"}, goto: main}
          default: {goto: closed}
  closed:
    prompts: [info]
    choices:
      "1": {goto: main}
  main:
    prompts: [long]
    choices:
      "1":
        set: {queue: "sales", target: "{queue}-{shift}"}
        play: thanks
        transfer: "sip:{target}@127.0.0.1"
      "2": {goto: dept}
      "7": {set: {echo: "{echo}{echo}x"}}
      "3": {transfer: "sip:{caller}@127.0.0.1"}
      "9":
        set: {queue: "{entry}"}
        switch: {variable: queue, cases: {"9": {play: info}}, default: {hangup: completed}}
  dept:
    prompts: [short]
    collect: {variable: dept, min-digits: 1, max-digits: 4, terminator: "#"}
    next:
      switch:
        variable: dept
        cases:
          "0": {transfer: "sip:operator@127.0.0.1"}
          "100-199": {transfer: "sip:sales-{dept}@127.0.0.1"}
          "_2XX": {transfer: "sip:support-{entry}@127.0.0.1"}
        default: {play: info, goto: main}
"""


@pytest.fixture
def plan(make_plan: Callable[..., Dialplan]) -> Dialplan:
    return make_plan(PLAN)


def at(text: str) -> datetime:
    """A wall-clock moment in Berlin (2026-12-07 is a Monday)."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def call_at(plan: Dialplan, moment: str, **variables: str) -> MenuHarness:
    call = MenuHarness(plan, wall=at(moment), variables=variables or None)
    return call


def test_time_of_day_switch_routes_at_once_and_sets_the_shift(plan: Dialplan) -> None:
    call = call_at(plan, "2026-12-07T09:15")  # Monday morning
    actions = call.start()
    assert actions[0] == MenuEntered(menu="hours")
    assert actions[1] == SwitchTaken(variable="weekday", value="mon", case=None)
    assert actions[2] == SwitchTaken(variable="time", value="09:15", case="08:00-12:30")
    assert actions[3] == VariablesSet(values=(("shift", "morning"),))
    assert actions[4] == MenuEntered(menu="main")
    assert isinstance(actions[5], PlayPrompts) and actions[5].prompts[0].name == "long"
    assert call.variables["queue"] == "general"  # declared under variables:
    assert call.variables["date"] == "2026-12-07" and call.variables["hour"] == "09"


@pytest.mark.parametrize(
    ("moment", "menu"),
    [
        ("2026-12-07T07:59", "closed"),  # before opening
        ("2026-12-07T12:30", "main"),  # the afternoon range starts where the morning one ends
        ("2026-12-07T17:59", "main"),
        ("2026-12-07T18:00", "closed"),  # the end of a range is excluded
        ("2026-12-12T10:00", "closed"),  # Saturday
    ],
)
def test_opening_hours_edges(plan: Dialplan, moment: str, menu: str) -> None:
    call = call_at(plan, moment)
    entered = [a.menu for a in call.start() if isinstance(a, MenuEntered)]
    assert entered == ["hours", menu]


def test_time_zone_is_the_dialplans(plan: Dialplan) -> None:
    """09:15 in Berlin is 08:15 UTC: the switch reads Berlin's clock."""
    call = MenuHarness(plan, wall=datetime.fromisoformat("2026-12-07T08:15+00:00"))
    taken = [a for a in call.start() if isinstance(a, SwitchTaken)]
    assert taken[-1] == SwitchTaken(variable="time", value="09:15", case="08:00-12:30")


def test_clock_moves_with_the_fake_clock(plan: Dialplan) -> None:
    """A call that starts in the morning and routes again in the afternoon sees the new time."""
    call = call_at(plan, "2026-12-07T12:29:30")
    call.start()
    assert call.variables["shift"] == "morning"
    call.advance(35.0)  # two no-input periods and replays (4 s + 10 s each), the third running
    assert not call.ended
    call.press("1")
    assert call.variables["time"] == "12:30"
    assert call.variables["target"] == "sales-morning"  # set once; the switch is not re-run


def test_set_renders_in_order_and_reaches_the_transfer_uri(plan: Dialplan) -> None:
    call = call_at(plan, "2026-12-07T14:00")
    call.start()
    actions = call.press("1")  # barge-in: stops the greeting
    set_action = next(a for a in actions if isinstance(a, VariablesSet))
    assert set_action.values == (("queue", "sales"), ("target", "sales-afternoon"))
    call.finish_prompt()  # "thanks"
    transfer = next(a for _, a in call.log if isinstance(a, Transfer))
    assert transfer.uri == "sip:sales-afternoon@127.0.0.1"


def test_switch_on_collected_digits_ranges_and_patterns(plan: Dialplan) -> None:
    call = call_at(plan, "2026-12-07T14:00")
    call.start()
    call.press("2")
    call.finish_prompt()
    actions = call.press("150#")
    assert SwitchTaken(variable="dept", value="150", case="100-199") in actions
    assert actions[-1] == Transfer(uri="sip:sales-150@127.0.0.1", timeout=30.0)


def test_switch_pattern_and_default(plan: Dialplan) -> None:
    call = call_at(plan, "2026-12-07T14:00")
    call.start()
    call.press("2")
    call.finish_prompt()
    assert call.press("250#")[-1] == Transfer(uri="sip:support-250@127.0.0.1", timeout=30.0)
    call.transfer_failed("486")  # back to dept (the default transfer-failed path)
    call.finish_prompt()
    call.finish_prompt()
    actions = call.press("2999")  # four digits: no case matches
    assert SwitchTaken(variable="dept", value="2999", case=None) in actions
    assert isinstance(actions[-1], PlayPrompts) and actions[-1].prompts[0].name == "info"


def test_entry_is_the_last_collected_not_a_choice_key(plan: Dialplan) -> None:
    """After 99# a choice key (9) leaves entry alone: it still holds the digits."""
    call = call_at(plan, "2026-12-07T14:00")
    call.start()
    call.press("2")
    call.finish_prompt()
    call.press("99#")  # no case: the default plays info, then main
    call.finish_prompt()
    assert call.runner.current_menu == "main" and call.variables["entry"] == "99"
    actions = call.press("9")
    assert VariablesSet(values=(("queue", "99"),)) in actions
    assert SwitchTaken(variable="queue", value="99", case=None) in actions
    assert actions[-1] == Hangup(reason="completed")


def test_a_case_without_ending_returns_to_the_menu(plan: Dialplan) -> None:
    call = call_at(plan, "2026-12-07T14:00", entry="9")  # as if collected
    call.start()
    actions = call.press("9")
    assert SwitchTaken(variable="queue", value="9", case="9") in actions
    call.finish_prompt()  # info, then back to main
    assert call.runner.current_menu == "main"


def test_a_transfer_uri_a_variable_breaks_is_never_sent(plan: Dialplan) -> None:
    """The caller's From user part fills the URI; a value with a space or '>' is no SIP URI."""
    call = call_at(plan, "2026-12-07T14:00", caller="bob> <sip:evil@x")
    call.start()
    actions = call.press("3")
    assert not any(isinstance(a, Transfer) for a in actions)
    failed = next(a for a in actions if isinstance(a, TransferFailed))
    assert failed.why == "bad-uri" and failed.uri == "sip:bob> <sip:evil@x@127.0.0.1"
    assert isinstance(actions[-1], PlayPrompts)  # the invalid prompt, then main again
    assert call.runner.current_menu == "main" and not call.ended


def test_a_good_caller_fills_the_uri(plan: Dialplan) -> None:
    call = call_at(plan, "2026-12-07T14:00", caller="+4930123")
    call.start()
    assert call.press("3")[-1] == Transfer(uri="sip:+4930123@127.0.0.1", timeout=30.0)


def test_an_unset_variable_renders_empty(plan: Dialplan) -> None:
    """Outside the opening hours ``shift`` is never set: it renders as ""."""
    call = call_at(plan, "2026-12-07T20:00")
    call.start()
    call.press("1")  # closed -> main
    call.press("1")
    call.finish_prompt()
    transfer = next(a for _, a in call.log if isinstance(a, Transfer))
    assert transfer.uri == "sip:sales-@127.0.0.1"


ROUTER_LOOP_AT_RUN_TIME = """\
goodbye: goodbye
prompts:
  long: {file: long.wav}
  goodbye: {file: goodbye.wav}
menus:
  a:
    switch: {variable: caller, cases: {"x": {goto: b}}, default: {goto: b}}
  b:
    switch: {variable: caller, default: {goto: a}}
"""


def test_a_loop_of_switch_menus_built_past_the_checks_still_ends(make_plan: Callable[..., Dialplan]) -> None:
    """The loader refuses this loop; a runner given such menus anyway (built at run time) ends the call."""
    good = make_plan(ROUTER_LOOP_AT_RUN_TIME.replace("{goto: a}", "{hangup: completed}"))
    back_to_a = Step(switch=Switch(variable="caller", cases=(), default=Step(goto="a")))
    looping = replace(good, menus={**good.menus, "b": Menu(name="b", prompts=(), route=back_to_a)})
    call = MenuHarness(looping)
    actions = call.start()
    assert sum(isinstance(a, MenuEntered) for a in actions) == MAX_ROUTES + 1  # the last one refused
    assert isinstance(actions[-1], PlayPrompts) and actions[-1].prompts[0].name == "goodbye"
    assert call.finish_prompt()[-1] == Hangup(reason="error")


def test_a_set_repeated_by_the_caller_stays_bounded(plan: Dialplan) -> None:
    """Each press doubles ``echo``; the value is cut at MAX_VALUE characters, not grown for ever."""
    call = call_at(plan, "2026-12-07T14:00")
    call.start()
    for _ in range(40):  # 2**40 characters unbounded
        call.press("7")
    assert len(call.variables["echo"]) == MAX_VALUE


def test_a_reload_of_the_time_zone_option_reaches_running_calls(make_plan: Callable[..., Dialplan]) -> None:
    """Without a time-zone: key the engine's option counts, also when it changes mid-call."""
    plan = make_plan(PLAN.replace("time-zone: Europe/Berlin\n", ""))
    call = MenuHarness(plan, MenuDefaults(time_zone="UTC"), wall=at("2026-12-07T09:15"))  # 08:15 UTC
    call.start()
    assert call.variables["time"] == "08:15"
    call.update(MenuDefaults(time_zone="America/New_York"))
    call.press("2")  # a step runs: the clock variables are taken again
    assert call.variables["time"] == "03:15"


SPOKEN = """\
goodbye: goodbye
time-zone: UTC
prompts:
  long: {file: long.wav}
  goodbye: {file: goodbye.wav}
menus:
  greet:
    set: {part: "{hour}"}
    switch:
      variable: part
      cases:
        "0-11": {set: {greeting: "Good morning"}, goto: main}
      default: {set: {greeting: "Hello"}, goto: main}
  main:
    prompts: [[{say: "{greeting}, {caller}. It is {time}."}, long]]
    choices:
      "1": {set: {who: "{caller}"}, say: "Goodbye {who}", hangup: completed}
"""


def test_values_reach_say_items_in_menu_prompts_and_steps(make_plan: Callable[..., Dialplan]) -> None:
    """A switch menu's own set, a case's set and the clock reach the speech items (set before play)."""
    plan = make_plan(SPOKEN)
    wall = datetime.fromisoformat("2026-12-07T09:41+00:00")
    call = MenuHarness(plan, wall=wall, variables={"caller": "bob"})
    actions = call.start()
    assert VariablesSet(values=(("part", "09"),)) in actions
    assert Speak(id=1, texts=("Good morning, bob. It is 09:41.",), timeout=5.0) in actions
    actions = call.press("1")
    assert VariablesSet(values=(("who", "bob"),)) in actions  # after the barge-in
    assert Speak(id=2, texts=("Goodbye bob",), timeout=5.0) in actions


HOOKED = """\
goodbye: goodbye
prompts:
  long: {file: long.wav}
  goodbye: {file: goodbye.wav}
menus:
  main:
    prompts: [long]
    choices:
      "1": {set: {team: "sales"}, webhook: {url: "http://app.invalid/route/{team}"}}
"""


def test_a_webhook_answer_sets_switches_and_transfers_with_the_calls_variables(
    make_plan: Callable[..., Dialplan],
) -> None:
    """An answer is built by the same builder: set, switch and a templated transfer run in it, and
    its {name}s are the live call's (the checks do not refuse names the dialplan never sets)."""
    call = MenuHarness(make_plan(HOOKED), wall=at("2026-12-07T10:00"), variables={"caller": "+4930123"})
    call.start()
    (request,) = [a for a in call.press("1") if isinstance(a, WebhookRequest)]
    assert request.url == "http://app.invalid/route/sales"
    assert request.payload["variables"] == {"caller": "+4930123", "team": "sales"}  # no clock values
    actions = call.webhook_answer({
        "set": {"agent": "{team}-{queue}"},
        "switch": {"variable": "caller", "cases": {"_+49.": {"transfer": "sip:de-{agent}@127.0.0.1"}},
                   "default": {"hangup": "completed"}},
    })  # fmt: skip
    assert VariablesSet(values=(("agent", "sales-"),)) in actions  # queue: never set, ""
    assert SwitchTaken(variable="caller", value="+4930123", case="_+49.") in actions
    assert actions[-1] == Transfer(uri="sip:de-sales-@127.0.0.1", timeout=30.0)


_ZONES = [None, ZoneInfo("UTC"), ZoneInfo("Europe/Amsterdam"), ZoneInfo("Asia/Kathmandu"),
          ZoneInfo("Africa/Monrovia"), ZoneInfo("America/St_Johns")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**31), 2**32), st.sampled_from(range(len(_ZONES)))), max_size=20))
@example([(1_711_846_799, 2), (1_711_846_800, 2), (1_711_846_860, 2)])  # CET → CEST, 2024-03-31
@example([(63_072_000, 4), (63_072_001, 4), (63_072_030, 4)])  # Monrovia's -0:44:30, 1972
def test_clock_values_kept_per_minute_are_those_of_the_moment(moments: list[tuple[int, int]]) -> None:
    """The last minute's values are kept per zone: whatever the order of the calls, each gets
    what ``datetime`` says for its own moment."""
    from tui_engine.menus.variables import WEEKDAYS, clock_values

    for seconds, which in moments:
        for epoch in (seconds, seconds + 0.5):
            zone = _ZONES[which]
            moment = datetime.fromtimestamp(epoch, ZoneInfo("UTC")).astimezone(zone)
            assert clock_values(epoch, zone) == {
                "time": moment.strftime("%H:%M"), "hour": moment.strftime("%H"),
                "minute": moment.strftime("%M"), "weekday": WEEKDAYS[moment.weekday()],
                "date": moment.date().isoformat(),
            }
