"""The log lines' timestamp and JSON are the text structlog's ``TimeStamper(fmt="iso", utc=True)``
and ``json.dumps`` write (``tui_engine.obs.logging`` renders them for less)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from hypothesis import example, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from tui_engine.obs.logging import (
    JsonLine,
    ModuleLogger,
    _add_node,
    _dumps,
    configure_logging,
    get_logger,
    stamp_utc_iso,
    utc_iso,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 4_102_444_800 * 10**9), min_size=1, max_size=5))
@example([1_764_606_250_000_000_000, 1_764_606_250_000_001_000, 1_764_606_250_999_999_999,
          1_764_606_251_000_000_000, 1_764_606_250_500_000_000])
def test_utc_iso_is_structlogs_iso_utc_text(instants: list[int]) -> None:
    for ns in instants:  # in any order: the second kept must never leak into another
        expected = (EPOCH + timedelta(microseconds=ns // 1000)).isoformat().replace("+00:00", "Z")
        assert utc_iso(ns) == expected


def test_stamp_is_now_in_structlogs_format() -> None:
    ours = stamp_utc_iso(None, "info", {})["timestamp"]
    theirs = structlog.processors.TimeStamper(fmt="iso", utc=True)(None, "info", {})["timestamp"]
    assert ours.endswith("Z") and theirs.endswith("Z")
    assert abs(datetime.fromisoformat(ours) - datetime.fromisoformat(theirs)) < timedelta(seconds=5)


class _Odd:
    def __repr__(self) -> str:
        return "<odd>"


class _Structured:
    """A value that tells structlog how to render it."""

    def __structlog__(self) -> dict[str, int]:
        return {"structured": 1}


_JSONABLE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.builds(_Odd) | st.builds(_Structured)
    | st.sampled_from([float("nan"), float("inf"), "é\u2028\x00\"\\"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _JSONABLE, max_size=6))
def test_json_lines_are_json_dumps_text(event: dict[str, Any]) -> None:
    fallback = structlog.processors.JSONRenderer()._dumps_kw["default"]
    renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    assert renderer(None, "info", dict(event)) == json.dumps(event, default=fallback)
    sorted_text = json.dumps(event, default=fallback, sort_keys=True)
    assert _dumps(event, default=fallback, sort_keys=True) == sorted_text


def test_a_module_logger_logs_as_structlogs_proxy_before_and_after_configuration() -> None:
    """The same lines as ``structlog.get_logger`` would give, whether structlog has cached the
    logger yet or not; ``capture_logs`` (which edits the processors in place) still sees them."""
    saved = structlog.get_config()
    structlog.reset_defaults()  # not configured: nothing cached, every call goes through the proxy
    try:
        _module_logger_cases()
    finally:
        structlog.configure(**saved)


def _module_logger_cases() -> None:
    ours, theirs = get_logger("t.ours"), structlog.get_logger("t.theirs")
    with capture_logs() as logs:
        ours.info("a", n=1)
        theirs.info("a", n=1)
    assert logs[0] == logs[1] == {"event": "a", "n": 1, "log_level": "info"}
    assert "info" not in vars(ours)
    configure_logging("warning", "json")
    ours, theirs = ModuleLogger("t.ours2"), structlog.get_logger("t.theirs2")
    with capture_logs() as logs:
        for log in (ours, theirs):
            log.info("filtered", n=2)
            log.warning("kept", n=3)
            log.bind(x=1).error("bound", n=4)
    assert logs[:2] == logs[2:] and [e["event"] for e in logs[:2]] == ["kept", "bound"]
    assert "warning" in vars(ours)  # looked up once, on the cached logger


def _chain(node: str | None, ns: int) -> list[Any]:
    """What configure_logging ran for JSON before JsonLine: the processors one by one."""
    def stamp(_logger: object, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        event["timestamp"] = utc_iso(ns)
        return event

    return [
        *([_add_node(node)] if node else []), structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level, stamp, structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=_dumps),
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["event", "a", "level", "node", "call_id", "exc_info", "é"]), _JSONABLE,
                    max_size=5),
    st.dictionaries(st.sampled_from(["call_id", "session_id", "a", "node"]), _JSONABLE, max_size=3),
    st.sampled_from(["info", "warn", "warning", "exception", "error", "debug", "critical"]),
    st.none() | st.sampled_from(["n1", ""]),
    st.integers(min_value=0, max_value=2**62),
    st.booleans(),
)
def test_a_json_line_is_the_text_of_the_processor_chain(
    event: dict[str, Any], bound: dict[str, Any], method: str, node: str | None, ns: int, raised: bool
) -> None:
    def render(processors: list[Any], kept: dict[str, Any]) -> str:
        for proc in processors:
            kept = proc(None, method, kept)
        assert isinstance(kept, str)
        return kept

    def both() -> tuple[str, str]:
        return render([JsonLine(node, now_ns=lambda: ns)], dict(event)), render(_chain(node, ns), dict(event))

    tokens = structlog.contextvars.bind_contextvars(**bound)
    try:
        if raised:  # rendered while the exception is being handled: its traceback is in the line
            try:
                raise ValueError("boom")
            except ValueError:
                event = {**event, "exc_info": True}
                ours, theirs = both()
            assert "boom" in ours
        else:
            ours, theirs = both()
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
    assert ours == theirs


class _NoRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class _BadStructlog:
    def __structlog__(self) -> object:
        raise ValueError("no structure")


def test_a_value_json_cannot_take_never_fails_the_caller_nor_loses_the_line() -> None:
    """Through the chain (and JsonLine before) these raised into the caller, so the line was
    lost, and a line logged in an ``except`` lost the error it was to report as well."""
    cycle: list[object] = []
    cycle.append(cycle)
    hostile = {"keys": {(1, 2): 3}, "cycle": cycle, "no_repr": _NoRepr(), "structlog": _BadStructlog(),
               "long_int": 10**5000, "surrogate": "\ud800", "bytes": b"\xff\x00"}
    for name, value in hostile.items():
        line = JsonLine("n1", now_ns=lambda: 0)(None, "warn", {"event": "odd", "a": 1, name: value})
        parsed = json.loads(line)
        assert parsed["event"] == "odd" and parsed["a"] == 1 and parsed["level"] == "warning", name
        assert parsed["node"] == "n1" and parsed["timestamp"].startswith("1970-01-01T00:00:00"), name
        assert name in parsed, name
        line.encode("ascii")  # printable on any stdout, a lone surrogate too
    no_repr = JsonLine()(None, "info", {"event": "e", "x": _NoRepr()})
    assert json.loads(no_repr)["x"] == "<_NoRepr: repr failed>"
    assert "Circular" in json.loads(JsonLine()(None, "info", {"event": "e", "c": cycle}))["log_error"]
