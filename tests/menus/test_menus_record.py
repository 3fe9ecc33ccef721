"""The ``record`` step on the sans-I/O runner (MenuHarness, fake clock): how a recording ends
(key, max length, silence, nothing said, a guard, a hang-up) and what it leaves behind."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from tui_engine.core import CallLimits
from tui_engine.media.recorder import RecordingSlots
from tui_engine.menus import (
    AttemptsExhausted,
    Dialplan,
    DialplanError,
    GuardTripped,
    Hangup,
    MenuDefaults,
    MenuEntered,
    Phase,
    PlayPrompts,
    Reprompt,
)
from tui_engine.menus.record import FILE_WORK_TIMEOUT, KEY_TRIM, StartRecording, StopRecording
from tui_engine.menus.testing import MenuHarness
from tui_engine.voicemail import Voicemail

PLAN = """\
name: rec
goodbye: goodbye
invalid: invalid
prompts:
  ask: {file: ask.wav, text: "Speak after the tone."}
  thanks: {file: thanks.wav, text: "Thanks."}
  invalid: {file: invalid.wav, text: "Invalid."}
  goodbye: {file: goodbye.wav, text: "Goodbye."}
menus:
  main:
    prompts: [thanks]
    choices:
      "1":
        play: ask
        record:
          max-length: 20s
          silence: 3s
          end-keys: "#"
          next: {goto: done}
      "2":
        record: {mailbox: "{box}", silence: 3s, next: {goto: done}}
  done:
    prompts: [thanks]
    choices:
      "9": {hangup: completed}
"""


@pytest.fixture
def plan(make_plan: Callable[..., Dialplan]) -> Dialplan:
    return make_plan(PLAN, "rec.yaml")


def recording(call: MenuHarness, key: str = "1") -> None:
    """Into the recording: the menu prompt, the key, the step's prompt."""
    call.start()
    call.finish_prompt()
    call.press(key)
    if call.playing is not None:
        assert isinstance(call.finish_prompt()[-1], StartRecording)
    assert call.runner.phase is Phase.RECORDING


def stops(actions: list[object]) -> list[StopRecording]:
    return [a for a in actions if isinstance(a, StopRecording)]


def wav_seconds(path: str) -> float:
    with wave.open(path) as w:
        return w.getnframes() / w.getframerate()


def test_a_key_ends_the_recording_and_its_tail_is_trimmed(plan: Dialplan, tmp_path: Path) -> None:
    call = MenuHarness(plan, mailboxes=Voicemail(tmp_path))
    recording(call)
    assert call.talk(4.0) == []
    assert call.press("5") == []  # not an end key: ignored, not buffered
    call.advance(1.0)
    actions = call.press("#")
    stop = stops(actions)[0]
    assert (stop.reason, stop.keep, stop.trim) == ("key", True, KEY_TRIM)
    assert actions[-2:] == [MenuEntered(menu="done"), actions[-1]]
    path = call.runner.variables["recording"]
    assert path.startswith(str(tmp_path / "recordings"))
    assert wav_seconds(path) == pytest.approx(5.0 - KEY_TRIM, abs=0.01)
    assert call.runner.variables["recording_length"] == "5"
    call.finish_prompt()
    assert call.press("9")[-1] == Hangup(reason="completed")  # the key "5" was never used


def test_silence_after_speech_ends_it_keeping_a_short_tail(plan: Dialplan) -> None:
    call = MenuHarness(plan)
    recording(call)
    call.talk(2.0)
    last_report = call.now - 0.25
    assert call.advance(2.7) == []  # 3 s since the last speech report (0.25 s ago) not over yet
    actions = call.advance(0.1)
    stop = stops(actions)[0]
    assert stop.reason == "silence" and stop.keep
    # the silence is cut back to 0.6 s after the last speech report
    assert stop.trim == pytest.approx(3.0 - 0.6)
    assert next(t for t, a in call.log if a is stop) == pytest.approx(last_report + 3.0)
    assert call.runner.variables["recording"] == "memory:recording-1"
    assert MenuEntered(menu="done") in actions


def test_max_length_ends_a_caller_who_never_stops(plan: Dialplan) -> None:
    call = MenuHarness(plan)
    recording(call)
    started = call.now
    actions = call.talk(25.0)
    stop = stops(actions)[0]
    assert (stop.reason, stop.keep, stop.trim) == ("max-length", True, 0.0)
    at = next(t for t, a in call.log if isinstance(a, StopRecording))
    assert at == pytest.approx(started + 20.0)
    assert call.runner.variables["recording_length"] == "20"


def test_never_spoke_is_no_input_three_times_then_goodbye(plan: Dialplan) -> None:
    call = MenuHarness(plan)
    recording(call)
    for attempt in (2, 3):
        actions = call.advance(3.0)
        assert stops(actions)[0].keep is False
        assert Reprompt(menu="main", attempt=attempt, of=3, due=call.now) in actions
        assert isinstance(actions[-1], PlayPrompts)  # "speak after the tone" again
        assert "recording" not in call.runner.variables
        call.finish_prompt()
    actions = call.advance(3.0)
    assert isinstance(actions[1], AttemptsExhausted)
    assert [p.name for p in actions[-1].prompts] == ["goodbye"]  # type: ignore[union-attr]
    assert call.finish_prompt() == [Hangup(reason="inactivity-timeout")]


