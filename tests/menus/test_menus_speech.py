"""Spoken prompt items on the sans-I/O runner (MenuHarness, fake clock) and at load.

say-digits / say-number resolve to the recorded words with no I/O; ``say:`` text with
variables is a :class:`Speak` the driver answers, while which the no-input timer is held.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tui_engine.core import CallLimits
from tui_engine.media.tts import Voice
from tui_engine.menus import (
    Action,
    Dialplan,
    DialplanError,
    Hangup,
    MenuDefaults,
    Phase,
    PlayPrompts,
    Reprompt,
    load_dialplan,
    load_dialplans,
)
from tui_engine.menus.actions import GuardTripped, Speak, SpeechSkipped
from tui_engine.menus.simulate import run_simulation
from tui_engine.menus.speech import WORDS_DIR, SpeechOptions, word_prompts
from tui_engine.menus.testing import MenuHarness

SPEECH = """\
name: speech
goodbye: goodbye
invalid: invalid
prompts:
  ask: {file: ask.wav, text: "Enter your account."}
  thanks: {file: thanks.wav, text: "Thanks."}
  info: {file: info.wav, text: "We are open."}
  invalid: {file: invalid.wav}
  goodbye: {file: goodbye.wav}
menus:
  main:
    prompts: [ask]
    collect: {variable: entry, max-digits: 4}
    next:
      play: [thanks, {say-digits: "{entry}"}]
      goto: count
  count:
    prompts:
      - [info, {say-number: "{entry}"}]
    choices:
      "1": {goto: main}
      "2": {play: thanks, say: "You entered {entry}, {caller}."}
      "3": {play: {say-number: "{nothing}"}}
"""

#: espeak-ng renders say: text (tests/conftest.py fails a CI run without it; elsewhere: skip)
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="not installed: espeak-ng")

WORD = word_prompts("en")


def played(actions: list[Action]) -> list[list[str]]:
    return [[p.text or p.name for p in a.prompts] for a in actions if isinstance(a, PlayPrompts)]


@pytest.fixture
def speech_plan(make_plan: Callable[..., Dialplan]) -> Dialplan:
    return make_plan(SPEECH, "speech.yaml")


def entered(plan: Dialplan, digits: str = "1234", **kwargs: object) -> MenuHarness:
    call = MenuHarness(plan, variables={"caller": "alice"}, **kwargs)  # type: ignore[arg-type]
    call.start()
    call.finish_prompt()
    return call


def test_say_digits_reads_back_the_entry_from_the_recorded_words(speech_plan: Dialplan) -> None:
    call = entered(speech_plan)
    actions = call.press("1234")
    assert played(actions) == [["Thanks.", "one", "two", "three", "four"]]
    play = next(a for a in actions if isinstance(a, PlayPrompts))
    assert play.prompts[1].path == WORDS_DIR / "en" / "1.wav"
    words = sum(WORD[d].duration for d in "1234")
    assert sum(p.duration for p in play.prompts) == pytest.approx(0.5 + words)
    # the timer starts when the spoken words end, not before
    actions = call.finish_prompt()
    assert played(actions) == [["We are open.", "one", "thousand", "two", "hundred", "thirty", "four"]]


def test_say_number_in_a_menu_prompt_uses_the_variable_store(speech_plan: Dialplan) -> None:
    call = MenuHarness(speech_plan, variables={"entry": "-20"})
    call.start()
    call.runner.variables["entry"] = "21"  # what set/collect writes; read when the prompt plays
    call.finish_prompt()
    call.press("99")
    call.press("#")
    assert call.runner.variables["entry"] == "99"
    actions = call.finish_prompt()
    assert played(actions) == [["We are open.", "ninety", "nine"]]


def test_a_value_that_is_not_a_number_is_skipped_and_the_rest_plays(speech_plan: Dialplan) -> None:
    call = entered(speech_plan)
    call.press("12#")
    call.runner.variables["entry"] = "twelve"  # e.g. set by a webhook
    actions = call.finish_prompt()
    assert [a for a in actions if isinstance(a, SpeechSkipped)] == [
        SpeechSkipped(kind="say-number", text="twelve", why="'twelve' is not an integer")
    ]
    assert played(actions) == [["We are open."]]


def test_when_nothing_can_be_said_the_menu_goes_on_and_the_timer_runs(speech_plan: Dialplan) -> None:
    call = entered(speech_plan)
    call.press("12#")
    call.finish_prompt()
    call.finish_prompt()  # "We are open. twelve"
    actions = call.press("3")  # {say-number: "{nothing}"}: unset, nothing to say
    assert [type(a).__name__ for a in actions] == ["SpeechSkipped", "MenuEntered", "PlayPrompts"]
    assert played(actions) == [["We are open.", "twelve"]]


def test_dynamic_say_holds_the_no_input_timer_until_it_is_rendered(speech_plan: Dialplan) -> None:
    call = entered(speech_plan, speech=None)
    call.press("12#")
    call.finish_prompt()
    call.finish_prompt()
    actions = call.press("2")  # play: thanks, say: "You entered {entry}, {caller}."
    assert actions == [Speak(id=1, texts=("You entered 12, alice.",), timeout=5.0)]
    assert call.runner.phase is Phase.RENDERING
    assert call.runner.seconds_left(call.now) == pytest.approx(5.0)  # only the rendering's time limit
    start = call.now
    assert call.advance(4.9) == []  # no reprompt while the speech is being made
    actions = call.speech_done({"You entered 12, alice.": 1.5})
    assert played(actions) == [["Thanks.", "You entered 12, alice."]]
    call.finish_prompt()
    assert call.now == pytest.approx(start + 4.9 + 0.5 + 1.5)
    # back in the menu: its prompt, then the ordinary no-input timer
    call.finish_prompt()
    again = call.advance(10)
    assert [a for a in again if isinstance(a, Reprompt)]


def at_dynamic_say(
    plan: Dialplan, defaults: MenuDefaults | None = None, **kwargs: object
) -> tuple[MenuHarness, list[Action]]:
    """A call that typed 7#, heard the count menu and pressed 2 (play thanks, say "You entered 7, ...")."""
    call = MenuHarness(plan, defaults, variables={"caller": "bob"}, **kwargs)  # type: ignore[arg-type]
    call.start()
    call.finish_prompt()
    call.press("7#")
    call.finish_prompt()
    call.finish_prompt()
    return call, call.press("2")


