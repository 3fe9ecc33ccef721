"""MenuRunner scenarios on a FakeClock: assert after every step (h11 test_state style)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tui_engine.core import FakeClock
from tui_engine.menus import (
    Action,
    AttemptsExhausted,
    Authenticate,
    Dialplan,
    DigitsCollected,
    Hangup,
    MenuDefaults,
    MenuEntered,
    MenuError,
    MenuRunner,
    Phase,
    PlayPrompts,
    Reprompt,
    StopPlayback,
    Transfer,
    TransferFailed,
    load_dialplans,
)
from tui_engine.menus.testing import MenuHarness
from tui_engine.menus.voicemail import MailboxRequest
from tui_engine.voicemail import Voicemail

BUNDLED = Path(__file__).resolve().parents[2] / "tui_engine" / "dialplans"


def play(*names: str, barge_in: bool = True) -> tuple[tuple[str, ...], bool]:
    return names, barge_in


def plays(actions: list[Action]) -> list[tuple[tuple[str, ...], bool]]:
    return [(tuple(p.name for p in a.prompts), a.barge_in) for a in actions if isinstance(a, PlayPrompts)]


def kinds(actions: list[Action]) -> list[str]:
    return [type(a).__name__ for a in actions]


def in_main(plan: Dialplan, defaults: MenuDefaults | None = None) -> MenuHarness:
    """A call that heard the whole greeting (4 s) and now waits in the main menu."""
    call = MenuHarness(plan, defaults)
    assert call.start() == [MenuEntered(menu="main"), call.playing]
    assert call.finish_prompt() == []
    assert call.now == 4.0
    return call


# -- the no-input cycle -------------------------------------------------------------------
def test_full_default_cycle_ten_seconds_three_attempts_then_goodbye(base_plan: Dialplan) -> None:
    call = MenuHarness(base_plan)
    actions = call.start()
    assert kinds(actions) == ["MenuEntered", "PlayPrompts"]
    assert plays(actions) == [play("long")]
    assert call.runner.menu_deadline() is None  # a playing prompt is progress: no timer
    assert call.runner.seconds_left(0.0) is None
    assert call.advance(3.9) == []  # still playing

    assert call.finish_prompt() == []  # t=4: the silent period starts when the prompt ends
    assert call.runner.next_deadline() == 14.0
    assert call.runner.seconds_left(call.now) == 10.0
    assert (call.runner.attempt, call.runner.max_attempts) == (1, 3)
    assert call.advance(9.999) == []

    actions = call.advance(0.001)  # t=14
    assert actions[0] == Reprompt(menu="main", attempt=2, of=3, due=14.0)
    assert plays(actions) == [play("short")]  # escalation: the short prompt from attempt 2 on
    assert call.runner.attempt == 2
    assert call.runner.menu_deadline() is None

    assert call.finish_prompt() == []  # t=16
    assert call.runner.next_deadline() == 26.0
    actions = call.advance(10)
    assert actions[0] == Reprompt(menu="main", attempt=3, of=3, due=26.0)
    assert plays(actions) == [play("short")]  # the last prompt repeats

    assert call.finish_prompt() == []  # t=28
    assert call.advance(9.9) == []
    actions = call.advance(0.1)  # t=38: third silent period over
    assert actions[0] == AttemptsExhausted(menu="main", attempts=3, due=38.0, then="hangup")
    assert plays(actions) == [play("goodbye", barge_in=False)]
    assert not call.ended
    assert call.press("1") == []  # too late: the goodbye cannot be interrupted

    assert call.finish_prompt() == [Hangup(reason="inactivity-timeout")]  # t=39.5
    assert call.runner.phase is Phase.ENDED
    assert call.runner.hangup_reason == "inactivity-timeout"
    # 30 s of silence in all: the three periods between prompt ends and the next prompt.
    starts = [t for t, a in call.log if isinstance(a, PlayPrompts)]
    assert starts == [0.0, 14.0, 26.0, 38.0]
    assert (14.0 - 4.0) + (26.0 - 16.0) + (38.0 - 28.0) == 30.0
    assert call.advance(100) == []
    assert call.press("1") == [] and call.hang_up() == []


def test_a_digit_resets_the_no_input_count(base_plan: Dialplan) -> None:
    call = in_main(base_plan)
    call.advance(10)
    call.finish_prompt()  # t=16, attempt 2
    assert call.runner.attempt == 2
    actions = call.press("9")  # not a choice: invalid, but it is input
    assert plays(actions) == [play("invalid", "short")]
    assert call.runner.attempt == 1
    assert call.runner.invalid_count == 1
    call.finish_prompt()  # t=19
    assert call.runner.next_deadline() == 29.0
    # three whole silent periods again before the goodbye
    assert [a for a in call.advance(34) if isinstance(a, Reprompt)] == [
        Reprompt(menu="main", attempt=2, of=3, due=29.0),
        Reprompt(menu="main", attempt=3, of=3, due=41.0),
    ]
    assert call.now == 53.0 and call.playing is not None  # goodbye started at 43 + 10
    assert plays([call.playing]) == [play("goodbye", barge_in=False)]
    assert call.finish_prompt() == [Hangup(reason="inactivity-timeout")]
    assert call.runner.invalid_count == 1  # separate counters


# -- barge-in and type-ahead --------------------------------------------------------------
def test_digit_during_prompt_stops_it_and_is_kept(base_plan: Dialplan) -> None:
    clock = FakeClock()
    runner = MenuRunner(base_plan, MenuDefaults())
    runner.start(clock.now())
    assert runner.digit("1", clock.advance(1.0)) == [StopPlayback()]
    assert runner.digit("2", clock.advance(0.1)) == []  # one stop is enough; the digit is kept
    assert runner.current_menu == "main"
    # the glue reports the stopped prompt; both digits are used, in order
    actions = runner.prompt_finished(clock.advance(0.02), completed=False)
    assert actions == [MenuEntered(menu="account")]  # "ask" skipped: the caller already typed ahead
    assert runner.phase is Phase.WAITING
    assert runner.digit("3", clock.now()) == []
    actions = runner.digit("#", clock.now())
    assert actions[:2] == [DigitsCollected(var="acct", value="23"), MenuEntered(menu="main")]
    assert isinstance(actions[2], PlayPrompts)


def test_type_ahead_across_menus_loses_no_digit(base_plan: Dialplan) -> None:
    call = MenuHarness(base_plan)
    call.start()
    call.advance(1.0)
    actions = call.press("123#")  # "89 arrives as 8" must not happen here
    assert kinds(actions) == [
        "StopPlayback",
        "MenuEntered",
        "PlayPrompts",
        "StopPlayback",
        "DigitsCollected",
        "MenuEntered",
        "PlayPrompts",
    ]
    assert actions[4] == DigitsCollected(var="acct", value="23")
    assert call.runner.variables["acct"] == call.runner.variables["entry"] == "23"  # entry: the last input
    assert call.runner.current_menu == "main"


def test_barge_in_off_buffers_digits_until_the_prompt_ends(base_plan: Dialplan) -> None:
    call = in_main(base_plan)
    actions = call.press("4")
    assert actions[0] == MenuEntered(menu="quiet")
    assert plays(actions) == [play("long", barge_in=False)]
    call.advance(1.0)
    assert call.press("1") == []  # no StopPlayback: the prompt plays on
    assert call.playing is not None and call.runner.current_menu == "quiet"
    actions = call.finish_prompt()  # t=9: now the buffered digit is used
    assert actions[0] == MenuEntered(menu="main")
    assert plays(actions) == [play("long")]


# -- invalid input ------------------------------------------------------------------------
def test_invalid_input_counts_then_max_invalid_hangs_up(base_plan: Dialplan) -> None:
    call = in_main(base_plan)
    assert plays(call.press("7")) == [play("invalid", "short")]
    assert call.runner.invalid_count == 1
    call.finish_prompt()
    assert plays(call.press("8")) == [play("invalid", "short")]
    assert call.runner.invalid_count == 2
    call.finish_prompt()
    actions = call.press("9")  # third invalid entry = max-invalid (default 3)
    assert plays(actions) == [play("goodbye", barge_in=False)]
    assert call.finish_prompt() == [Hangup(reason="max-invalid")]


def test_valid_choice_resets_the_invalid_counter(base_plan: Dialplan) -> None:
    call = in_main(base_plan)
    call.press("7")
    call.finish_prompt()
    call.press("7")
    call.finish_prompt()
    assert call.runner.invalid_count == 2
    assert plays(call.press("2")) == [play("info")]  # valid: play, then back
    assert call.runner.invalid_count == 0
    actions = call.finish_prompt()
    assert actions[0] == MenuEntered(menu="main") and plays(actions) == [play("long")]
    call.finish_prompt()
    call.press("7")
    call.finish_prompt()
    call.press("7")
    assert not call.ended and call.runner.invalid_count == 2


# -- digit collection ---------------------------------------------------------------------
def in_account(plan: Dialplan, defaults: MenuDefaults | None = None) -> MenuHarness:
    call = in_main(plan, defaults)
    actions = call.press("1")
    assert actions[0] == MenuEntered(menu="account") and plays(actions) == [play("ask")]
    call.finish_prompt()  # t=6
    return call


def test_collect_ends_on_terminator(base_plan: Dialplan) -> None:
    call = in_account(base_plan)
    assert call.press("12") == []
    assert call.runner.next_deadline() == 6.0 + 3.0  # inter-digit, not no-input
    actions = call.press("#")
    assert actions[0] == DigitsCollected(var="acct", value="12")
    assert actions[1] == MenuEntered(menu="main")
    assert call.runner.variables["acct"] == "12"


def test_collect_ends_at_max_digits(base_plan: Dialplan) -> None:
    call = in_account(base_plan)
    assert call.press("123") == []
    assert call.press("4")[0] == DigitsCollected(var="acct", value="1234")


def test_collect_ends_on_inter_digit_timeout(base_plan: Dialplan) -> None:
    call = in_account(base_plan)
    call.press("5")
    assert call.advance(2.9) == []
    call.press("6")  # t=8.9: the inter-digit timer restarts
    assert call.runner.next_deadline() == pytest.approx(11.9)
    assert call.advance(2.99) == []
    actions = call.advance(0.01)
    assert actions[0] == DigitsCollected(var="acct", value="56")


def test_too_few_digits_is_invalid_input(base_plan: Dialplan) -> None:
    call = in_account(base_plan)
    assert plays(call.press("5#")) == [play("invalid", "ask")]
    assert call.runner.invalid_count == 1 and "acct" not in call.runner.variables


def test_inter_digit_timer_is_not_swallowed_by_the_no_input_timer(
    make_plan: Callable[..., Dialplan], base_text: str
) -> None:
    # account: no-input 4 s; make inter-digit 6 s, longer than the no-input timeout
    plan = make_plan(base_text.replace("inter-digit-timeout: 3s", "inter-digit-timeout: 6s"))
    call = in_account(plan)
    call.press("5")  # t=6
    assert call.advance(5.9) == []  # the no-input timer (4 s) is held while typing
    actions = call.advance(0.1)  # t=12: the inter-digit timeout ends the entry
    assert not any(isinstance(a, Reprompt) for a in actions)
    assert plays(actions) == [play("invalid", "ask")]  # one digit < min-digits 2


# -- escalation and overrides -------------------------------------------------------------
def test_escalating_prompts_per_attempt(make_plan: Callable[..., Dialplan], base_text: str) -> None:
    text = base_text.replace("prompts: [long, short]", "prompts: [long, [info, short], thanks]")
    call = MenuHarness(make_plan(text), MenuDefaults(max_attempts=4))
    assert plays(call.start()) == [play("long")]
    heard = []
    for _ in range(3):
        call.finish_prompt()
        heard += plays(call.advance(10))
    assert heard == [play("info", "short"), play("thanks"), play("thanks")]


def test_per_menu_overrides(base_plan: Dialplan) -> None:
    call = in_account(base_plan)  # account: no-input 4 s, max-attempts 2
    assert call.runner.max_attempts == 2
    assert call.runner.next_deadline() == 10.0
    actions = call.advance(4)
    assert actions[0] == Reprompt(menu="account", attempt=2, of=2, due=10.0)
    call.finish_prompt()  # t=12
    assert plays(call.advance(4)) == [play("goodbye", barge_in=False)]
    assert call.finish_prompt() == [Hangup(reason="inactivity-timeout")]


def test_dialplan_settings_override_defaults(
    make_plan: Callable[..., Dialplan], base_text: str
) -> None:
    plan = make_plan("settings: {no-input-timeout: 2.5, max-attempts: 1}\n" + base_text)
    call = in_main(plan)
    assert call.runner.next_deadline() == 6.5
    assert plays(call.advance(2.5)) == [play("goodbye", barge_in=False)]


def test_update_defaults_mid_call(base_plan: Dialplan) -> None:
    call = in_main(base_plan)
    call.advance(1)  # t=5, deadline 14
    assert call.update(MenuDefaults(no_input_timeout=20.0)) == []
    assert call.runner.next_deadline() == 24.0
    call.advance(2)  # t=7
    actions = call.update(MenuDefaults(no_input_timeout=2.0, max_attempts=2))
    # the period (started at 4) is already longer than 2 s: due now, never in the past
    assert actions[0] == Reprompt(menu="main", attempt=2, of=2, due=7.0)
    call.finish_prompt()  # t=9
    assert plays(call.advance(2)) == [play("goodbye", barge_in=False)]


def test_update_defaults_keeps_menu_overrides(base_plan: Dialplan) -> None:
    call = in_account(base_plan)
    assert call.update(MenuDefaults(no_input_timeout=30.0, inter_digit_timeout=1.0)) == []
    assert call.runner.next_deadline() == 10.0  # account sets its own 4 s
    assert call.runner.settings.inter_digit_timeout == 3.0


# -- steps --------------------------------------------------------------------------------
def test_transfer_then_hangup(base_plan: Dialplan) -> None:
    call = in_main(base_plan)
    assert call.press("0") == [Transfer(uri="sip:operator@127.0.0.1", timeout=30.0)]
    assert call.runner.phase is Phase.TRANSFERRING and call.runner.menu_deadline() == call.now + 30.0
    assert call.transfer_ok() == [Hangup(reason="transfer")]


def test_a_refused_transfer_plays_the_prompt_and_returns_to_the_menu(base_plan: Dialplan) -> None:
    call = in_main(base_plan)
    call.press("0")
    actions = call.transfer_failed("603")
    assert actions[0] == TransferFailed(uri="sip:operator@127.0.0.1", why="603", due=call.now)
    assert plays(actions) == [play("invalid")]  # no transfer-failed prompt: the invalid one
    call.finish_prompt()
    assert call.runner.current_menu == "main" and call.runner.phase is Phase.PLAYING
    call.finish_prompt()  # the menu prompt again, then the no-input timer runs again
    assert call.runner.menu_deadline() == call.now + 10.0
    assert not call.ended and call.transfer_failed("486") == []  # a late second report: ignored


def test_an_unconfirmed_transfer_times_out_back_to_the_menu(base_plan: Dialplan) -> None:
    call = in_main(base_plan)
    start = call.now
    call.press("0")
    assert call.advance(29.5) == []
    actions = call.advance(0.5)
    assert actions[0] == TransferFailed(uri="sip:operator@127.0.0.1", why="timeout", due=start + 30.0)
    assert call.transfer_ok() == []  # the NOTIFY came too late: the caller is in the menu


def test_on_transfer_failed_step_of_the_menu(make_plan: Callable[..., Dialplan], base_text: str) -> None:
    text = base_text.replace(
        '      "4": {goto: quiet}\n',
        '      "4": {goto: quiet}\n    on-transfer-failed: {play: thanks, hangup: completed}\n',
    )
    call = in_main(make_plan(text))
    call.press("0")
    actions = call.transfer_failed("notify 486")
    assert plays(actions) == [play("thanks")]
    assert call.finish_prompt()[-1] == Hangup(reason="completed")


def test_play_then_hang_up_completed(base_plan: Dialplan) -> None:
    call = in_main(base_plan)
    assert plays(call.press("3")) == [play("thanks")]
    assert call.finish_prompt() == [Hangup(reason="completed")]


def test_caller_hangup_ends_everything(base_plan: Dialplan) -> None:
    call = MenuHarness(base_plan)
    call.start()
    assert call.hang_up() == [Hangup(reason="caller-hangup")]
    assert call.runner.prompt_finished(1.0, completed=False) == []
    assert call.runner.poll(100.0) == [] and call.runner.menu_deadline() is None


def test_driver_mistakes_raise_menu_error(base_plan: Dialplan) -> None:
    runner = MenuRunner(base_plan, MenuDefaults())
    with pytest.raises(MenuError):
        runner.prompt_finished(0.0, completed=True)
    runner.start(0.0)
    with pytest.raises(MenuError):
        runner.start(0.0)
    with pytest.raises(MenuError):
        runner.auth_result(True, 0.0)
    with pytest.raises(MenuError):
        runner.digit("x", 0.0)
    assert runner.current_menu == "main" and runner.phase is Phase.PLAYING


# -- voicemail login (bundled dialplan) ---------------------------------------------------
def voicemail(data_dir: Path | None = None) -> MenuHarness:
    mailboxes = Voicemail(data_dir) if data_dir is not None else None
    return MenuHarness(load_dialplans(BUNDLED)["voicemail"], mailboxes=mailboxes)


def login(call: MenuHarness, mailbox: str, pin: str) -> list[Action]:
    """Type the mailbox over its prompt, then the PIN over its prompt."""
    actions = call.press(mailbox + "#")
    assert DigitsCollected(var="mailbox", value=mailbox) in actions
    assert actions[-2:-1] == [MenuEntered(menu="pin")]
    call.advance(0.5)
    return call.press(pin + "#")


def test_voicemail_login_succeeds(tmp_path: Path) -> None:
    call = voicemail(tmp_path)
    assert call.start()[0] == MenuEntered(menu="mailbox")
    actions = login(call, "1000", "1234")
    assert actions[-1] == Authenticate(mailbox="1000", pin="1234")
    assert "1234" not in repr(actions[-1])  # PINs stay out of logs
    assert call.runner.phase is Phase.AUTHENTICATING
    assert call.advance(60) == []  # the system is checking: no no-input timer meanwhile
    actions = call.auth(True)
    request = actions[0]
    assert isinstance(request, MailboxRequest) and (request.op, request.mailbox) == ("open", "1000")
    assert "pin" not in request.variables  # checked PINs never reach the store
    assert MenuEntered(menu="count") in actions
    assert plays(actions) == [play("no-new-messages")]  # "You have no new messages."
    assert MenuEntered(menu="mailbox-menu") in call.finish_prompt()
    assert call.runner.variables["new_messages"] == "0"
    assert "pin" not in call.runner.variables and call.runner.variables["mailbox"] == "1000"
    assert "1234" not in call.runner.variables.values()  # not kept as the last entry either


def test_voicemail_three_failed_logins_then_goodbye() -> None:
    call = voicemail()
    call.start()
    for attempt in (1, 2):
        assert login(call, "1000", "9999")[-1] == Authenticate(mailbox="1000", pin="9999")
        assert plays(call.auth(False)) == [play("login-failed")]
        actions = call.finish_prompt()
        assert actions[0] == MenuEntered(menu="mailbox"), attempt
    login(call, "1000", "0000")
    assert plays(call.auth(False)) == [play("login-failed", "goodbye")]
    assert call.finish_prompt() == [Hangup(reason="max-invalid")]


def test_digits_typed_during_authentication_are_kept(tmp_path: Path) -> None:
    call = voicemail(tmp_path)
    call.start()
    login(call, "1000", "1234")
    assert call.press("3") == []  # buffered while the glue checks the PIN
    actions = call.auth(True)
    # the count and the menu prompt are skipped (typed ahead) and "3" goes to the greeting menu
    entered = [a.menu for a in actions if isinstance(a, MenuEntered)]
    assert entered == ["count", "mailbox-menu", "greeting"]
    assert plays(actions) == [play("greeting-options")]


def test_main_menu_support_times_out_back_to_main() -> None:
    call = MenuHarness(load_dialplans(BUNDLED)["main"])
    call.start()
    call.finish_prompt()
    assert call.press("2")[0] == MenuEntered(menu="support")
    call.finish_prompt()
    actions = call.advance(10)
    assert actions[0].__class__ is Reprompt
    call.finish_prompt()
    call.advance(10)
    call.finish_prompt()
    exhausted, entered = call.advance(10)[:2]
    assert isinstance(exhausted, AttemptsExhausted)
    assert (exhausted.menu, exhausted.attempts, exhausted.then) == ("support", 3, "goto:main")
    assert entered == MenuEntered(menu="main")  # on-no-input: goto main, not hang up


# -- the call ends from outside -------------------------------------------------------------
def test_call_ended_while_a_prompt_plays_drops_everything_and_stays_quiet(base_plan: Dialplan) -> None:
    clock = FakeClock()
    runner = MenuRunner(base_plan, MenuDefaults())
    runner.start(clock.now())
    runner.digit("1", clock.advance(0.5))  # type-ahead kept while the greeting plays
    runner.call_ended(clock.advance(0.1))
    assert runner.phase is Phase.ENDED
    assert runner.next_deadline() is None  # no timer wanted any more
    assert runner.prompt_finished(clock.advance(1.0), completed=False) == []  # a late report is ignored
    assert runner.poll(clock.advance(60.0)) == []
    assert runner.digit("2", clock.now()) == []
    runner.call_ended(clock.now())  # twice is harmless
    assert runner.phase is Phase.ENDED


def test_call_ended_after_the_runner_hung_up_keeps_its_reason(base_plan: Dialplan) -> None:
    call = MenuHarness(base_plan)
    call.start()
    call.advance(600.0)  # nobody presses anything: the no-input cycle runs out
    assert call.ended and call.runner.hangup_reason == "inactivity-timeout"
    call.runner.call_ended(call.now)
    assert call.runner.hangup_reason == "inactivity-timeout"
    assert call.runner.phase is Phase.ENDED
