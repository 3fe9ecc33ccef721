"""The bundled voicemail on the sans-I/O runner (MenuHarness, fake clock, a real store in tmp):
a caller leaves a message, the owner hears how many are new, listens, repeats, deletes and records
the greeting; the no-input rules hold at every step."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_engine.menus import (
    AttemptsExhausted,
    Authenticate,
    Hangup,
    MenuEntered,
    Phase,
    PlayPrompts,
    Reprompt,
    load_dialplans,
)
from tui_engine.menus.actions import Action
from tui_engine.menus.record import FILE_WORK_TIMEOUT, StartRecording
from tui_engine.menus.testing import MenuHarness
from tui_engine.menus.voicemail import MailboxRequest
from tui_engine.voicemail import Voicemail

BUNDLED = Path(__file__).resolve().parents[2] / "tui_engine" / "dialplans"
PLANS = load_dialplans(BUNDLED)


def names(actions: list[Action]) -> list[str]:
    return [p.name for a in actions if isinstance(a, PlayPrompts) for p in a.prompts]


def leave_message(vm: Voicemail, mailbox: str, seconds: float, caller: str = "alice") -> MenuHarness:
    call = MenuHarness(PLANS["leave-message"], mailboxes=vm, variables={"caller": caller})
    call.start()
    actions = call.press(mailbox + "#")
    return_to = names(actions)
    assert return_to in (["default-greeting"], ["greeting"])
    call.finish_prompt()  # the greeting
    assert isinstance(call.finish_prompt()[-1], StartRecording)  # the tone
    call.talk(seconds)
    return call


def log_in(vm: Voicemail, mailbox: str = "1000") -> tuple[MenuHarness, list[Action]]:
    call = MenuHarness(PLANS["voicemail"], mailboxes=vm)
    call.start()
    call.press(mailbox + "#")
    actions = call.press("1234#")
    assert isinstance(actions[-1], Authenticate)
    return call, call.auth(True)


@pytest.fixture
def vm(tmp_path: Path) -> Voicemail:
    return Voicemail(tmp_path)


def test_a_caller_leaves_a_message_and_the_owner_hears_it(vm: Voicemail) -> None:
    call = leave_message(vm, "1000", 4.0)
    actions = call.press("#")
    assert names(actions) == ["message-saved"]
    assert call.finish_prompt() == [Hangup(reason="completed")]
    [message] = vm.store.messages("1000")
    assert message.new and message.caller == "alice"

    owner, actions = log_in(vm)
    assert owner.runner.variables["new_messages"] == "1"
    assert names(actions) == ["you-have", "1", "new-message"]  # "You have 1 new message."
    actions = owner.finish_prompt()
    assert MenuEntered(menu="mailbox-menu") in actions and names(actions) == ["vm-options"]
    actions = owner.press("1")  # listen: the message itself, then its options
    played = [a for a in actions if isinstance(a, PlayPrompts)][-1]
    assert played.prompts[0].path == message.audio
    assert owner.runner.variables["new_messages"] == "0" and not vm.store.messages("1000")[0].new
    owner.finish_prompt()
    owner.finish_prompt()
    assert names(owner.press("4")) == ["message-1"]  # repeat
    owner.finish_prompt()
    owner.finish_prompt()
    actions = owner.press("7")  # delete: then the next one, of which there is none
    assert names(actions) == ["message-deleted"]
    assert vm.store.messages("1000") == []
    assert names(owner.finish_prompt()) == ["no-more-messages"]
    assert names(owner.finish_prompt()) == ["no-new-messages"]  # the count again, then the menu
    assert MenuEntered(menu="mailbox-menu") in owner.finish_prompt()


@pytest.mark.parametrize(
    ("messages", "heard"),
    [(0, ["no-new-messages"]), (1, ["you-have", "1", "new-message"]), (2, ["you-have", "2", "new-messages"]),
     (21, ["you-have", "20", "1", "new-messages"])],
)
def test_the_count_of_new_messages_agrees_with_its_noun(
    vm: Voicemail, messages: int, heard: list[str]
) -> None:
    for i in range(messages):
        vm.store.deposit("1000", b"\0\0" * 800, caller=f"c{i}")
    owner, actions = log_in(vm)
    assert names(actions) == heard
    actions = owner.finish_prompt()
    assert MenuEntered(menu="mailbox-menu") in actions and names(actions) == ["vm-options"]


def test_next_walks_the_messages_new_first(vm: Voicemail) -> None:
    for caller in ("bob", "carol"):
        leave_message(vm, "1000", 2.0, caller).press("#")
    first, second = vm.store.messages("1000")
    vm.store.mark_old("1000", first.id)  # an old message goes after the new one
    owner, _ = log_in(vm)
    assert owner.runner.variables["new_messages"] == "1"
    actions = owner.press("1")
    assert [a for a in actions if isinstance(a, PlayPrompts)][-1].prompts[0].path == second.audio
    owner.finish_prompt()
    owner.finish_prompt()
    actions = owner.press("6")
    assert [a for a in actions if isinstance(a, PlayPrompts)][-1].prompts[0].path == first.audio
    owner.finish_prompt()
    owner.finish_prompt()
    assert names(owner.press("6")) == ["no-more-messages"]


def test_a_recorded_greeting_is_what_callers_hear(vm: Voicemail) -> None:
    owner, _ = log_in(vm)
    owner.finish_prompt()
    owner.press("3")
    owner.finish_prompt()
    owner.press("2")
    owner.finish_prompt()  # "record your greeting after the tone" + the tone
    owner.talk(3.0)
    assert names(owner.press("#")) == ["greeting-saved"]
    assert vm.store.greeting("1000") is not None
    assert list(vm.recordings.glob("*.wav")) == []  # moved, not copied

    call = MenuHarness(PLANS["leave-message"], mailboxes=vm)
    call.start()
    assert names(call.press("1000#")) == ["greeting"]


def test_saying_nothing_is_no_input_three_times_then_goodbye(vm: Voicemail) -> None:
    call = leave_message(vm, "1000", 0.0)
    for attempt in (2, 3):
        actions = call.advance(5.0)  # the recording's silence timeout, nothing said
        assert any(isinstance(a, Reprompt) and a.attempt == attempt for a in actions)  # type: ignore[union-attr]
        assert names(actions) == ["tone"]
        call.finish_prompt()
    actions = call.advance(5.0)
    assert isinstance(actions[1], AttemptsExhausted) and names(actions) == ["goodbye"]
    assert call.finish_prompt() == [Hangup(reason="inactivity-timeout")]
    assert vm.store.messages("1000") == []


def test_the_message_menu_times_out_like_every_menu(vm: Voicemail) -> None:
    leave_message(vm, "1000", 2.0).press("#")
    owner, _ = log_in(vm)
    owner.finish_prompt()
    owner.press("1")
    owner.finish_prompt()  # the message
    actions = owner.advance(120)
    reprompts = [a for a in actions if isinstance(a, Reprompt)]
    assert [(r.menu, r.attempt) for r in reprompts] == [("message", 2), ("message", 3)]
    assert actions[-1] == Hangup(reason="inactivity-timeout")


def test_the_mailbox_operation_holds_the_no_input_timer(vm: Voicemail) -> None:
    call = MenuHarness(PLANS["voicemail"])  # no store answers: the runner waits for one
    call.start()
    call.press("1000#")
    call.press("1234#")
    actions = call.runner.auth_result(True, call.now)
    assert call.runner.phase is Phase.MAILBOX and call.runner.next_deadline() is not None
    assert actions and call.advance(FILE_WORK_TIMEOUT - 1) == []  # held, up to the work's own deadline
    assert call.advance(1) and call.runner.phase is not Phase.MAILBOX  # then it failed


def test_a_full_mailbox_is_said_before_the_tone_not_after_the_message(vm: Voicemail) -> None:
    """Before: the caller heard the greeting and the tone, spoke, and only then "not saved"."""
    vm.store.max_messages = 1
    leave_message(vm, "1000", 2.0).press("#")
    call = MenuHarness(PLANS["leave-message"], mailboxes=vm, variables={"caller": "bob"})
    call.start()
    actions = call.press("1000#")
    assert names(actions) == ["not-saved"] and not any(isinstance(a, StartRecording) for a in actions)
    assert MenuEntered(menu="mailbox") in call.finish_prompt()  # the number again: another mailbox
    call.press("1001#")  # one with room: the greeting, the tone, the recording as usual
    call.finish_prompt()
    assert isinstance(call.finish_prompt()[-1], StartRecording)
    assert [m.caller for m in vm.store.messages("1000")] == ["alice"]


def test_a_mailbox_number_that_cannot_be_a_mailbox_is_refused_before_the_tone(vm: Voicemail) -> None:
    result = vm.perform(MailboxRequest(op="room", mailbox="../x", variables={}))
    assert not result.ok and "InvalidMailbox" in result.why
    assert vm.perform(MailboxRequest(op="room", mailbox="1000", variables={})).ok
