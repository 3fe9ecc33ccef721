"""``run_simulation`` driven through a real pipe, fast (speed ×200), on the bundled dialplans."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui_engine.menus import MenuDefaults
from tui_engine.menus.simulate import HANGUP, parse_line, run_simulation
from tui_engine.voicemail import Voicemail

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "tui_engine" / "dialplans" / "main.yaml"
VOICEMAIL = REPO / "tui_engine" / "dialplans" / "voicemail.yaml"
SPEED = 200.0


def simulate(path: Path, script: str, **kwargs: object) -> tuple[int, list[str]]:
    """Run in-process with ``script`` written to a pipe that then closes (end of input)."""
    read_fd, write_fd = os.pipe()
    os.write(write_fd, script.encode())
    os.close(write_fd)
    out = io.StringIO()
    with os.fdopen(read_fd) as stdin:
        rc = run_simulation(path, MenuDefaults(), speed=SPEED, stdin=stdin, stdout=out, **kwargs)  # type: ignore[arg-type]
    return rc, [line.split("] ", 1)[-1] for line in out.getvalue().splitlines()]


def events(lines: list[str], *tags: str) -> list[str]:
    return [line for line in lines if line.split(" ", 1)[0] in tags]


def test_parse_line() -> None:
    assert parse_line("1000#\n") == ["1", "0", "0", "0", "#"]
    assert parse_line("  ") == []
    assert parse_line("wait 2.5")[0].seconds == 2.5  # type: ignore[union-attr]
    assert parse_line("hangup") == [HANGUP]
    assert parse_line("* a") == ["*", "A"]


def test_silence_runs_the_whole_no_input_cycle() -> None:
    rc, lines = simulate(MAIN, "")
    assert rc == 0
    assert events(lines, "AGAIN", "BYE") == [
        "AGAIN no input: attempt 2 of 3",
        "AGAIN no input: attempt 3 of 3",
        "BYE   hang up: inactivity-timeout",
    ]
    waits = events(lines, "WAIT")
    assert [w.split("(")[-1] for w in waits] == ["attempt 1 of 3)", "attempt 2 of 3)", "attempt 3 of 3)"]
    assert all("10.0 s for input" in w for w in waits)
    assert 'PLAY  "Thank you for calling. Goodbye." (1.9 s) (no barge-in)' in lines


def test_voicemail_login_with_the_demo_pin(tmp_path: Path) -> None:
    script = "1000#\n9999#\nwait 2\n1000#\n1234#\nwait 1\n9\n"
    rc, lines = simulate(VOICEMAIL, script, mailboxes=Voicemail(tmp_path))
    assert rc == 0
    assert events(lines, "AUTH", "GOT", "MENU") == [
        "MENU  mailbox",
        "GOT   mailbox = 1000",
        "MENU  pin",
        "GOT   pin = 9999",
        "AUTH  checking mailbox 1000 with a 4-digit PIN",
        "AUTH  rejected",
        "MENU  mailbox",
        "GOT   mailbox = 1000",
        "MENU  pin",
        "GOT   pin = 1234",
        "AUTH  checking mailbox 1000 with a 4-digit PIN",
        "AUTH  accepted",
        "MENU  count",
        "MENU  mailbox-menu",
    ]
    assert lines[-1] == "BYE   hang up: completed"


def test_pin_option_overrides_the_dialplan_demo() -> None:
    rc, lines = simulate(VOICEMAIL, "1000#\n4321#\n", pin="4321")
    assert rc == 0
    assert "PIN 4321" in lines[1]
    assert "AUTH  accepted" in lines


def test_caller_hangup_from_the_script() -> None:
    rc, lines = simulate(MAIN, "3\nhangup\n")
    assert rc == 0
    assert "MENU  main" in lines
    assert lines[-1] == "BYE   hang up: caller-hangup"


def test_invalid_dialplan_exits_2_with_the_issues(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("prompts: {}\nmenus: {main: {prompts: [x]}}\n")
    rc, lines = simulate(bad, "")
    assert rc == 2
    assert any("bad.yaml:" in line for line in lines)


@pytest.mark.timeout(60)
def test_simulation_in_a_subprocess_reading_a_pipe() -> None:
    code = (
        "import sys; from pathlib import Path; from tui_engine.menus import MenuDefaults;"
        "from tui_engine.menus.simulate import run_simulation;"
        f"sys.exit(run_simulation(Path({str(MAIN)!r}), MenuDefaults(no_input_timeout=2.0), speed={SPEED}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], input="2\n3\n", capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "MENU  support" in out and "MENU  customer-number" in out
    assert "WAIT  2.0 s for input (attempt 1 of 3)" in out  # defaults passed in are used
    assert out.rstrip().endswith("hang up: inactivity-timeout")


@pytest.mark.timeout(60)
def test_on_a_terminal_keys_are_raw_and_the_countdown_is_live() -> None:
    """stdin is a pseudo-terminal: cbreak mode, single keys, a countdown line redrawn in place."""
    master, slave = os.openpty()
    code = (
        "import sys; from pathlib import Path; from tui_engine.menus import MenuDefaults;"
        "from tui_engine.menus.simulate import run_simulation;"
        f"sys.exit(run_simulation(Path({str(MAIN)!r}), MenuDefaults(no_input_timeout=2.0), speed=20))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert proc.stdout is not None
        head = [proc.stdout.readline() for _ in range(3)]  # banner, demo line, "MENU  main"
        assert head[2].endswith(b"MENU  main\n")
        os.write(master, b"3")  # one key, no newline: read at once in cbreak mode
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        os.close(master)
        os.close(slave)
    out = b"".join([*head, rest]).decode()  # bytes: keep the \r of the countdown line
    assert proc.returncode == 0
    assert "KEY   3" in out and '"We are open Monday to Friday, 8 AM to 6 PM."' in out
    assert "\r\x1b[K  main: attempt 1/3," in out and "s left" in out
    assert "main: attempt 3/3," in out
    assert out.rstrip().endswith("hang up: inactivity-timeout")


def test_switches_and_sets_are_shown_with_their_values(plan_dir: Path) -> None:
    """--at picks the wall clock (in the dialplan's zone), --var the call's variables."""
    from datetime import datetime

    path = plan_dir / "hours.yaml"
    path.write_text(
        """\
time-zone: Europe/Berlin
prompts:
  long: {file: long.wav, text: "Welcome."}
  info: {file: info.wav, text: "We are closed."}
menus:
  hours:
    switch:
      variable: time
      cases:
        "08:00-18:00": {set: {who: "{caller} at {time}"}, goto: main}
      default: {play: info, hangup: completed}
  main:
    prompts: [long]
    choices:
      "1": {transfer: "sip:{caller}@127.0.0.1"}
""",
        encoding="utf-8",
    )
    rc, lines = simulate(path, "1\n", at=datetime(2026, 12, 7, 9, 30), variables={"caller": "bob"})
    assert rc == 0
    assert events(lines, "SWITCH", "SET", "XFER") == [
        "SWITCH time = '09:30': case '08:00-18:00'",
        "SET   who = 'bob at 09:30'",
        "XFER  transfer to sip:bob@127.0.0.1",
    ]
    rc, lines = simulate(path, "", at=datetime(2026, 12, 7, 19, 0))
    assert events(lines, "SWITCH", "BYE") == ["SWITCH time = '19:00': default", "BYE   hang up: completed"]


def test_a_message_is_left_and_then_listened_to(tmp_path: Path) -> None:
    leave = REPO / "tui_engine" / "dialplans" / "leave-message.yaml"
    rc, lines = simulate(leave, "1000#\nwait 4\ntalk 3\n#\n", mailboxes=Voicemail(tmp_path))
    assert rc == 0
    recorded = events(lines, "REC")
    assert recorded[:2] == ["REC   recording (at most 120 s; 'talk N' talks)", "REC   stopped: key"]
    assert lines[-1] == "BYE   hang up: completed"
    assert len(Voicemail(tmp_path).store.messages("1000")) == 1
    script = "1000#\n1234#\nwait 2\n1\nwait 8\n7\nwait 5\n9\n"
    rc, lines = simulate(VOICEMAIL, script, mailboxes=Voicemail(tmp_path))
    assert events(lines, "VMAIL") == [
        "VMAIL open done", "VMAIL play done", "VMAIL delete done", "VMAIL play failed: no such message",
    ]
    assert any("message from simulate" in line for line in lines)
    assert Voicemail(tmp_path).store.messages("1000") == []
