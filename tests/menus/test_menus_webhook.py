"""The ``webhook`` step on the sans-I/O runner (MenuHarness, FakeClock): the wait is progress.

Timing of the plan below: main's prompt is 2 s, no-input 2 s × 2 attempts; a webhook times out
after 5 s; its filler (0.5 s) plays after 1 s of waiting and again 1 s after each play ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tui_engine.core import CallLimits
from tui_engine.menus import (
    Dialplan,
    DialplanError,
    GuardTripped,
    Hangup,
    MenuDefaults,
    MenuEntered,
    Phase,
    PlayPrompts,
    Reprompt,
    StopPlayback,
    WebhookAnswered,
    WebhookFailed,
    WebhookRequest,
    load_dialplan,
)
from tui_engine.menus.actions import Action, Speak
from tui_engine.menus.testing import MenuHarness
from tui_engine.menus.webhook import MAX_WEBHOOK_CHAIN

PLAN = """\
name: hooks
goodbye: goodbye
invalid: invalid
webhook-failed: sorry
prompts:
  short: {file: short.wav}
  long: {file: long.wav}
  invalid: {file: invalid.wav}
  sorry: {file: invalid.wav, text: "Sorry, we cannot answer that now."}
  goodbye: {file: goodbye.wav}
  info: {file: info.wav}
  ask: {file: ask.wav}
  thanks: {file: thanks.wav}
  filler: {file: thanks.wav, text: "One moment please."}
menus:
  main:
    prompts: [short]
    choices:
      "1": {webhook: {url: "http://app.invalid/ivr/{caller}", filler: filler}}
      "2": {webhook: {url: "http://app.invalid/x", on-webhook-failed: {play: thanks, hangup: completed}}}
      "3": {goto: other}
      "4": {goto: account}
  other:
    prompts: [long]
    choices:
      "1": {goto: main}
  account:
    prompts: [ask]
    collect: {variable: acct, min-digits: 2, max-digits: 4, terminator: "#"}
    next: {webhook: {url: "https://app.invalid/acct/{acct}?who={caller}", timeout: 3s}}
    on-webhook-failed: {play: info, goto: other}