def test_a_rendering_past_its_time_limit_is_skipped_and_the_call_goes_on(speech_plan: Dialplan) -> None:
    call, _ = at_dynamic_say(speech_plan, MenuDefaults(speech_timeout=2.0), speech=None)
    actions = call.advance(2.0)
    assert actions[0] == SpeechSkipped(kind="say", text="You entered 7, bob.", why="time limit")
    assert played(actions) == [["Thanks."]]
    assert call.speech_done() == []  # the late answer is ignored
    call.finish_prompt()
    call.finish_prompt()
    # an espeak-ng that never answers again still ends the call on time: 3 × 10 s, then goodbye
    out = call.advance(40)
    assert isinstance(out[-1], Hangup) and out[-1].reason == "inactivity-timeout"


def test_a_failed_rendering_is_skipped(speech_plan: Dialplan) -> None:
    _, actions = at_dynamic_say(speech_plan, speech=lambda text: None)
    assert SpeechSkipped(kind="say", text="You entered 7, bob.", why="rendering failed") in actions
    assert played(actions) == [["Thanks."]]


def test_a_digit_during_rendering_barges_in(speech_plan: Dialplan) -> None:
    call, _ = at_dynamic_say(speech_plan, speech=None)
    actions = call.press("1")  # the caller does not wait for the speech: goto main
    assert played(actions) == [["Enter your account."]]
    assert call.runner.current_menu == "main"
    assert call.speech_done() == []


def test_a_call_wide_guard_ends_the_call_during_rendering(speech_plan: Dialplan) -> None:
    defaults = MenuDefaults(limits=CallLimits(max_call_duration=20.0), speech_timeout=60.0)
    call, _ = at_dynamic_say(speech_plan, defaults, speech=None)
    actions = call.advance(20)  # the guard, the goodbye (1.5 s), the hang-up
    assert [type(a).__name__ for a in actions] == ["GuardTripped", "PlayPrompts", "Hangup"]
    assert isinstance(actions[0], GuardTripped) and actions[-1] == Hangup(reason="max-call-duration")
    assert call.speech_done() == []


# -- load time ------------------------------------------------------------------------------
def issues(plan_dir: Path, text: str, speech: SpeechOptions | None = None) -> list[tuple[int, str]]:
    path = plan_dir / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DialplanError) as caught:
        load_dialplan(path, speech=speech)
    return [(i.line, i.reason) for i in caught.value.issues]


MINI = """\
prompts:
  ask: {file: ask.wav}
menus:
  main:
    prompts:
      - [ask, %s]
    choices:
      "1": {goto: main}
"""


def test_spoken_items_are_checked_with_file_and_line(plan_dir: Path) -> None:
    assert issues(plan_dir, MINI % '{say-digits: "{entry"}') == [
        (6, "say-digits: lone '{' at column 1 (write {{ for a brace)")
    ]
    assert issues(plan_dir, MINI % '{say-number: "twelve"}') == [
        (6, "say-number: 'twelve' is not an integer (write a number or a {variable})")
    ]
    found = issues(plan_dir, MINI % "{say: hi, say-number: '1'}")
    assert len(found) == 1 and found[0][0] == 6 and "{say: ...}" in found[0][1]
    assert issues(plan_dir, MINI % "{speak: hi}")[0][0] == 6


def test_say_number_needs_the_recorded_words_of_the_language(plan_dir: Path) -> None:
    french = SpeechOptions(language="fr")
    assert issues(plan_dir, MINI % '{say-number: "{n}"}', french) == [
        (6, "say-number plays recorded words, shipped for 'en' only; speech-language is 'fr'")
    ]


