"""Case keys of ``switch``: what each form matches (menus/switch.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_engine.menus.switch import CaseError, CaseKind, parse_case, shadowed_by
from tui_engine.menus.variables import sip_uri


@pytest.mark.parametrize(
    ("key", "kind", "yes", "no"),
    [
        ("1", CaseKind.EXACT, ["1"], ["01", "", "11"]),
        ("100-199", CaseKind.NUMBER_RANGE, ["100", "150", "199", "0150"], ["99", "200", "1a0", "", "١٥٠"]),
        ("09:00-17:00", CaseKind.TIME_RANGE, ["09:00", "16:59"], ["17:00", "08:59", "9:00x", "25:00"]),
        ("22:00-06:00", CaseKind.TIME_RANGE, ["22:00", "23:59", "00:00", "05:59"], ["06:00", "21:59"]),
        ("17:00-24:00", CaseKind.TIME_RANGE, ["17:00", "23:59"], ["00:00", "16:59"]),
        ("00:00-24:00", CaseKind.TIME_RANGE, ["00:00", "12:00", "23:59"], ["noon"]),
        ("mon-fri", CaseKind.WEEKDAY_RANGE, ["mon", "wed", "fri"], ["sat", "sun", "Mon"]),
        ("fri-mon", CaseKind.WEEKDAY_RANGE, ["fri", "sat", "sun", "mon"], ["tue", "thu"]),
        ("_NXX", CaseKind.PATTERN, ["200", "999"], ["100", "20", "2000"]),
        ("_Z.", CaseKind.PATTERN, ["10", "9999"], ["0", "9", "01"]),
        ("_+49!", CaseKind.PATTERN, ["+49", "+4930123"], ["+48", "4930"]),
        ("_0[1-3*]", CaseKind.PATTERN, ["01", "03", "0*"], ["04", "0#"]),
        ("_", CaseKind.EXACT, ["_"], [""]),
    ],
)
def test_case_forms(key: str, kind: CaseKind, yes: list[str], no: list[str]) -> None:
    case = parse_case(key)
    assert case.kind is kind
    assert [v for v in yes if not case.matches(v)] == []
    assert [v for v in no if case.matches(v)] == []


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("5-1", "runs backwards"),
        ("09:60-10:00", "'09:60' is not a time of day"),
        ("24:00-02:00", "starts at 24:00"),
        ("08:00-08:00", "is empty"),
        ("_1[", "without a closing"),
        ("_1[a-z]", "not a set of digits"),
    ],
)
def test_broken_case_keys(key: str, error: str) -> None:
    with pytest.raises(CaseError, match=error):
        parse_case(key)


def test_shadowing() -> None:
    cases = [parse_case(k) for k in ("mon-fri", "sat", "08:00-12:00", "12:00-13:00", "1-5", "_9.")]
    assert shadowed_by(parse_case("tue"), cases) is not None
    assert shadowed_by(parse_case("sun"), cases) is None
    assert shadowed_by(parse_case("fri-sat"), cases) is not None  # fri by mon-fri, sat by sat
    assert shadowed_by(parse_case("09:00-13:00"), cases) is not None  # two ranges together
    assert shadowed_by(parse_case("11:00-14:00"), cases) is None
    assert shadowed_by(parse_case("3-5"), cases) is not None
    assert shadowed_by(parse_case("3-6"), cases) is None
    assert shadowed_by(parse_case("912"), cases) is not None  # the pattern matches it


@pytest.mark.parametrize(
    "uri",
    ["sip:alice@127.0.0.1", "sips:+4930@pbx.example.com:5061;transport=tls", "sip:pbx", "sip:a@[::1]:5060"],
)
def test_uris_a_transfer_may_go_to(uri: str) -> None:
    assert sip_uri(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "sip:",
        "sip:@pbx",
        "tel:+4930123",
        "sip:a b@pbx",
        "sip:bob> <sip:evil@x",
        "sip:a@evil.com@pbx",  # a second "@" from a variable in the user part
        "sip:a@evil.com?Replaces=abc",  # URI headers would go into the transferred call
        'sip:"x"@pbx',
        "sip:a,sip:b@pbx",
        "sip:a@pbx\r\nVia: x",
    ],
)
def test_rendered_uris_that_are_refused(uri: str) -> None:
    assert not sip_uri(uri)


_MINUTES = [f"{m // 60:02d}:{m % 60:02d}" for m in range(24 * 60)]
_TIME_KEYS = st.tuples(st.integers(0, 1439), st.integers(1, 1440)).map(
    lambda t: f"{t[0] // 60:02d}:{t[0] % 60:02d}-{t[1] // 60:02d}:{t[1] % 60:02d}"
)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(_TIME_KEYS, st.sampled_from(_MINUTES)), min_size=1, max_size=5))
def test_a_case_called_unreachable_never_matches_first(keys: list[str]) -> None:
    """Soundness and completeness over the whole day: a case is flagged exactly when no minute
    picks it first (first match wins)."""
    cases = []
    for key in keys:
        try:
            cases.append(parse_case(key))
        except CaseError:
            continue  # empty ranges (start == end)
    for i, case in enumerate(cases):
        earlier = cases[:i]
        first_somewhere = any(
            case.matches(v) and not any(e.matches(v) for e in earlier) for v in _MINUTES
        )
        assert (shadowed_by(case, earlier) is None) == first_somewhere, (case.key, [e.key for e in earlier])