"""

DEFAULTS = MenuDefaults(no_input_timeout=2.0, max_attempts=2, webhook_timeout=5.0, webhook_filler_delay=1.0)


@pytest.fixture
def plan(make_plan: Callable[..., Dialplan]) -> Dialplan:
    return make_plan(PLAN, "hooks.yaml")


def names(actions: list[Action]) -> list[list[str]]:
    return [[p.name for p in a.prompts] for a in actions if isinstance(a, PlayPrompts)]


def of(kind: type, actions: list[Action]) -> list[object]:
    return [a for a in actions if isinstance(a, kind)]


def in_main(plan: Dialplan, defaults: MenuDefaults = DEFAULTS) -> MenuHarness:
    call = MenuHarness(plan, defaults)
    call.runner.variables.update(caller="alice/1?x", dialled="100", call_id="c-1")
    call.start()
    call.finish_prompt()
    return call


def test_the_request_carries_the_calls_state_and_the_url_takes_encoded_variables(plan: Dialplan) -> None:
    call = in_main(plan)
    (request,) = of(WebhookRequest, call.press("1"))
    assert isinstance(request, WebhookRequest)
    assert request.url == "http://app.invalid/ivr/alice%2F1%3Fx"  # a caller's text never reshapes the URL
    assert request.timeout == 5.0
    assert request.payload == {
        "event": "webhook", "call_id": "c-1", "caller": "alice/1?x", "dialled": "100", "dialplan": "hooks",
        "menu": "main", "attempt": 1, "entry": "",
        "variables": {"caller": "alice/1?x", "dialled": "100", "call_id": "c-1"},
    }  # fmt: skip
    assert call.runner.phase is Phase.WEBHOOK


def test_the_no_input_timer_is_held_for_the_whole_wait_and_the_filler_plays_at_its_delay(
    plan: Dialplan,
) -> None:
    call = in_main(plan)
    pressed = call.now
    call.press("1")
    assert call.runner.seconds_left(call.now) is not None  # the timeout runs, not the no-input timer
    waited = call.advance(4.9)  # more than two no-input periods (2 s × 2) of waiting
    assert not of(Reprompt, waited) and not of(Hangup, waited), waited
    fillers = [round(t - pressed, 3) for t, a in call.log if isinstance(a, PlayPrompts) and t > pressed]
    assert fillers == [1.0, 2.5, 4.0]  # at the delay, then again a delay after each play ended
    assert call.runner.phase in (Phase.PLAYING, Phase.WEBHOOK)
    answered = call.webhook_answer({"play": "thanks", "goto": "other"})
    assert of(WebhookAnswered, answered)
    assert names(answered) == [["thanks"]] and not of(StopPlayback, answered)  # the filler had ended
    after = call.finish_prompt()
    assert of(MenuEntered, after) == [MenuEntered(menu="other")]
    # once the answer runs, the no-input rules apply again: 2 s after the prompt, a reprompt
    call.finish_prompt()
    assert of(Reprompt, call.advance(2.0))


def test_an_answer_during_the_filler_stops_it_then_runs(plan: Dialplan) -> None:
    call = in_main(plan)
    call.press("1")
    call.advance(1.2)  # the filler plays (1.0 .. 1.5)
    assert call.playing is not None and call.runner.phase is Phase.PLAYING
    answered = call.webhook_answer({"play": ["info"], "hangup": "completed"})
    assert [type(a) for a in answered[:2]] == [WebhookAnswered, StopPlayback]
    assert names(answered) == [["info"]]
    assert of(Hangup, call.finish_prompt()) == [Hangup(reason="completed")]


def test_a_timeout_runs_the_default_apology_and_the_menu_again(plan: Dialplan) -> None:
    call = in_main(plan)
    pressed = call.now
    call.press("1")
    out = call.advance(5.2)
    (failed,) = of(WebhookFailed, out)
    assert isinstance(failed, WebhookFailed)
    assert (failed.why, failed.due) == ("timeout", pressed + 5.0)
    assert names(out)[-1] == ["sorry"]
    assert of(MenuEntered, call.finish_prompt()) == [MenuEntered(menu="main")]
    assert call.webhook_answer({"hangup": "completed"}) == []  # too late: ignored


def test_a_timeout_while_the_filler_plays_stops_it_first(plan: Dialplan) -> None:
    call = in_main(plan, MenuDefaults(**{**_fields(DEFAULTS), "webhook_timeout": 4.2}))
    call.press("1")
    out = call.advance(4.3)  # the third filler plays 4.0 .. 4.5
    index = next(i for i, a in enumerate(out) if isinstance(a, WebhookFailed))
    assert isinstance(out[index + 1], StopPlayback)
    assert names(out[index:]) == [["sorry"]]


def _fields(defaults: MenuDefaults) -> dict[str, object]:
    return {name: getattr(defaults, name) for name in defaults.__slots__}


def test_a_failure_runs_the_steps_own_on_webhook_failed(plan: Dialplan) -> None:
    call = in_main(plan)
    call.press("2")
    out = call.webhook_fail("HTTP 500")
    assert [a.why for a in of(WebhookFailed, out)] == ["HTTP 500"]  # type: ignore[attr-defined]
    assert names(out) == [["thanks"]]
    assert of(Hangup, call.finish_prompt()) == [Hangup(reason="completed")]


def test_the_collected_entry_reaches_the_request_and_the_menus_on_webhook_failed(plan: Dialplan) -> None:
    call = in_main(plan)
    call.press("4")
    call.finish_prompt()
    (request,) = of(WebhookRequest, call.press("12#"))
    assert isinstance(request, WebhookRequest)
    assert request.url == "https://app.invalid/acct/12?who=alice%2F1%3Fx"
    assert (request.payload["entry"], request.payload["menu"], request.timeout) == ("12", "account", 3.0)
    out = call.advance(3.0)  # the step's own timeout; then the menu's on-webhook-failed
    assert of(WebhookFailed, out) and names(out) == [["info"]]
    assert of(MenuEntered, call.finish_prompt()) == [MenuEntered(menu="other")]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"play": "nope"}, "unknown prompt 'nope'"),
        ({"goto": "nowhere"}, "goto target 'nowhere'"),
        ({"jump": "main"}, "'jump' was unexpected"),
        ({"goto": "main", "hangup": "completed"}, "a step does one thing"),
        ([1, 2], "is not of type 'object'"),
        ({"menu": {"prompts": ["info"]}}, "needs choices, collect, or next"),
        ({"menu": {"prompts": ["info"], "choices": {"1": {"goto": "main"}}}, "name": "main"}, "is a menu of"),
        # JSON may escape half a UTF-16 pair ("\ud800"): not text, it cannot be said, sent or signed
        ({"say": "You owe \ud800 dollars."}, "say: text with a lone surrogate (\\ud800)"),
        ({"transfer": "sip:\udfff@example.com"}, "transfer: text with a lone surrogate (\\udfff)"),
        ({"menu": {"prompts": ["info"], "choices": {"1": {"say": "x\udc80"}}}}, "menu.choices.1.say: text"),
        ({"play": ["info"] * 2000}, "more than 1000 keys and values"),  # fits 64 KiB: hours of prompts
    ],
)
def test_an_invalid_answer_is_refused_before_anything_of_it_runs(
    plan: Dialplan, answer: object, why: str
) -> None:
    call = in_main(plan)
    call.press("1")
    out = call.webhook_answer(answer)
    (failed,) = of(WebhookFailed, out)
    assert isinstance(failed, WebhookFailed)
    assert failed.why.startswith("invalid answer") and why in failed.why, failed.why
    assert names(out) == [["sorry"]]


def test_a_whole_utf_16_pair_in_an_answer_is_text_like_any_other(plan: Dialplan) -> None:
    call = in_main(plan)
    call.press("1")
    out = call.webhook_answer(json.loads('{"say": "\\ud83d\\ude00 Thanks!", "hangup": "completed"}'))
    assert of(WebhookAnswered, out)
    assert [s.texts for s in of(Speak, out)] == [("\U0001f600 Thanks!",)]  # type: ignore[attr-defined]


def test_a_whole_menu_answer_runs_as_a_temporary_menu_with_the_normal_no_input_rules(plan: Dialplan) -> None:
    call = in_main(plan)
    call.press("1")
    menu = {"prompts": ["info"], "choices": {"1": {"goto": "main"}, "2": {"play": "thanks"}}}
    out = call.webhook_answer({"menu": menu, "name": "balance"})
    assert [a.kind for a in of(WebhookAnswered, out)] == ["menu"]  # type: ignore[attr-defined]
    assert of(MenuEntered, out) == [MenuEntered(menu="balance")] and names(out) == [["info"]]
    call.finish_prompt()
    call.press("2")  # "play, then back" comes back to the temporary menu
    assert of(MenuEntered, call.finish_prompt()) == [MenuEntered(menu="balance")]
    call.finish_prompt()
    out = call.advance(20)
    assert of(Reprompt, out) and of(Hangup, out) == [Hangup(reason="inactivity-timeout")]


def test_a_call_wide_guard_ends_the_call_while_the_request_is_out(plan: Dialplan) -> None:
    limits = CallLimits(max_call_duration=4.0, max_silence_total=0, media_timeout=0)
    call = in_main(plan, MenuDefaults(**{**_fields(DEFAULTS), "limits": limits}))
    call.press("1")  # at 2.0; the guard is due at 4.0, before the 5 s timeout
    out = call.advance(2.5)
    assert of(GuardTripped, out) and names(out)[-1] == ["goodbye"]
    assert not of(WebhookFailed, out)
    assert call.webhook_answer({"hangup": "completed"}) == []  # the answer is too late
    assert of(Hangup, call.finish_prompt()) == [Hangup(reason="max-call-duration")]
    assert call.runner.next_deadline() is None


def test_a_caller_hang_up_while_the_request_is_out_ends_it(plan: Dialplan) -> None:
    call = in_main(plan)
    call.press("1")
    assert call.hang_up() == [Hangup(reason="caller-hangup")]
    assert call.webhook_answer({"play": "thanks"}) == []
    assert call.runner.next_deadline() is None


@pytest.mark.parametrize(
    ("webhook", "reason"),
    [
        ('{url: "ftp://x.invalid/"}', "does not match"),
        ('{url: "http:///path"}', "must be http:// or https:// with a host"),
        ('{url: "http://{caller}.invalid/"}', "the host may not come from a variable"),
        ('{url: "http://x.invalid/{caller"}', "lone '{'"),
        ('{url: "http://x.invalid/", filler: nope}', "unknown prompt 'nope'"),
        ('{url: "http://x.invalid/", on-webhook-failed: {goto: nowhere}}', "goto target 'nowhere'"),
        ('{url: "http://x.invalid/"}, goto: main', "a step does one thing"),
    ],
)
def test_check_refuses_a_bad_webhook_step_with_file_and_line(
    plan_dir: Path, webhook: str, reason: str
) -> None:
    text = PLAN.replace('"3": {goto: other}', f'"3": {{webhook: {webhook}}}')
    path = plan_dir / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DialplanError) as caught:
        load_dialplan(path)
    line = PLAN.splitlines().index('      "3": {goto: other}') + 1
    assert any(i.line == line and reason in i.reason for i in caught.value.issues), caught.value


def test_a_say_answer_is_rendered_at_call_time_never_inside_the_runner(plan: Dialplan) -> None:
    from tui_engine.menus.actions import Speak

    call = in_main(plan)
    call.press("1")
    out = call.webhook_answer({"say": "Your balance is 42 dollars.", "goto": "other"})
    (speak,) = of(Speak, out)
    assert isinstance(speak, Speak) and speak.texts == ("Your balance is 42 dollars.",)
    assert [[p.text for p in a.prompts] for a in out if isinstance(a, PlayPrompts)] == [
        ["Your balance is 42 dollars."]
    ]
    assert of(MenuEntered, call.finish_prompt()) == [MenuEntered(menu="other")]


def test_say_digits_in_an_answer_plays_the_shipped_words(plan: Dialplan) -> None:
    call = in_main(plan)
    call.press("1")
    out = call.webhook_answer({"play": [{"say-digits": "123"}]})
    assert not of(WebhookFailed, out)
    (played,) = of(PlayPrompts, out)
    assert [p.path.stem for p in played.prompts] == ["1", "2", "3"]  # the recorded words


def test_answers_may_transfer_or_hang_up_like_any_step(plan: Dialplan) -> None:
    from tui_engine.menus import Transfer

    call = in_main(plan)
    call.press("1")
    out = call.webhook_answer({"transfer": "sip:sales@127.0.0.1"})
    assert of(Transfer, out) == [Transfer(uri="sip:sales@127.0.0.1", timeout=30.0)]
    assert call.transfer_ok() == [Hangup(reason="transfer")]
    call = in_main(plan)
    call.press("1")
    assert of(Hangup, call.webhook_answer({"hangup": "completed"})) == [Hangup(reason="completed")]


def test_silence_budget_does_not_count_the_wait(plan: Dialplan) -> None:
    limits = CallLimits(max_call_duration=0, max_silence_total=3.0, media_timeout=0)
    call = in_main(plan, MenuDefaults(**{**_fields(DEFAULTS), "limits": limits, "webhook_timeout": 60.0}))
    call.press("2")  # no filler: 30 s of waiting in silence, which is the server's, not the caller's
    assert not of(GuardTripped, call.advance(30.0))
    assert names(call.webhook_answer({"play": "thanks"})) == [["thanks"]]


def test_a_filler_that_says_nothing_with_no_delay_does_not_spin(plan_dir: Path) -> None:
    text = PLAN.replace("filler: filler}", 'filler: {say: "{nothing}"}, filler-delay: 0s}')
    path = plan_dir / "spin.yaml"
    path.write_text(text, encoding="utf-8")
    call = in_main(load_dialplan(path))
    call.press("1")
    out = call.advance(6.0)  # MenuHarness.advance raises if a deadline never moves
    assert [a.why for a in of(WebhookFailed, out)] == ["timeout"]  # type: ignore[attr-defined]


def test_an_answer_nested_thousands_deep_is_refused_not_raised(plan: Dialplan) -> None:
    answer: dict[str, object] = {"hangup": "completed"}
    for _ in range(5000):
        answer = {"webhook": {"url": "http://app.invalid/", "on-webhook-failed": answer}}
    call = in_main(plan)
    call.press("1")
    (failed,) = of(WebhookFailed, call.webhook_answer(answer))
    why = failed.why  # type: ignore[attr-defined]
    assert why.startswith("invalid answer: ") and ("nested too deeply" in why or "more than 1000" in why)


LOOPING = """\
name: loops
goodbye: goodbye
webhook-failed: sorry
prompts:
  short: {file: short.wav}
  sorry: {file: invalid.wav}
  goodbye: {file: goodbye.wav}