def test_static_say_is_rendered_at_load_with_espeak_ng(plan_dir: Path) -> None:
    path = plan_dir / "ok.yaml"
    path.write_text(MINI % '{say: "Welcome to the speech test."}', encoding="utf-8")
    plan = load_dialplan(path)
    item = plan.menus["main"].prompts[0][1]
    assert not isinstance(item, str) and item.static is not None
    audio = item.static.audio
    assert audio is not None and 1.0 < item.static.duration < 4.0
    assert len(audio.payloads("PCMU")) == round(item.static.duration / 0.02)
    assert any(frame != b"\xff" * 160 for frame in audio.payloads("PCMU"))  # not silence
    call = MenuHarness(plan)
    assert played(call.start()) == [["ask", "Welcome to the speech test."]]


def test_a_voice_espeak_ng_does_not_know_is_a_load_error(plan_dir: Path) -> None:
    found = issues(plan_dir, MINI % '{say: "Hello."}', SpeechOptions(voice=Voice(name="xx-nope")))
    assert len(found) == 1 and found[0][0] == 6
    assert "cannot render 'Hello.' with voice 'xx-nope'" in found[0][1] and "does not exist" in found[0][1]


def test_a_missing_espeak_ng_is_a_load_error(plan_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(plan_dir))
    found = issues(plan_dir, MINI % '{say: "A text no other test renders."}')
    assert found == [
        (6, "say: cannot render 'A text no other test renders.' with voice 'en-us': "
            "espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    ]  # fmt: skip


# -- the docs' example, run in the simulator ----------------------------------------------
def simulated(path: Path, script: str) -> str:
    """``tui-engine simulate`` in-process, ``script`` on a pipe that then closes; its output."""
    read_fd, write_fd = os.pipe()
    os.write(write_fd, script.encode())
    os.close(write_fd)
    out = io.StringIO()
    with os.fdopen(read_fd) as stdin:
        assert run_simulation(path, MenuDefaults(), speed=200.0, stdin=stdin, stdout=out) == 0
    return out.getvalue()


def test_the_speech_example_in_the_docs_runs_in_simulate(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    doc = (repo / "docs" / "dialplans.md").read_text(encoding="utf-8")
    section = doc.split("## Speech", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    plans = tmp_path / "dialplans"
    shutil.copytree(repo / "tui_engine" / "dialplans", plans)  # "next to the bundled main.yaml"
    (plans / "readback.yaml").write_text(example, encoding="utf-8")
    assert sorted(load_dialplans(plans)) == ["leave-message", "main", "readback", "voicemail"]

    lines = [
        line.split("] ", 1)[-1] for line in simulated(plans / "readback.yaml", "123456\n1\n").splitlines()
    ]
    said = [line.split('"')[1] for line in lines if line.startswith("SAY ")]
    assert said == [
        "Welcome to the read-back demo.",
        "You entered",
        "one two three four five six",
        "If that is right, press 1. To enter it again, press 2.",
        "As a number, that is",
        "one hundred twenty three thousand four hundred fifty six",
        "Customer 123456, goodbye.",
    ]
    assert lines[-1] == "BYE   hang up: completed"


def test_a_dialplan_built_during_a_call_renders_nothing_at_load(
    plan_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """render_at_load=False (a menu from a webhook answer): static say is made by the call."""
    monkeypatch.setenv("PATH", str(plan_dir))  # no espeak-ng: nothing may try to run it
    path = plan_dir / "later.yaml"
    path.write_text(MINI % '{say: "Rendered by the call."}', encoding="utf-8")
    plan = load_dialplan(path, speech=SpeechOptions(render_at_load=False))
    call = MenuHarness(plan, speech=None)
    assert call.start()[-1] == Speak(id=1, texts=("Rendered by the call.",), timeout=5.0)
    assert played(call.speech_done()) == [["ask", "Rendered by the call."]]


def test_values_too_long_to_say_are_skipped(speech_plan: Dialplan) -> None:
    """A value from outside (a webhook, a caller ID) cannot keep a caller listening for minutes."""
    call = entered(speech_plan)
    call.press("12#")
    call.runner.variables["entry"] = "9" * 65
    actions = call.finish_prompt()
    assert SpeechSkipped(kind="say-number", text="9" * 64, why="longer than 64 characters") in actions
    assert played(actions) == [["We are open."]]
    call.finish_prompt()
    call.runner.variables["caller"] = "x" * 1000
    actions = call.press("2")  # "You entered {entry}, {caller}." is now over 1000 characters
    assert [a.why for a in actions if isinstance(a, SpeechSkipped)] == ["longer than 1000 characters"]
    assert played(actions) == [["Thanks."]]


def test_simulate_shows_what_is_skipped(plan_dir: Path) -> None:
    path = plan_dir / "skip.yaml"
    path.write_text(MINI % '{say-number: "{caller}"}', encoding="utf-8")
    assert "SKIP  say-number '': '' is not an integer" in simulated(path, "hangup\n")
