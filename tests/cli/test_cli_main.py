"""The ``tui-engine`` command, called in-process through ``main([...])``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_engine.cli import main
from tui_engine.config import CONFIG_NAME, load_config, template_text


def test_init_writes_the_template_and_says_what_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path)]) == 0
    written = tmp_path / CONFIG_NAME
    assert written.read_text(encoding="utf-8") == template_text()
    out = capsys.readouterr().out
    assert f"tui-engine check --config {written}" in out and "tui-engine serve" in out
    assert load_config(written).applications["portal"].security.inactivity_timeout == 600.0


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / CONFIG_NAME
    target.write_text("# mine\n", encoding="utf-8")
    assert main(["init", str(tmp_path)]) == 1
    assert target.read_text(encoding="utf-8") == "# mine\n"
    assert "--force" in capsys.readouterr().err
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert target.read_text(encoding="utf-8") == template_text()


def test_check_reports_every_config_error_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[engine]\nmax-calls = 0\n[applications.portal]\ntype = "web"\n'
        "[applications.portal.security]\ninactivity-timeout = -3\n",
        encoding="utf-8",
    )
    assert main(["check", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "2 configuration errors" in err
    assert f"{path}:2: engine.max-calls = 0" in err
    assert f"{path}:6: applications.portal.security.inactivity-timeout = -3" in err
    assert "allowed: whole minutes" in err


def test_check_reports_dialplan_problems_with_the_option_that_points_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[applications.phone]\ntype = "tui"\n[applications.phone.tui]\ndialplans = "none"\n')
    assert main(["check", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:4: applications.phone.tui.dialplans" in err
    assert str(tmp_path / "none") in err


def test_check_without_config_validates_the_embedded_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "ok: <embedded default>: applications: phone (tui), portal (web)" in out


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["serve", "--sip-listen", "5060"], "--sip-listen"),
        (["serve", "--http-listen", "example.org:80"], "--http-listen"),
        (["simulate", "x.yaml", "--speed", "0"], "--speed"),
        (["simulate", "x.yaml", "--at", "monday"], "--at"),
        (["simulate", "x.yaml", "--var", "caller"], "--var"),
        (["serve", "--bogus"], "--bogus"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_command_lines_exit_2_naming_the_option(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert named in capsys.readouterr().err


def test_speed_error_says_what_is_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "x.yaml", "--speed", "fast"]) == 2
    assert "a number > 0" in capsys.readouterr().err


def test_serve_with_a_bad_option_override_exits_2_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--option", "portal.security.inactivity-timeout=-3"]) == 2
    err = capsys.readouterr().err
    assert "--option portal.security.inactivity-timeout=-3" in err
    assert "applications.portal.security.inactivity-timeout = -3" in err
    assert "allowed: whole minutes" in err


def test_serve_with_a_bad_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.toml"
    path.write_text("[logging]\nlevel = 3\n", encoding="utf-8")
    assert main(["serve", "--config", str(path)]) == 1
    assert f"{path}:2: logging.level = 3" in capsys.readouterr().err


def test_simulate_needs_a_tui_application(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[applications.portal]\ntype = "web"\n', encoding="utf-8")
    assert main(["simulate", "main.yaml", "--config", str(path)]) == 1
    assert 'no type = "tui" application' in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("init", "check", "serve", "simulate", "users"):
        assert command in out


def test_check_points_at_a_switch_on_a_misspelt_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from tui_engine.config import bundled_dialplans

    plans = tmp_path / "dialplans"
    shutil.copytree(bundled_dialplans(), plans)
    text = (plans / "main.yaml").read_text(encoding="utf-8")
    text = text.replace('"3": {play: hours}', '"3": {switch: {variable: tiem, default: {play: hours}}}')
    (plans / "main.yaml").write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "tiem" in row)
    config = tmp_path / "t.toml"
    config.write_text(f'[applications.phone]\ntype = "tui"\n[applications.phone.tui]\ndialplans = "{plans}"')
    assert main(["check", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{plans / 'main.yaml'}:{line}" in err and "variable 'tiem' is never set" in err