menus:
  main:
    prompts: [short]
    choices:
      "1": {webhook: {url: "http://app.invalid/next"}}
    on-webhook-failed: {webhook: {url: "http://app.invalid/retry"}}
"""
#: no call-wide guard: what ends these calls must be the menus' own no-input rules
UNGUARDED = MenuDefaults(
    **{**_fields(DEFAULTS), "limits": CallLimits(max_call_duration=0, max_silence_total=0, media_timeout=0)}
)


def _silent_caller(call: MenuHarness, server: Callable[[MenuHarness], list[Action]]) -> int:
    """Press 1 once, then never again; ``server`` answers each request at once. Requests seen."""
    call.press("1")
    requests = 0
    for _ in range(2000):
        if call.ended:
            break
        if call.runner.phase is Phase.WEBHOOK and call.webhook is not None:
            requests += 1
            server(call)
        else:
            call.advance(0.5)
    assert call.ended, f"a caller who pressed nothing more is still on the line after {requests} requests"
    return requests


@pytest.mark.parametrize(
    "server",
    [
        pytest.param(lambda c: c.webhook_answer({"webhook": {"url": "http://x.invalid/"}}), id="answers"),
        pytest.param(
            lambda c: c.webhook_answer({"play": "short", "webhook": {"url": "http://x.invalid/"}}), id="plays"
        ),
        pytest.param(lambda c: c.webhook_fail("HTTP 500"), id="fails-into-menu-on-webhook-failed"),
    ],
)
def test_webhooks_that_lead_to_webhooks_without_a_key_still_end_the_call(
    make_plan: Callable[..., Dialplan], server: Callable[[MenuHarness], list[Action]]
) -> None:
    call = in_main(make_plan(LOOPING, "loops.yaml"), UNGUARDED)
    requests = _silent_caller(call, server)
    assert call.runner.hangup_reason == "inactivity-timeout"
    assert requests <= MAX_WEBHOOK_CHAIN + 1
    played = [[p.name for p in a.prompts] for _, a in call.log if isinstance(a, PlayPrompts)]
    assert ["sorry"] in played  # the apology, then the menu's no-input rules