def test_beyond_the_engines_recordings_the_step_fails_and_the_slot_comes_back(plan: Dialplan) -> None:
    slots = RecordingSlots(1)
    first, second = MenuHarness(plan, recording_slots=slots), MenuHarness(plan, recording_slots=slots)
    recording(first)
    second.start()
    second.finish_prompt()
    second.press("1")
    second.finish_prompt()  # "speak after the tone", then no slot: the step's on-failed
    assert second.runner.phase is Phase.PLAYING and second.recording_since is None
    assert [p.name for p in second.playing.prompts] == ["invalid"]  # type: ignore[union-attr]
    assert second.finish_prompt()[0] == MenuEntered(menu="main")  # the call goes on
    first.talk(1.0)
    first.press("#")
    assert slots.in_use == 0 and first.runner.variables["recording"]
    second.press("1")
    assert isinstance(second.finish_prompt()[-1], StartRecording)
    assert second.runner.phase is Phase.RECORDING and slots.in_use == 1


REFUSED_LOOP = PLAN.replace('"2":', '"3": {goto: again}\n      "2":') + """\
  again:
    prompts: [thanks]
    next:
      record: {silence: 3s, next: {goto: done}, on-failed: {goto: again}}
"""


def test_an_on_failed_that_records_again_without_a_slot_still_ends_the_call(
    make_plan: Callable[..., Dialplan],
) -> None:
    call = MenuHarness(make_plan(REFUSED_LOOP, "refused.yaml"), recording_slots=RecordingSlots(0))
    call.start()
    call.finish_prompt()
    call.press("3")
    actions = [a for _ in range(4) for a in call.finish_prompt()]  # refused, again, refused, ...
    assert [(a.menu, a.attempts) for a in actions if isinstance(a, AttemptsExhausted)] == [("again", 3)]
    assert call.finish_prompt() == [Hangup(reason="inactivity-timeout")]


def test_the_menu_timer_is_held_while_recording(plan: Dialplan) -> None:
    call = MenuHarness(plan, MenuDefaults(no_input_timeout=2.0))
    recording(call)
    actions = call.talk(10.0)  # longer than the menu's no-input timeout: no reprompt
    assert not any(isinstance(a, Reprompt) for a in actions) and call.runner.phase is Phase.RECORDING


def test_a_guard_during_recording_closes_it_and_keeps_what_was_said(plan: Dialplan) -> None:
    limits = CallLimits(max_call_duration=12.0)
    call = MenuHarness(plan, MenuDefaults(limits=limits))
    recording(call)
    actions = call.talk(15.0)
    assert isinstance(actions[0], GuardTripped)
    stop = stops(actions)[0]
    assert (stop.reason, stop.keep) == ("interrupted", True)
    goodbye = [a for a in actions if isinstance(a, PlayPrompts)][-1]
    assert [p.name for p in goodbye.prompts] == ["goodbye"]
    assert actions[-1] == Hangup(reason="max-call-duration")


def test_a_hang_up_files_the_message_into_the_mailbox(plan: Dialplan, tmp_path: Path) -> None:
    vm = Voicemail(tmp_path)
    call = MenuHarness(plan, mailboxes=vm, variables={"box": "201", "caller": "alice"})
    recording(call, "2")
    call.talk(3.0)
    actions = call.hang_up()
    assert isinstance(actions[0], StopRecording) and actions[0].mailbox == "201"
    assert actions[-1] == Hangup(reason="caller-hangup")
    [message] = vm.store.messages("201")
    assert (message.caller, message.new) == ("alice", True)
    assert message.length == pytest.approx(3.0, abs=0.01)


def test_a_hang_up_before_any_speech_leaves_nothing(plan: Dialplan, tmp_path: Path) -> None:
    vm = Voicemail(tmp_path)
    call = MenuHarness(plan, mailboxes=vm, variables={"box": "201"})
    recording(call, "2")
    call.advance(1.0)
    assert stops(call.hang_up())[0].keep is False
    assert vm.store.messages("201") == []


def test_a_disk_error_runs_the_failure_step_and_the_call_goes_on(plan: Dialplan, tmp_path: Path) -> None:
    (tmp_path / "voicemail").write_text("not a directory")  # every deposit fails with an OSError
    call = MenuHarness(plan, mailboxes=Voicemail(tmp_path), variables={"box": "201"})
    recording(call, "2")
    call.talk(1.0)
    actions = call.advance(3.0)
    assert stops(actions)[0].keep
    assert [p.name for p in call.playing.prompts] == ["invalid"]  # type: ignore[union-attr]
    assert call.finish_prompt()[0] == MenuEntered(menu="main")  # then the menu again
    assert "recording" not in call.runner.variables and call.runner.phase is Phase.PLAYING


