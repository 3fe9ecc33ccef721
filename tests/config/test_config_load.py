"""Loading the TOML configuration: defaults, units, located errors, overrides, paths."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tui_engine.config import (
    MISSING,
    ConfigError,
    EngineConfig,
    apply_overrides,
    bundled_dialplans,
    config_changes,
    embedded_default,
    load_config,
    load_config_text,
    template_text,
)
from tui_engine.core import FinalAction, IdlePolicy
from tui_engine.core.errors import LocalError
from tui_engine.sip.transport import StreamLimits
from tui_engine.tui.settings import tui_settings

MINIMAL = """
[applications.portal]
type = "web"
"""


def write(tmp_path: Path, text: str, name: str = "tui-engine.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def errors_of(text: str, name: str = "t.toml") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, name)
    return info.value


# -- defaults --------------------------------------------------------------------------------
def test_architecture_defaults_when_sections_are_absent(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    e = config.engine
    assert (e.sip_listen, e.http_listen) == ("127.0.0.1:5060", "127.0.0.1:8080")
    assert e.rtp_ports == (20000, 32767)
    assert (e.media_address, e.max_calls, e.send_silence) == ("", 6000, False)
    assert e.trusted_networks == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert (config.logging.level, config.logging.format) == ("info", "auto")
    sec = config.applications["portal"].security
    assert sec.inactivity_timeout == 0.0  # absent = disabled (the Genesys default)
    assert (sec.inactivity_warning, sec.max_unlock_failures, sec.session_lifetime) == (60.0, 5, 43200.0)
    web = config.applications["portal"].web
    assert (web.store, web.heartbeat_interval) == ("sqlite", 15.0)


def test_tui_defaults_give_ten_seconds_three_attempts_then_disconnect(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[applications.phone]\ntype = "tui"\n'))
    name, app = config.tui_app() or ("", None)
    assert name == "phone" and app is not None
    t = app.tui
    assert (t.no_input_timeout, t.max_attempts, t.max_invalid, t.inter_digit_timeout) == (10.0, 3, 3, 5.0)
    assert (t.barge_in, t.inband_dtmf, t.default_dialplan) == (True, False, "main")
    assert app.idle_policy() == IdlePolicy(timeout=10.0, max_attempts=3, final=FinalAction.DISCONNECT)
    assert config.web_app() is None


def test_embedded_default_is_the_template() -> None:
    config = embedded_default()
    assert config.source == "<embedded default>"
    assert list(config.applications) == ["phone", "portal"]
    assert config.web_app() is not None and config.web_app()[0] == "portal"  # type: ignore[index]
    portal = config.applications["portal"]
    assert portal.security.inactivity_timeout == 600.0  # "inactivity-timeout = 10" minutes
    assert portal.idle_policy() == IdlePolicy(
        timeout=600.0, max_attempts=1, final=FinalAction.LOCK, warn_before=60.0
    )
    from_template = load_config_text(template_text(), base_dir=Path("/somewhere"))
    paths_only = {"engine.data-dir", "applications.phone.tui.dialplans", "applications.portal.tui.dialplans"}
    assert set(config_changes(config, from_template)) == paths_only


def test_embedded_default_paths_point_at_cwd_data_and_bundled_dialplans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = embedded_default()
    assert config.engine.data_dir == tmp_path / "data"
    assert config.applications["phone"].tui.dialplans == bundled_dialplans()
    assert bundled_dialplans().name == "dialplans"


def test_template_shows_every_option_of_every_section() -> None:
    text = template_text()
    from tui_engine.config import SECTIONS, options_of

    for section in SECTIONS:
        for option in options_of(section):
            if option not in ("engine", "logging", "applications", "security", "tui", "web"):
                assert f"\n{option} = " in text, f"{option} missing from template.toml"


def test_docs_describe_every_option() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    from tui_engine.config import SECTIONS, options_of

    for section in SECTIONS:
        for option in options_of(section):
            assert f"`{option}`" in docs, f"{option} missing from docs/configuration.md"


# -- units -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("written", "seconds"), [("10", 600.0), ("1", 60.0), ('"90s"', 90.0), ('"3s"', 3.0), ('"1h"', 3600.0)]
)
def test_inactivity_timeout_integer_is_minutes_string_is_duration(written: str, seconds: float) -> None:
    config = load_config_text(MINIMAL + f"[applications.portal.security]\ninactivity-timeout = {written}\n")
    assert config.applications["portal"].security.inactivity_timeout == seconds
    assert config.applications["portal"].idle_policy().timeout == seconds


def test_zero_disables_the_lock() -> None:
    config = load_config_text(MINIMAL + "[applications.portal.security]\ninactivity-timeout = 0\n")
    policy = config.applications["portal"].idle_policy()
    assert policy.timeout == 0.0 and not policy.enabled


def test_zero_warning_means_no_warning() -> None:
    text = MINIMAL + '[applications.portal.security]\ninactivity-timeout = 5\ninactivity-warning = "0s"\n'
    assert load_config_text(text).applications["portal"].idle_policy().warn_before is None


def test_tui_durations_accept_plain_seconds_and_units() -> None:
    text = '[applications.p]\ntype = "tui"\n[applications.p.tui]\n'
    text += 'no-input-timeout = 4\ninter-digit-timeout = "750ms"\n'
    tui = load_config_text(text).applications["p"].tui
    assert (tui.no_input_timeout, tui.inter_digit_timeout) == (4.0, 0.75)


# -- errors ----------------------------------------------------------------------------------
def test_negative_minutes_name_file_line_option_value_and_allowed(tmp_path: Path) -> None:
    text = template_text().replace("inactivity-timeout = 10", "inactivity-timeout = -3")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert isinstance(err, LocalError)
    [issue] = err.issues
    assert issue.file == str(path)
    assert issue.line == line_of(text, "inactivity-timeout = -3")
    assert issue.option == "applications.portal.security.inactivity-timeout"
    assert issue.value == -3
    assert "minutes" in issue.allowed and "duration" in issue.allowed
    report = str(err)
    assert f"{path}:{issue.line}: applications.portal.security.inactivity-timeout = -3" in report
    assert "allowed: whole minutes" in report


@pytest.mark.parametrize(
    ("line", "allowed"),
    [('sip-tcp-idle-timeout = "0s"', "from 1s to 24h"), ('sip-tcp-idle-timeout = "2d"', "from 1s to 24h"),
     ("sip-tcp-max-connections = 0", "an integer >= 1"),
     ("sip-tcp-max-connections-per-source = -1", "an integer >= 0 (0: no limit per source)")],
)
def test_sip_tcp_limits_out_of_range_name_the_option_and_what_is_allowed(line: str, allowed: str) -> None:
    [issue] = errors_of(f"[engine]\n{line}\n" + MINIMAL).issues
    assert issue.option == "engine." + line.split(" = ")[0] and issue.line == 2
    assert issue.allowed.endswith(allowed)


def test_the_stream_and_recording_limits_reach_the_telephony_settings() -> None:
    text = '[engine]\nsip-tcp-idle-timeout = "5m"\nsip-tcp-max-connections = 64\nmax-recordings = 7\n'
    text += "sip-tcp-max-connections-per-source = 8\n"
    settings = tui_settings(load_config_text(text + '[applications.phone]\ntype = "tui"\n'))
    assert settings is not None and settings.max_recordings == 7
    assert settings.streams == StreamLimits(idle_timeout=300.0, max_connections=64, max_per_source=8)


def test_unknown_option_is_an_error_with_a_did_you_mean_hint() -> None:
    text = MINIMAL + "[applications.portal.security]\ninactivity-timout = 5\n"
    [issue] = errors_of(text).issues
    assert issue.option == "applications.portal.security.inactivity-timout"
    assert issue.line == line_of(text, "inactivity-timout")
    assert 'did you mean "inactivity-timeout"' in issue.problem
    assert "inactivity-warning" in issue.allowed


def test_unknown_section_is_an_error_too() -> None:
    [issue] = errors_of("[engin]\nmax-calls = 3\n").issues
    assert issue.option == "engin" and issue.line == 1
    assert 'did you mean "engine"' in issue.problem


def test_every_error_is_reported_at_once() -> None:
    text = (
        '[engine]\nmax-calls = 0\nsip-listen = "nowhere"\n[logging]\nlevel = "loud"\n'
        '[applications.phone]\ntype = "tui"\n[applications.phone.tui]\nbarge-in = "yes"\n'
        'no-input-timeout = "10x"\n[applications.portal]\ntype = "chat"\n'
    )
    err = errors_of(text)
    by_option = {i.option: i for i in err.issues}
    assert set(by_option) == {
        "engine.max-calls",
        "engine.sip-listen",
        "logging.level",
        "applications.phone.tui.barge-in",
        "applications.phone.tui.no-input-timeout",
        "applications.portal.type",
    }
    assert by_option["logging.level"].line == line_of(text, "loud")
    assert by_option["applications.portal.type"].value == "chat"
    assert by_option["applications.portal.type"].allowed == '"tui" or "web"'
    assert by_option["applications.phone.tui.barge-in"].allowed == "true or false"
    assert str(err).startswith("6 configuration errors in t.toml:")


def test_missing_type_is_located_at_the_application_header() -> None:
    text = "[engine]\n\n[applications.portal.security]\ninactivity-timeout = 1\n"
    [issue] = errors_of(text).issues
    assert issue.option == "applications.portal.type"
    assert issue.value is MISSING
    assert issue.line == 3  # nearest written parent: the [applications.portal.security] header


def test_a_section_of_the_other_type_is_refused() -> None:
    [issue] = errors_of(MINIMAL + '[applications.portal.tui]\nno-input-timeout = "3s"\n').issues
    assert issue.option == "applications.portal" and "[tui]" in issue.problem


def test_toml_syntax_errors_carry_the_line() -> None:
    [issue] = errors_of("[engine]\nmax-calls = \n").issues
    assert issue.line == 2 and "TOML" in issue.allowed


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.toml")
    assert "cannot read" in str(info.value)


def test_quoted_and_dotted_keys_are_located() -> None:
    text = '[applications."portal"]\ntype = "web"\nsecurity.inactivity-timeout = -1\n'
    [issue] = errors_of(text).issues
    assert issue.line == 3


# -- overrides -------------------------------------------------------------------------------
def test_overrides_parse_toml_literals_and_fall_back_to_strings() -> None:
    base = embedded_default()
    config = apply_overrides(
        base,
        [
            "portal.security.inactivity-timeout=2",
            'portal.security.inactivity-warning="10s"',
            "phone.tui.barge-in=false",
            "engine.sip-listen=127.0.0.1:5070",
            "logging.level=debug",
        ],
    )
    assert config.applications["portal"].security.inactivity_timeout == 120.0
    assert config.applications["portal"].security.inactivity_warning == 10.0
    assert config.applications["phone"].tui.barge_in is False
    assert config.engine.sip_listen == "127.0.0.1:5070"  # not TOML: taken as a string
    assert config.logging.level == "debug"
    assert base.applications["portal"].security.inactivity_timeout == 600.0  # the original is untouched


def test_override_errors_name_the_option_flag_and_are_all_reported() -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(
            embedded_default(),
            [
                "portal.security.inactivity-timeout=-3",
                "portl.web.store=sqlite",
                "no-equals-sign",
                "phone.tui.max-attemps=2",
            ],
        )
    issues = {i.file: i for i in info.value.issues}
    assert set(issues) == {
        "--option portal.security.inactivity-timeout=-3",
        "--option portl.web.store=sqlite",
        "--option no-equals-sign",
        "--option phone.tui.max-attemps=2",
    }
    assert issues["--option portal.security.inactivity-timeout=-3"].value == -3
    assert issues["--option portal.security.inactivity-timeout=-3"].line is None
    assert 'did you mean "portal"' in issues["--option portl.web.store=sqlite"].problem
    assert 'did you mean "max-attempts"' in issues["--option phone.tui.max-attemps=2"].problem


def test_overrides_on_a_raw_mapping() -> None:
    config = apply_overrides({"applications": {"p": {"type": "web"}}}, ["p.security.inactivity-timeout=1"])
    assert isinstance(config, EngineConfig)
    assert config.applications["p"].security.inactivity_timeout == 60.0


# -- paths -----------------------------------------------------------------------------------
def test_relative_paths_resolve_against_the_config_file_directory(tmp_path: Path) -> None:
    path = write(tmp_path, '[engine]\ndata-dir = "state"\n[applications.p]\ntype = "tui"\n')
    config = load_config(path)
    assert config.engine.data_dir == tmp_path / "state"
    assert config.applications["p"].tui.dialplans == tmp_path / "dialplans"


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    text = f'[engine]\ndata-dir = "{tmp_path / "abs"}"\n'
    assert load_config_text(text, base_dir=Path("/elsewhere")).engine.data_dir == tmp_path / "abs"


def test_relative_override_paths_resolve_like_the_file(tmp_path: Path) -> None:
    config = apply_overrides(load_config(write(tmp_path, MINIMAL)), ['engine.data-dir="d2"'])
    assert config.engine.data_dir == tmp_path / "d2"


# -- changes ---------------------------------------------------------------------------------
def test_config_changes_lists_only_what_changed() -> None:
    old = embedded_default()
    new = apply_overrides(old, ['portal.security.inactivity-timeout="90s"', "phone.tui.max-attempts=2"])
    assert config_changes(old, new) == {
        "applications.phone.tui.max-attempts": (3, 2),
        "applications.portal.security.inactivity-timeout": (600.0, 90.0),
    }
    assert config_changes(old, old) == {}


def test_max_calls_beyond_the_rtp_ports_is_refused_naming_both() -> None:
    text = '[engine]\nrtp-ports = "20000-20009"\nmax-calls = 6\n'
    [issue] = errors_of(text).issues
    assert issue.option == "engine.max-calls" and issue.value == 6 and issue.line == 3
    assert 'rtp-ports = "20000-20009" has 5 even ports' in issue.problem
    assert "at most 5" in issue.problem
    assert "even ports in rtp-ports" in issue.allowed
    fits = load_config_text('[engine]\nrtp-ports = "20000-20009"\nmax-calls = 5\n', "t.toml")
    assert fits.engine.max_calls == 5


def test_the_default_rtp_ports_hold_the_default_max_calls() -> None:
    from tui_engine.config.values import rtp_capacity

    for engine in (embedded_default().engine, load_config_text(MINIMAL, "t.toml").engine):
        assert rtp_capacity(*engine.rtp_ports) >= engine.max_calls
        assert (engine.overload_lag, engine.max_calls_in_setup) == (0.05, 500)


def test_a_bad_time_zone_names_the_option_value_and_allowed() -> None:
    text = '[applications.phone]\ntype = "tui"\n[applications.phone.tui]\ntime-zone = "Europe/Berlni"\n'
    [issue] = errors_of(text).issues
    assert issue.option == "applications.phone.tui.time-zone" and issue.value == "Europe/Berlni"
    assert issue.line == 4 and "IANA" in issue.allowed
    good = '[applications.phone]\ntype = "tui"\n[applications.phone.tui]\ntime-zone = "Europe/Berlin"\n'
    assert load_config_text(good).applications["phone"].tui.time_zone == "Europe/Berlin"
