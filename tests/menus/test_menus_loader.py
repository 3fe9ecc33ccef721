"""Dialplan loading: every problem reported at once, each with file, line and column."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from tui_engine.core.errors import LocalError
from tui_engine.menus import Dialplan, DialplanError, HangupReason, load_dialplan, load_dialplans
from tui_engine.menus.loader import dialplan_schema

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "tui_engine" / "dialplans"

SMALL = """\
prompts:
  hello: {file: long.wav}
menus:
  main:
    prompts: [hello]
    choices:
      "1": {goto: main}
"""


def issues_of(path: Path) -> list[tuple[str, int, int, str]]:
    with pytest.raises(DialplanError) as caught:
        load_dialplan(path)
    return [(i.file.name, i.line, i.column, i.reason) for i in caught.value.issues]


def write(plan_dir: Path, text: str, name: str = "t.yaml") -> Path:
    path = plan_dir / name
    path.write_text(text, encoding="utf-8")
    return path


def test_small_dialplan_loads_with_defaults(plan_dir: Path) -> None:
    plan = load_dialplan(write(plan_dir, SMALL))
    assert plan.name == "t"  # the file stem
    assert plan.start == "main"  # the first menu
    assert plan.prompts["hello"].duration == pytest.approx(4.0)
    assert plan.prompts["hello"].path == (plan_dir / "long.wav").resolve()
    assert plan.menus["main"].choices["1"].goto == "main"


def test_dialplan_error_is_a_local_error_with_a_readable_message(plan_dir: Path) -> None:
    path = write(plan_dir, SMALL.replace("goto: main", "goto: nowhere"))
    with pytest.raises(LocalError) as caught:
        load_dialplan(path)
    assert isinstance(caught.value, DialplanError)
    assert "t.yaml:7:" in str(caught.value)
    assert "'nowhere'" in str(caught.value)


def test_bad_yaml_reports_line_and_column(plan_dir: Path) -> None:
    path = write(plan_dir, "prompts:\n  hello: {file: long.wav\nmenus: {}\n")
    [(file, line, column, reason)] = issues_of(path)
    assert file == "t.yaml"
    assert line == 3 and column >= 1
    assert reason.startswith("YAML syntax:")


def test_unknown_key_points_at_the_key(plan_dir: Path) -> None:
    text = SMALL.replace('    prompts: [hello]\n', '    prompts: [hello]\n    timeout: 5\n')
    issues = issues_of(write(plan_dir, text))
    assert len(issues) == 1
    _, line, column, reason = issues[0]
    assert (line, column) == (6, 5)
    assert "unknown key 'timeout'" in reason
    assert "no-input-timeout" in reason  # the hint lists the allowed keys


def test_missing_prompt_file_points_at_the_file_value(plan_dir: Path) -> None:
    issues = issues_of(write(plan_dir, SMALL.replace("long.wav", "nope.wav")))
    assert [(line, col) for _, line, col, _ in issues] == [(2, 17)]
    assert "nope.wav" in issues[0][3] and "not found" in issues[0][3]


def test_prompt_that_is_not_a_wav_is_reported_with_the_media_reason(plan_dir: Path) -> None:
    (plan_dir / "fake.wav").write_bytes(b"ID3 not a wav at all")
    issues = issues_of(write(plan_dir, SMALL.replace("long.wav", "fake.wav")))
    assert len(issues) == 1 and issues[0][1] == 2
    assert "not a RIFF/WAVE file" in issues[0][3]


def test_prompt_outside_the_dialplan_directory_is_refused(plan_dir: Path) -> None:
    issues = issues_of(write(plan_dir, SMALL.replace("long.wav", "../long.wav")))
    assert len(issues) == 1 and "inside the dialplan's directory" in issues[0][3]


def test_bad_goto_points_at_the_target(plan_dir: Path) -> None:
    issues = issues_of(write(plan_dir, SMALL.replace("goto: main", "goto: sales")))
    assert [(line, col) for _, line, col, _ in issues] == [(7, 19)]
    assert "goto target 'sales'" in issues[0][3]


def test_all_issues_of_a_file_are_reported_at_once(plan_dir: Path) -> None:
    text = """\
prompts:
  hello: {file: missing.wav}
menus:
  main:
    prompts: [hello, ghost]
    colour: blue
    choices:
      "1": {goto: nowhere}
      "x": {hangup: completed}
      "2": {hangup: tired}
"""
    issues = issues_of(write(plan_dir, text))
    lines = [line for _, line, _, _ in issues]
    reasons = " | ".join(reason for *_, reason in issues)
    assert lines == sorted(lines)
    assert 2 in lines and "missing.wav" in reasons  # missing prompt file
    assert 5 in lines and "unknown prompt 'ghost'" in reasons
    assert 6 in lines and "unknown key 'colour'" in reasons
    assert 8 in lines and "goto target 'nowhere'" in reasons
    assert 9 in lines and "invalid name 'x'" in reasons
    assert 10 in lines and "'tired'" in reasons


def test_duplicate_keys_are_reported(plan_dir: Path) -> None:
    text = SMALL + '      "1": {goto: main}\n'
    issues = issues_of(write(plan_dir, text))
    assert [(line, reason) for _, line, _, reason in issues] == [(8, "duplicate key '1'")]


def test_collect_menus_need_next_and_consistent_digits(plan_dir: Path) -> None:
    text = SMALL + """\
  login:
    prompts: [hello]
    collect: {variable: pin, min-digits: 6, max-digits: 4}
