"""``tui-engine check`` on set / switch / switch menus / templates: every problem with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_engine.menus import DialplanError, load_dialplan

HEAD = """\
goodbye: goodbye
prompts:
  long: {file: long.wav}
  goodbye: {file: goodbye.wav}
menus:
"""
# line 6 is the first menu's name


def loop(trail: str) -> str:
    return (
        f"switch menus loop without waiting for the caller ({trail}): "
        "the call could never end; route one of them to a menu with prompts"
    )


BACK = (
    "this step would return to switch menu 'route', which routes again at once: "
    "end it with goto, hangup, transfer, switch or webhook"
)


def issues(plan_dir: Path, menus: str, head: str = HEAD) -> list[tuple[int, str]]:
    path = plan_dir / "t.yaml"
    path.write_text(head + menus, encoding="utf-8")
    with pytest.raises(DialplanError) as caught:
        load_dialplan(path)
    assert all(i.file == path for i in caught.value.issues)
    return [(i.line, i.reason) for i in caught.value.issues]


def loads(plan_dir: Path, menus: str, head: str = HEAD) -> None:
    path = plan_dir / "t.yaml"
    path.write_text(head + menus, encoding="utf-8")
    load_dialplan(path)


def test_switch_on_a_variable_nothing_sets(plan_dir: Path) -> None:
    found = issues(
        plan_dir,
        """\
  main:
    prompts: [long]
    choices:
      "1":
        switch:
          variable: depatment
          default: {goto: main}
""",
    )
    assert len(found) == 1
    line, reason = found[0]
    assert line == 11 and "variable 'depatment' is never set" in reason and "variables:" in reason


def test_declared_collected_set_and_builtin_variables_are_known(plan_dir: Path) -> None:
    loads(
        plan_dir,
        """\
  main:
    prompts: [long]
    choices:
      "1": {switch: {variable: account, default: {goto: main}}}
      "2": {switch: {variable: pin, default: {goto: main}}}
      "3": {switch: {variable: dept, default: {goto: main}}}
      "4": {switch: {variable: weekday, cases: {"mon-fri": {goto: main}}, default: {hangup: completed}}}
      "5": {set: {dept: "{entry}-{caller}-{time}"}, goto: main}
  login:
    prompts: [long]
    collect: {variable: pin, max-digits: 4}
    next: {transfer: "sip:{account}@{dialled}"}
""",
        head=HEAD.replace("menus:\n", "variables: {account: \"\"}\nmenus:\n"),
    )


def test_bad_templates_and_built_in_names(plan_dir: Path) -> None:
    found = issues(
        plan_dir,
        """\
  main:
    prompts: [long]
    choices:
      "1": {set: {dept: "{entry"}, goto: main}
      "2": {set: {time: "now"}, goto: main}
      "3": {transfer: "sip:{nobody}@pbx"}
      "4": {transfer: "sip:a>b@pbx"}
      "5": {transfer: "{entry}}@pbx"}
""",
    )
    assert found == [
        (9, "bad template '{entry': lone '{' at column 1 (write {{ for a brace)"),
        (10, "'time' is a built-in variable and cannot be set"),
        (11, found[2][1]),
        (12, "transfer target 'sip:a>b@pbx' is not a sip: or sips: URI"),
        (13, "bad template '{entry}}@pbx': lone '}' at column 8 (write }} for a brace)"),
    ]
    assert "variable 'nobody' is never set" in found[2][1]


CASES = """\
  main:
    prompts: [long]
    choices:
      "1":
        switch:
          variable: entry
          cases:
            "100-199": {goto: main}
            "150": {goto: main}
            "_1XX": {goto: main}
            "200-250": {goto: main}
            "240-299": {goto: main}
            "210-260": {goto: main}
            "9-1": {goto: main}
            "_[": {goto: main}
          default: {goto: main}
      "2":
        switch:
          variable: time
          cases:
            "09:00-17:00": {goto: main}
            "10:00-11:00": {goto: main}
            "22:00-06:00": {goto: main}
            "23:30-01:00": {goto: main}
            "09:00-25:00": {goto: main}
            "12:00-12:00": {goto: main}
            "9:30": {goto: main}
            8:30: {goto: main}
          default: {goto: main}
      "3":
        switch:
          variable: weekday
          cases:
            "mon-fri": {goto: main}
            "wed": {goto: main}
            "monday": {goto: main}
          default: {goto: main}
