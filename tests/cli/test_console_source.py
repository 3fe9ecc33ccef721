"""The console's view of the engine's options (tui_engine.wiring.EngineConsole): shown as written,
edited through the configuration's rules, applied at once and saved back into the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_engine.app import Engine
from tui_engine.config import CONFIG_NAME, load_config, template_text
from tui_engine.web.console import OptionsRefused
from tui_engine.wiring import EngineConsole


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    path = tmp_path / CONFIG_NAME
    path.write_text(template_text())
    return Engine(load_config(path), config_path=path, components=[], watch=False)


def test_options_are_shown_as_written_in_the_file(engine: Engine) -> None:
    apps = EngineConsole(engine).applications()
    assert set(apps) == {"phone", "portal"}
    assert set(apps["portal"]) == {"security", "web"} and set(apps["phone"]) == {"tui"}
    portal = apps["portal"]["security"]
    assert portal["inactivity-timeout"] == 10  # minutes, as written: not 600.0 seconds
    assert portal["inactivity-warning"] == "60s" and portal["session-lifetime"] == "12h"
    assert apps["phone"]["tui"]["no-input-timeout"] == "10s"


def test_an_edit_applies_at_once_and_is_saved_with_the_comments(engine: Engine) -> None:
    console = EngineConsole(engine)
    console.set_option("portal", "security", "inactivity-timeout", "90s")

    assert engine.config.applications["portal"].idle_policy().timeout == 90.0
    assert engine.generation == 1
    assert console.applications()["portal"]["security"]["inactivity-timeout"] == "90s"
    assert engine.config_path is not None
    text = engine.config_path.read_text()
    assert 'inactivity-timeout = "90s"' in text
    assert "# Idle time before the session locks." in text  # the template's comments survive
    assert load_config(engine.config_path).applications["portal"].security.inactivity_timeout == 90.0


def test_a_refused_edit_names_what_is_allowed_and_changes_nothing(engine: Engine) -> None:
    console = EngineConsole(engine)
    assert engine.config_path is not None
    before = engine.config_path.read_text()
    with pytest.raises(ValueError, match="allowed: whole minutes"):
        console.set_option("portal", "security", "inactivity-timeout", -3)
    assert engine.config.applications["portal"].security.inactivity_timeout == 600.0
    assert engine.generation == 0
    assert engine.config_path.read_text() == before


def test_portal_only_options_are_not_listed_under_the_phone_application(engine: Engine) -> None:
    apps = EngineConsole(engine).applications()
    phone = {o for options in apps["phone"].values() for o in options}
    assert not phone & {"inactivity-warning", "max-unlock-failures", "session-lifetime", "store"}


def test_each_option_has_the_templates_comment_as_help(engine: Engine) -> None:
    helps = EngineConsole(engine).option_help()
    assert helps["portal"]["security"]["inactivity-timeout"]["help"].startswith(
        "Idle time before the session locks. An integer counts minutes"
    )
    assert helps["phone"]["tui"]["max-attempts"]["allowed"] == "an integer >= 1"
    assert all(h["help"] for sections in helps.values() for opts in sections.values() for h in opts.values())


def test_one_form_is_validated_whole_and_saved_whole(engine: Engine) -> None:
    console = EngineConsole(engine)
    assert engine.config_path is not None
    before = engine.config_path.read_text()
    with pytest.raises(OptionsRefused) as refused:
        console.set_options("phone", [("tui", "max-attempts", 5), ("tui", "no-input-timeout", "soon")])
    assert list(refused.value.problems) == ["tui.no-input-timeout"]
    assert engine.config_path.read_text() == before and engine.generation == 0  # not even max-attempts

    console.set_options("phone", [("tui", "max-attempts", 5), ("tui", "no-input-timeout", "7s")])
    assert engine.generation == 1  # one reload for the whole form
    tui = load_config(engine.config_path).applications["phone"].tui
    assert (tui.max_attempts, tui.no_input_timeout) == (5, 7.0)
