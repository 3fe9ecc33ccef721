"""Call-wide guards and media failure, on a whole CallSession driven by a FakeLoop.

Each scenario runs the real interpreter, the real call glue and the one timer driver; only
the media and the SIP call are hand-written fakes, and time moves only when the test says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from call_fakes import make_call
from structlog.testing import capture_logs

from tui_engine.core import CallLimits
from tui_engine.menus import Dialplan, MenuDefaults

OFF = CallLimits(max_call_duration=0, max_silence_total=0, media_timeout=0)

#: two menus whose no-input step sends the caller to the other one: no menu ever hangs up.
PING_PONG = """\
name: pingpong
numbers: ["42"]
goodbye: goodbye
prompts:
  short: {file: short.wav}
  goodbye: {file: goodbye.wav}
menus:
  main:
    prompts: [short]
    choices: {"1": {goto: other}}
    on-no-input: {goto: other}
  other:
    prompts: [short]
    choices: {"1": {goto: main}}
    on-no-input: {goto: main}
"""


@pytest.fixture
def ping_pong(make_plan: Callable[..., Dialplan]) -> Dialplan:
    return make_plan(PING_PONG, "pingpong.yaml")


def defaults(**limits: float) -> MenuDefaults:
    return MenuDefaults(limits=dataclasses.replace(OFF, **limits))


def test_without_guards_a_ping_pong_dialplan_never_hangs_up(ping_pong: Dialplan) -> None:
    session, loop, media, call, _ = make_call(ping_pong, defaults())
    session.start()
    loop.advance(3600.0)
    assert call.hangups == [] and len(media.played) > 100  # the problem the guards solve


def test_max_silence_total_counts_silence_across_menus_and_ends_the_call(ping_pong: Dialplan) -> None:
    # Each visit: prompt 2 s, then 10 s of silence, three times. Budget 45 s: 30 s in the first
    # visit (t=0..36), 10 s in the second (38..48), the last 5 s from t=50: due at t=55.
    session, loop, media, call, observer = make_call(ping_pong, defaults(max_silence_total=45.0))
    with capture_logs() as logs:
        session.start()
        loop.advance(54.999)
        assert call.hangups == [] and session.runner.guards is not None
        assert session.runner.guards.silence_used == pytest.approx(40.0)
        loop.advance(0.001)  # t=55: the goodbye starts
        assert media.played[-1] == (55.0, ["goodbye.wav"])
        loop.advance(10.0)
    assert call.hangups == [56.7]  # the 1.5 s goodbye, then the 0.2 s bye-allowance
    assert session.info.end_reason == "max-silence-total"
    events = [e for e in logs if e["event"] == "idle.max_silence_total"]
    assert len(events) == 1 and events[0]["lateness_ms"] == 0.0 and events[0]["limit_s"] == 45.0
    assert ("disconnect", 0.0) in observer.seen
    assert loop.pending() == 0


def test_prompts_and_typing_do_not_count_as_silence(base_plan: Dialplan) -> None:
    session, loop, _, _, _ = make_call(base_plan, defaults(max_silence_total=100.0))
    session.start()  # main: a 4 s prompt
    loop.advance(4.0)
    assert session.runner.guards is not None
    loop.advance(3.0)
    session._on_digit("2", "rfc4733")  # plays info (3 s), then back to main (4 s)
    loop.advance(7.0)
    session.runner.poll(loop.time())
    assert session.runner.guards.silence_used == pytest.approx(3.0)


def test_max_call_duration_interrupts_a_prompt_then_goodbye_and_bye(ping_pong: Dialplan) -> None:
    # The second play of `main` runs 12..14 s: the cap at 13 s stops it.
    session, loop, media, call, _ = make_call(ping_pong, defaults(max_call_duration=13.0))
    with capture_logs() as logs:
        session.start()
        loop.advance(12.999)
        assert call.hangups == []
        loop.advance(0.001)
        assert media.played[-1] == (13.0, ["goodbye.wav"])
        loop.advance(10.0)
    assert call.hangups == [14.7] and session.info.end_reason == "max-call-duration"
    assert [e["event"] for e in logs].count("idle.max_call_duration") == 1


def test_a_guard_during_the_goodbye_hangs_up_at_once(ping_pong: Dialplan) -> None:
    # The max-silence budget (10 s) ends the first silence at 12 s; the goodbye plays 12..13.5;
    # the cap at 13 s finds the goodbye playing and hangs up without a second one.
    session, loop, media, call, _ = make_call(
        ping_pong, defaults(max_silence_total=10.0, max_call_duration=13.0)
    )
    session.start()
    loop.advance(30.0)
    assert call.hangups == [13.7]  # only one guard fires per call: the first one
    assert session.info.end_reason == "max-silence-total"
    assert [names for _, names in media.played].count(["goodbye.wav"]) == 1


def test_media_timeout_follows_the_last_rtp_packet(base_plan: Dialplan) -> None:
    quiet = dataclasses.replace(defaults(media_timeout=5.0), no_input_timeout=100.0)
    session, loop, media, call, _ = make_call(base_plan, quiet)
    media.last_received_at = 0.5
    with capture_logs() as logs:
        session.start()
        loop.advance(3.0)
        media.last_received_at = 3.0  # RTP still flowing; no event tells the call about it
        loop.advance(5.0 - 0.001)  # t≈8: the wake at 5.5 found newer RTP and re-armed
        assert call.hangups == []
        loop.advance(0.001)  # t=8: 5 s after the last packet
        loop.advance(5.0)
    assert call.hangups == [9.7] and session.info.end_reason == "media-timeout"
    assert [e["event"] for e in logs].count("idle.media_timeout") == 1


def test_media_timeout_never_fires_for_a_caller_that_sends_no_rtp(base_plan: Dialplan) -> None:
    quiet = dataclasses.replace(defaults(media_timeout=5.0), no_input_timeout=1000.0)
    session, loop, _, call, _ = make_call(base_plan, quiet)
    session.start()
    loop.advance(900.0)
    assert call.hangups == []  # SIPp's silent scenarios: bounded by the other guards instead


def test_media_timeout_is_held_while_on_hold(base_plan: Dialplan) -> None:
    quiet = dataclasses.replace(defaults(media_timeout=5.0), no_input_timeout=1000.0)
    session, loop, media, call, _ = make_call(base_plan, quiet)
    media.last_received_at = 0.0
    session.start()
    loop.advance(2.0)
    session.reoffer("v=0\r\na=inactive\r\n")  # the caller holds the call: no RTP expected
    loop.advance(100.0)
    assert call.hangups == []
    session.reoffer("v=0\r\na=sendrecv\r\n")  # t=102: off hold, a fresh period
    loop.advance(4.999)
    assert call.hangups == []
    loop.advance(10.0)
    assert call.hangups == [108.7] and session.info.end_reason == "media-timeout"


def test_media_that_cannot_be_sent_ends_the_call_media_failed(base_plan: Dialplan) -> None:
    session, loop, media, call, _ = make_call(base_plan, defaults())
    session.start()
    loop.advance(1.0)
    media.on_failed("OSError: [Errno 97] Address family not supported by protocol")
    assert call.hangups == [1.0] and session.info.end_reason == "media-failed"
    session.end()
    assert media.closed and loop.pending() == 0


def test_a_refused_transfer_returns_the_caller_to_the_menu_and_its_timer(base_plan: Dialplan) -> None:
    session, loop, media, call, _ = make_call(base_plan, defaults())
    session.start()
    loop.advance(4.0)  # main's prompt ends
    session._on_digit("0", "rfc4733")  # transfer to the operator
    assert call.refers == ["sip:operator@127.0.0.1"] and call.hangups == []
    with capture_logs() as logs:
        session.transfer_failed(603)  # the SIP layer: REFER answered 603
    assert next(e for e in logs if e["event"] == "call.transfer_failed")["why"] == "603"
    assert media.played[-1] == (4.0, ["invalid.wav"])
    loop.advance(1.0 + 4.0)  # the invalid prompt, then main again
    assert session.runner.current_menu == "main" and session.runner.menu_deadline() == 19.0
    loop.advance(100.0)  # nobody answers: the normal no-input cycle ends the call
    assert call.hangups and session.info.end_reason == "inactivity-timeout"


def test_a_transfer_without_outcome_times_out_back_to_the_menu(base_plan: Dialplan) -> None:
    quick = dataclasses.replace(defaults(), transfer_timeout=5.0)
    session, loop, media, call, _ = make_call(base_plan, quick)
    session.start()
    loop.advance(4.0)
    session._on_digit("0", "rfc4733")
    loop.advance(4.5)
    assert call.refers == ["sip:operator@127.0.0.1"]
    loop.advance(0.5)  # t=9: no final NOTIFY within transfer-timeout
    assert call.refers == ["sip:operator@127.0.0.1", "cancelled"]  # a late NOTIFY 2xx no longer ends it
    assert media.played[-1] == (9.0, ["invalid.wav"])
    loop.advance(200.0)
    assert session.info.end_reason == "inactivity-timeout"


def test_the_bye_waits_the_allowance_after_the_goodbye_and_lateness_excludes_it(base_plan: Dialplan) -> None:
    slow = dataclasses.replace(defaults(), bye_allowance=0.5, no_input_timeout=1.0, max_attempts=1)
    session, loop, media, call, observer = make_call(base_plan, slow)
    session.start()
    loop.advance(4.0 + 1.0 + 1.5)  # main's prompt, 1 s of silence, the goodbye
    assert media.played[-1] == (5.0, ["goodbye.wav"]) and call.hangups == []
    loop.advance(0.499)
    assert call.hangups == []  # the caller's jitter buffer is still playing the goodbye
    loop.advance(0.001)
    assert call.hangups == [7.0]
    assert [s for kind, s in observer.seen if kind == "hangup"] == [0.0]  # the allowance is not lateness


def test_a_hangup_step_after_its_prompt_waits_the_allowance_too(base_plan: Dialplan) -> None:
    session, loop, _, call, _ = make_call(base_plan, defaults())
    session.start()
    loop.advance(1.0)
    session._on_digit("3", "rfc4733")  # barge-in: "thanks" (0.5 s), then hangup completed
    loop.advance(0.5)
    assert call.hangups == []
    loop.advance(0.2)
    assert call.hangups == [pytest.approx(1.7)] and session.info.end_reason == "completed"


def test_a_reload_applies_new_limits_to_a_running_call(ping_pong: Dialplan) -> None:
    session, loop, _, call, observer = make_call(ping_pong, defaults(max_call_duration=3600.0))
    session.start()
    loop.advance(100.0)
    assert call.hangups == []
    session.update_defaults(defaults(max_call_duration=60.0))  # the call is already 100 s old
    assert session.info.end_reason is None  # goodbye first, due at the change, not before it
    loop.advance(10.0)
    assert session.info.end_reason == "max-call-duration"
    assert [s for kind, s in observer.seen if kind == "disconnect"][-1] == 0.0  # not "40 s late"
    session2, loop2, _, _, _ = make_call(ping_pong, defaults())
    session2.start()
    loop2.advance(50.0)
    session2.update_defaults(defaults(max_silence_total=45.0))  # enabled later: counts from the answer
    loop2.advance(10.0)
    assert session2.info.end_reason == "max-silence-total"


def test_an_action_that_raises_still_leaves_the_call_its_next_deadline(base_plan: Dialplan) -> None:
    """A REFER refused by the SIP layer (the dialog is ending) must not leave the call timerless."""
    quick = dataclasses.replace(defaults(), transfer_timeout=5.0)
    session, loop, media, call, _ = make_call(base_plan, quick)
    session.start()
    loop.advance(4.0)

    def refused(uri: str) -> None:
        raise RuntimeError("call is not confirmed")

    call.refer = refused  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        session._on_digit("0", "rfc4733")
    loop.advance(5.0)  # t=9: the transfer-timeout is kept, not the later no-input wake's time
    assert media.played[-1] == (9.0, ["invalid.wav"])
    loop.advance(300.0)  # then the menu's no-input cycle ends the call
    assert call.hangups and session.info.end_reason == "inactivity-timeout"


def test_a_prompt_end_told_late_is_logged_with_its_lateness_and_the_silence_runs_from_the_end(
    ping_pong: Dialplan,
) -> None:
    """A loaded loop hears of the end of a prompt late: the no-input period still runs from the
    end of the audio, and ``prompt.finished`` says how long before the line that was (``late_ms``),
    so a reader of the log can tell when the silence began (the e2e gap checks need it)."""
    session, loop, media, _, _ = make_call(ping_pong, defaults())

    def finish_told_late() -> None:
        media._handle, on_done, media._on_done = None, media._on_done, None
        media.finished_at = loop.time() - 0.25  # the audio ended 250 ms before the loop got to it
        on_done(True)

    media._finish = finish_told_late  # type: ignore[method-assign]
    with capture_logs() as logs:
        session.start()
        first_at = media.played[0][0]
        loop.advance(30.0)
    (finished, *_) = [e for e in logs if e["event"] == "prompt.finished"]
    assert finished["completed"] is True and finished["late_ms"] == 250.0
    # the 2 s prompt's audio ended at 1.75 s; the next prompt comes 10 s (no-input) after that
    assert media.played[1] == (pytest.approx(first_at + 1.75 + 10.0), ["short.wav"])


def test_a_digit_waiting_in_the_socket_when_no_input_is_due_counts_before_it(base_plan: Dialplan) -> None:
    # RTP is read in batches (media.poller): a digit that arrived just before the no-input
    # deadline may still wait in the socket when the timer fires. The call reads it first.
    session, loop, media, _, observer = make_call(base_plan, defaults())
    session.start()
    while session.runner.next_deadline() is None:  # the menu's prompts play
        loop.advance(0.1)
    deadline = session.runner.next_deadline()
    assert deadline is not None
    loop.advance(deadline - loop.time() - 0.001)
    media.waiting.append("1")  # arrived, not read yet
    loop.advance(0.001)
    assert media.drains == [deadline]
    assert media.played[-1] == (deadline, ["ask.wav"])  # choice 1: the account menu, no reprompt
    assert [kind for kind, _ in observer.seen] == []
