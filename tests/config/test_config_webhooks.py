"""The webhook options: defaults, a secret read from its file, and bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_engine.config import ConfigError, load_config
from tui_engine.tui.settings import tui_settings

HEAD = '[applications.phone]\ntype = "tui"\n[applications.phone.tui]\n'


def load(tmp_path: Path, options: str) -> Path:
    path = tmp_path / "tui-engine.toml"
    path.write_text(HEAD + options, encoding="utf-8")
    return path


def test_defaults_reach_the_menus_and_the_client(tmp_path: Path) -> None:
    settings = tui_settings(load_config(load(tmp_path, "")))
    assert settings is not None
    assert (settings.defaults.webhook_timeout, settings.defaults.webhook_filler_delay) == (5.0, 1.0)
    hooks = settings.webhooks
    assert (hooks.secret, hooks.status_url, hooks.max_connections) == (b"", "", 100)


def test_the_secret_is_read_from_its_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "hook.key").write_text("  k3y-from-file\n", encoding="utf-8")
    path = load(tmp_path, 'webhook-secret-file = "hook.key"\nwebhook-timeout = "750ms"\n')
    settings = tui_settings(load_config(path))
    assert settings is not None
    assert settings.webhooks.secret == b"k3y-from-file" and settings.defaults.webhook_timeout == 0.75


@pytest.mark.parametrize(
    ("option", "problem", "allowed"),
    [
        ('webhook-secret-file = "missing.key"', "cannot read the secret file", "readable, non-empty file"),
        ('webhook-secret-file = "empty.key"', "is empty", "readable, non-empty file"),
        ('status-webhook = "ftp://crm.invalid/"', "http:// or https://", "URL"),
        ('webhook-timeout = "0s"', "greater than 0", "> 0"),
        ("webhook-max-connections = 0", "greater than or equal to 1", ">= 1"),
    ],
)
def test_a_bad_value_names_the_option_the_value_and_what_is_allowed(
    tmp_path: Path, option: str, problem: str, allowed: str
) -> None:
    (tmp_path / "empty.key").write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(load(tmp_path, option + "\n"))
    [issue] = caught.value.issues
    assert issue.option == f"applications.phone.tui.{option.split(' ', 1)[0]}"
    assert issue.line == 4 and problem in issue.problem and allowed in issue.allowed, issue


def test_check_names_file_and_line_of_a_bad_webhook_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from tui_engine.cli import main

    example = Path(__file__).parents[2] / "examples" / "webhook-balance"
    shutil.copytree(example / "dialplans", tmp_path / "dialplans")
    plan = tmp_path / "dialplans" / "balance.yaml"
    text = plan.read_text(encoding="utf-8")
    text = text.replace('url: "http://127.0.0.1:8099/balance"', 'url: "http://{caller}.invalid/balance"')
    text = text.replace("filler: one-moment", "filler: no-such-prompt")
    plan.write_text(text, encoding="utf-8")
    config = tmp_path / "tui-engine.toml"
    config.write_text(HEAD + 'dialplans = "dialplans"\ndefault-dialplan = "balance"\n', encoding="utf-8")
    assert main(["check", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    lines = text.splitlines()
    url = next(n for n, line in enumerate(lines, 1) if "{caller}.invalid" in line)
    filler = next(n for n, line in enumerate(lines, 1) if "no-such-prompt" in line)
    assert f"{plan}:{url}\n" in err and "the host may not come from a variable" in err
    assert f"{plan}:{filler}\n" in err and "unknown prompt 'no-such-prompt'" in err
