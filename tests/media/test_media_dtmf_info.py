"""SIP INFO DTMF bodies (application/dtmf-relay, application/dtmf)."""

from __future__ import annotations

import pytest

from tui_engine.media.dtmf import parse_info_body
from tui_engine.media.errors import DtmfError


@pytest.mark.parametrize(
    ("body", "digit"),
    [
        (b"Signal=5\r\nDuration=160\r\n", "5"),
        (b"Signal=*\r\nDuration=160", "*"),
        (b"Signal=#\nDuration=250\n", "#"),
        (b"signal = a\r\n", "A"),
        (b"Signal=D", "D"),
        (b"Signal=10\r\nDuration=160", "*"),
        (b"Signal=11\r\nDuration=160", "#"),
        (b"Duration=160\r\nSignal=0\r\n", "0"),
    ],
)
def test_dtmf_relay(body: bytes, digit: str) -> None:
    assert parse_info_body("application/dtmf-relay", body) == digit


@pytest.mark.parametrize(("body", "digit"), [(b"5", "5"), (b"#\r\n", "#"), (b"11", "#"), (b"b", "B")])
def test_application_dtmf(body: bytes, digit: str) -> None:
    assert parse_info_body("Application/DTMF; charset=us-ascii", body) == digit


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/dtmf-relay", b"Duration=160", 400),
        ("application/dtmf-relay", b"Signal=55", 400),
        ("application/dtmf-relay", b"Signal=E", 400),
        ("application/dtmf-relay", b"\xff\xfe", 400),
        ("application/dtmf", b"", 400),
        ("application/dtmf", b"hello", 400),
        ("text/plain", b"5", 415),
    ],
)
def test_garbage_is_a_clear_error(content_type: str, body: bytes, status: int) -> None:
    with pytest.raises(DtmfError) as caught:
        parse_info_body(content_type, body)
    assert caught.value.status == status
