"""The value parsers: durations, minutes-or-duration, HOST:PORT, port ranges."""

from __future__ import annotations

import math

import pytest

from tui_engine.config.values import (
    parse_duration,
    parse_minutes_or_duration,
    parse_port_range,
    split_host_port,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("10m", 600.0), ("1h", 3600.0), ("250ms", 0.25), ("1.5s", 1.5), (" 2 s ", 2.0),
     (7, 7.0), (0.5, 0.5), ("0s", 0.0)],
)  # fmt: skip
def test_durations_become_float_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["10", "10x", "s", "-5s", "", True, -1, math.inf, None, [1]])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_an_integer_inactivity_timeout_counts_minutes_and_a_string_is_a_duration() -> None:
    assert parse_minutes_or_duration(10) == 600.0
    assert parse_minutes_or_duration(0) == 0.0
    assert parse_minutes_or_duration("90s") == 90.0
    assert parse_minutes_or_duration("3s") == 3.0


@pytest.mark.parametrize("bad", [-3, "ten", True, 1.5, "-1m"])
def test_bad_minutes_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_minutes_or_duration(bad)


def test_host_port_accepts_ipv4_ipv6_and_localhost() -> None:
    assert split_host_port("127.0.0.1:5060") == ("127.0.0.1", 5060)
    assert split_host_port("[::1]:8080") == ("::1", 8080)
    assert split_host_port("localhost:0") == ("localhost", 0)


@pytest.mark.parametrize("bad", ["127.0.0.1", ":5060", "example.org:5060", "127.0.0.1:70000", "1.2.3.4:x"])
def test_bad_host_port_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        split_host_port(bad)


def test_port_range() -> None:
    assert parse_port_range("20000-29999") == (20000, 29999)
    for bad in ("29999-20000", "80-90", "20000", 20000, "20000-70000"):
        with pytest.raises(ValueError):
            parse_port_range(bad)


def test_one_parser_serves_config_dialplans_and_the_portal() -> None:
    """The portal (console, command line) and dialplans use this parser, not copies of it."""
    from tui_engine.menus import build
    from tui_engine.web import settings

    assert build.parse_duration is parse_duration
    assert settings.parse_duration("10", bare_unit=60.0) == 600.0  # a typed bare number: minutes
    assert settings.parse_duration(10, bare_unit=60.0) == 600.0
    assert settings.parse_duration("2d") == 172800.0 and parse_duration("5min") == 300.0
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("10")  # in a TOML file a unit is required