"""


def test_unreachable_and_broken_cases(plan_dir: Path) -> None:
    found = dict(issues(plan_dir, CASES))
    assert "case '150' can never be taken: case '100-199' above already matches '150'" in found[14]
    assert 15 not in found  # pattern after a range: not decided, allowed
    assert 16 not in found and 17 not in found
    assert "case '210-260' can never be taken: every number in it is taken" in found[18]
    assert "number range '9-1' runs backwards" in found[19]
    assert "pattern '_['" in found[20]
    assert "case '10:00-11:00' can never be taken" in found[27] and "'09:00-17:00'" in found[27]
    assert 28 not in found  # over midnight
    assert "case '23:30-01:00' can never be taken" in found[29]
    assert "'25:00' is not a time of day" in found[30]
    assert "time range '12:00-12:00' is empty" in found[31]
    assert "case '9:30' on time: write a range" in found[32]
    assert "case '510' on time" in found[33] and "YAML reads 9:00 as the number 540" in found[33]
    assert "case 'wed' can never be taken" in found[40]
    assert "case 'monday' on weekday" in found[41]
    assert len(found) == 12


def test_duplicate_case_keys_are_reported(plan_dir: Path) -> None:
    found = issues(
        plan_dir,
        """\
  main:
    prompts: [long]
    choices:
      "1":
        switch:
          variable: entry
          cases:
            1: {goto: main}
            "1": {hangup: completed}
          default: {goto: main}
""",
    )
    assert found == [(14, "duplicate key '1'")]


def test_switch_menus_must_end_every_path(plan_dir: Path) -> None:
    found = issues(
        plan_dir,
        """\
  route:
    prompts: [long]
    switch:
      variable: caller
      cases:
        "100": {play: long}
        "200": {transfer: "sip:a@pbx"}
      default: {goto: main}
  main:
    prompts: [long]
    choices:
      "1": {goto: route}
""",
    )
    assert found == [
        (7, "a switch menu routes at once and has no 'prompts' (it plays and waits for nothing)"),
        (7, "a switch menu that transfers needs on-transfer-failed (it has no menu to return to)"),
        (11, BACK),
    ]


def test_switch_menus_that_loop_are_refused(plan_dir: Path) -> None:
    found = issues(
        plan_dir,
        """\
  hours:
    switch:
      variable: time
      cases:
        "09:00-17:00": {goto: main}
      default: {goto: holiday}
  holiday:
    switch:
      variable: date
      cases:
        "2026-12-25": {goto: closed}
      default: {goto: hours}
  closed:
    switch:
      variable: caller
      default: {hangup: completed}
    on-transfer-failed: {goto: closed}
  main:
    prompts: [long]
    choices:
      "1": {goto: hours}
""",
    )
    assert found == [
        (6, loop("hours -> holiday -> hours")),
        (18, loop("closed -> closed")),
    ]


def test_time_zone_and_declared_variables(plan_dir: Path) -> None:
    head = HEAD.replace("menus:\n", "time-zone: Mars/Olympus\nvariables: {caller: \"x\"}\nmenus:\n")
    found = issues(plan_dir, "  main:\n    prompts: [long]\n    choices: {\"1\": {goto: main}}\n", head=head)
    assert found[0][0] == 5 and "unknown time zone 'Mars/Olympus'" in found[0][1]
    assert found[1] == (6, "'caller' is a built-in variable: declare another name")


def test_a_webhook_in_a_switch_menu_needs_its_own_failure_path(plan_dir: Path) -> None:
    found = issues(
        plan_dir,
        """\
  route:
    switch:
      variable: caller
      cases:
        "100": {webhook: {url: "http://app.invalid/a"}}
        "200": {webhook: {url: "http://app.invalid/b", on-webhook-failed: {play: long}}}
        "300": {webhook: {url: "http://app.invalid/c", on-webhook-failed: {goto: route}}}
      default: {goto: main}
  main:
    prompts: [long]
    choices:
      "1": {goto: route}
""",
    )
    assert found == [
        (6, loop("route -> route")),
        (10, "a webhook in a switch menu needs on-webhook-failed (it has no menu to return to)"),
        (11, BACK),
    ]
    loads(
        plan_dir,
        """\
  route:
    switch: {variable: caller, default: {webhook: {url: "http://app.invalid/a"}}}
    on-webhook-failed: {goto: main}
  main:
    prompts: [long]
    choices:
      "1": {goto: route}
""",
    )


def test_what_record_and_voicemail_steps_set_is_known(plan_dir: Path) -> None:
    loads(
        plan_dir,
        """\
  main:
    prompts: [long]
    choices:
      "1": {switch: {variable: new_messages, cases: {"0": {hangup: completed}}, default: {goto: main}}}
      "2": {set: {last: "{recording} {recording_length}"}, goto: main}
""",
    )