"""
    reasons = [reason for *_, reason in issues_of(write(plan_dir, text))]
    assert any("needs next" in r for r in reasons)
    assert any("min-digits 6 is above max-digits 4" in r for r in reasons)


def test_authenticate_variables_must_be_collected(plan_dir: Path) -> None:
    text = SMALL.replace(
        '"1": {goto: main}',
        '"1": {authenticate: {mailbox: box, pin: pin, on-success: {goto: main}, on-failure: {goto: main}}}',
    )
    reasons = [reason for *_, reason in issues_of(write(plan_dir, text))]
    assert sorted(reasons) == [
        "variable 'box' is not collected by any menu",
        "variable 'pin' is not collected by any menu",
    ]


def test_a_step_does_one_thing(plan_dir: Path) -> None:
    text = SMALL.replace('{goto: main}', '{goto: main, hangup: completed}')
    [(_, line, _, reason)] = issues_of(write(plan_dir, text))
    assert line == 7 and "found goto, hangup" in reason


def test_directory_reports_issues_of_every_file(plan_dir: Path) -> None:
    write(plan_dir, SMALL.replace("goto: main", "goto: nowhere"), "a.yaml")
    write(plan_dir, SMALL.replace("hello]", "ghost]"), "b.yaml")
    with pytest.raises(DialplanError) as caught:
        load_dialplans(plan_dir, default=None)
    assert {(i.file.name, i.line) for i in caught.value.issues} == {("a.yaml", 7), ("b.yaml", 5)}


def test_names_and_numbers_must_pick_one_dialplan(plan_dir: Path) -> None:
    write(plan_dir, 'numbers: ["100"]\n' + SMALL, "a.yaml")
    write(plan_dir, 'numbers: ["100"]\n' + SMALL, "b.yaml")
    with pytest.raises(DialplanError) as caught:
        load_dialplans(plan_dir, default="a")
    [issue] = caught.value.issues
    assert issue.file.name == "b.yaml" and "'100' already reaches dialplan 'a'" in issue.reason


def test_missing_default_dialplan_is_an_issue(plan_dir: Path) -> None:
    write(plan_dir, SMALL, "a.yaml")
    with pytest.raises(DialplanError, match="default dialplan 'main' not found"):
        load_dialplans(plan_dir)


def test_pick_by_name_number_then_default(make_plan: Callable[..., Dialplan], plan_dir: Path) -> None:
    make_plan()  # test.yaml, numbers ["42"]
    write(plan_dir, "name: main\n" + SMALL, "main.yaml")
    plans = load_dialplans(plan_dir)
    assert len(plans) == 2 and "test" in plans
    assert plans.pick("test") is plans["test"]
    assert plans.pick("42") is plans["test"]
    assert plans.pick("999") is plans["main"]
    assert plans.pick(None) is plans["main"]
    assert load_dialplans(plan_dir, default=None).pick("999") is None


def test_schema_is_valid_and_names_the_same_keys_as_the_loader() -> None:
    schema = dialplan_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    on_disk = json.loads((REPO / "tui_engine/menus/dialplan.schema.json").read_text())
    assert on_disk == schema
    assert set(schema["$defs"]["settings"]["properties"]) <= set(schema["$defs"]["menu"]["properties"])


def test_bundled_dialplans_load_cleanly_and_validate_against_the_schema() -> None:
    plans = load_dialplans(BUNDLED, default="main")
    assert set(plans.by_name) == {"main", "voicemail", "leave-message"}
    assert plans.pick("*98") is plans["leave-message"]
    assert plans.pick("100") is plans["main"]
    assert plans.pick("unknown-user") is plans["main"]
    assert plans.pick("*97") is plans["voicemail"]
    for path in BUNDLED.glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text()), dialplan_schema())
    main = plans["main"]
    assert main.menus["main"].choices["9"].hangup is HangupReason.COMPLETED
    assert main.menus["main"].choices["0"].transfer is not None
    for plan in plans.by_name.values():
        assert plan.goodbye and plan.invalid
        for prompt in plan.prompts.values():
            assert prompt.text and prompt.duration > 0.3
    total = sum(p.stat().st_size for p in (BUNDLED / "prompts").rglob("*.wav"))
    assert total < 1_000_000  # committed: keep them small (digit words, voicemail, webhook: ~910 kB)


def test_the_example_in_the_docs_loads(tmp_path: Path, wav_writer: Callable[[Path, float], None]) -> None:
    doc = (REPO / "docs" / "dialplans.md").read_text()
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    for spec in yaml.safe_load(example)["prompts"].values():
        wav_writer(tmp_path / spec["file"], 1.0)
    (tmp_path / "main.yaml").write_text(example)
    plan = load_dialplans(tmp_path)["main"]
    assert plan.menus["main"].settings.no_input_timeout == 8.0
    assert plan.menus["support"].collect is not None


def test_dialplan_set_reads_like_a_mapping() -> None:
    plans = load_dialplans(BUNDLED)
    assert sorted(plans) == ["leave-message", "main", "voicemail"]
    assert {p.name for p in plans.values()} == {"main", "voicemail", "leave-message"}
    assert plans.default is plans["main"]
    paths = plans["main"].prompt_paths()
    assert len(paths) == len(set(paths)) and all(p.is_file() for p in paths)
    assert (BUNDLED / "prompts/common/goodbye.wav").resolve() in paths


def test_alias_bomb_is_refused_not_expanded(plan_dir: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 values
    [(_, line, _, reason)] = issues_of(write(plan_dir, "\n".join(lines) + "\n"))
    assert line == 1 and "aliases expanding" in reason
