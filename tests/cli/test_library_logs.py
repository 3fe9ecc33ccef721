"""Libraries' log lines (aiosipua, aiortp, asyncio use the standard library) come out through
structlog: JSON like ours, with the call_id bound where they logged; never plain text."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from structlog.contextvars import bound_contextvars

from tui_engine.obs.logging import configure_logging
from tui_engine.sip.message import parse_datagram
from tui_engine.testing.sip_fake import sip_request


@pytest.fixture
def json_logs() -> Iterator[None]:
    """Undoes what each test's ``configure_logging`` did (called in the test, once capsys captures)."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if type(h).__name__ == "_LibraryHandler"]:
        root.removeHandler(handler)
    structlog.reset_defaults()


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]  # fails on plain text


def test_a_library_warning_is_a_json_event_with_the_call_id(
    json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "json")
    with bound_contextvars(call_id="call-7"):
        logging.getLogger("aiortp.rtp").warning("odd packet from %s", "127.0.0.1")
    (event,) = lines(capsys.readouterr().out)
    assert (event["event"], event["level"], event["logger"], event["call_id"]) == (
        "odd packet from 127.0.0.1", "warning", "aiortp.rtp", "call-7"
    )
    assert "timestamp" in event


def test_aiosipua_content_length_warnings_are_not_printed(
    json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "json")
    short = sip_request("OPTIONS", body="v=0").replace(b"Content-Length: 3", b"Content-Length: 50")
    parse_datagram(short)  # aiosipua warns "Body shorter than Content-Length"; we answer 400 ourselves
    captured = capsys.readouterr()
    assert "Content-Length" not in captured.out + captured.err