def test_a_bad_mailbox_name_is_refused_not_a_path(plan: Dialplan, tmp_path: Path) -> None:
    call = MenuHarness(plan, mailboxes=Voicemail(tmp_path / "data"), variables={"box": "../../etc"})
    recording(call, "2")
    call.talk(1.0)
    call.advance(3.0)
    assert "recording" not in call.runner.variables
    assert not (tmp_path / "etc").exists() and not (tmp_path / "data").exists()


LOOPS = """\
name: loops
goodbye: goodbye
invalid: invalid
prompts:
  ask: {file: ask.wav, text: "Hello."}
  invalid: {file: invalid.wav, text: "Invalid."}
  goodbye: {file: goodbye.wav, text: "Goodbye."}
menus:
  hello:                       # an announcement whose step comes back to it: nothing ever waits
    prompts: [ask]
    next: {play: invalid}
"""


def test_an_announcement_that_loops_without_input_ends_as_no_input(
    make_plan: Callable[..., Dialplan],
) -> None:
    call = MenuHarness(make_plan(LOOPS, "loops.yaml"))
    call.start()
    actions = call.advance(60)
    exhausted = [a for a in actions if isinstance(a, AttemptsExhausted)]
    assert [(e.menu, e.attempts) for e in exhausted] == [("hello", 3)]
    assert actions[-1] == Hangup(reason="inactivity-timeout")


def test_check_refuses_bad_record_and_voicemail_steps_with_file_and_line(
    make_plan: Callable[..., Dialplan],
) -> None:
    broken = PLAN.replace(
        '''      "2":
        record: {mailbox: "{box}", silence: 3s, next: {goto: done}}''',
        '''      "2":
        goto: done
        record: {mailbox: "{box}", silence: 3s, next: {goto: nowhere}}
      "3":
        voicemail: {op: erase}''',
    )
    with pytest.raises(DialplanError) as caught:
        make_plan(broken, "broken.yaml")
    issues = {(i.file.name, i.line, i.reason.split(";")[0][:40]) for i in caught.value.issues}
    lines = {line for _, line, _ in issues}
    assert {21, 22, 24} <= lines, issues  # two terminals; the dangling goto inside record; the bad op
    text = str(caught.value)
    assert "goto, record" in text and "'nowhere'" in text and "erase" in text


def test_a_save_that_never_answers_does_not_hold_the_call_forever(plan: Dialplan) -> None:
    """The worker thread writing the message hangs (a stuck network disk) or dies: the SAVING
    phase holds the no-input timer, so without a deadline of its own the call would never end."""
    call = MenuHarness(plan)
    recording(call)
    call.talk(1.0)
    call.clock.set(call.now + 3.0)
    assert stops(call.runner.poll(call.now))[0].keep  # the glue's save is never answered
    assert call.runner.phase is Phase.SAVING
    assert call.runner.next_deadline() is not None
    call.advance(FILE_WORK_TIMEOUT)
    assert [p.name for p in call.playing.prompts] == ["invalid"]  # type: ignore[union-attr]
    assert call.runner.recording_saved("late.wav", 1.0, call.now) == []  # a late answer is ignored
    call.finish_prompt()
    call.advance(60.0)  # then the menu's own no-input rule: goodbye
    assert call.ended


def test_a_mailbox_operation_that_never_answers_does_not_hold_the_call_forever(
    make_plan: Callable[..., Dialplan],
) -> None:
    opens = '"3": {voicemail: {op: open, mailbox: "201"}}\n      "2":'
    plan = make_plan(PLAN.replace('"2":', opens), "rec.yaml")
    call = MenuHarness(plan)
    call.start()
    call.finish_prompt()
    call.runner.digit("3", call.now)  # the MailboxRequest is never answered
    assert call.runner.phase is Phase.MAILBOX and call.runner.next_deadline() is not None
    call.advance(FILE_WORK_TIMEOUT)
    assert call.runner.phase is not Phase.MAILBOX
    assert [p.name for p in call.playing.prompts] == ["invalid"]  # type: ignore[union-attr]


def test_check_refuses_a_record_step_without_a_silence_cut_off_or_beyond_an_hour(
    make_plan: Callable[..., Dialplan],
) -> None:
    """``silence: 0s`` disables the idle session: a silent caller would sit out max-length on every
    attempt with the menu's no-input timer held; a day-long max-length is a day of audio in memory."""
    broken = PLAN.replace("max-length: 20s", "max-length: 600m").replace(
        'record: {mailbox: "{box}", silence: 3s,', 'record: {mailbox: "{box}", silence: 0s,'
    )
    with pytest.raises(DialplanError) as caught:
        make_plan(broken, "broken.yaml")
    reasons = {(i.line, i.reason) for i in caught.value.issues}
    assert (16, "record max-length must be at most 3600s, got 36000s") in reasons, reasons
    silence = "record silence must be more than 0 (a silent caller is never cut off with 0)"
    assert (21, silence) in reasons, reasons
