"""One digit per key press whatever the phone sends: INFO + RFC 4733, tone + RFC 4733 (DtmfArbiter),
first on a fake clock, then through a real MediaSession fed RTP from SIPp's pcaps and INFO bodies."""

from __future__ import annotations

import pytest
from media_helpers import PCAP_DIR, Capture, offer, read_pcap_rtp, wait_until

from tui_engine.media.dtmf import SAME_PRESS_WINDOW, DtmfArbiter, info_status
from tui_engine.media.engine import MediaEngine

Report = tuple[float, str, str]  #: (seconds, digit, method)


def counted(arbiter: DtmfArbiter, reports: list[Report]) -> list[tuple[str, str]]:
    return [(digit, method) for at, digit, method in reports if arbiter.admit(digit, method, at)]


def both(keys: str, first: str, second: str, lag: float = 0.04) -> list[Report]:
    """Each key reported by ``first`` then, ``lag`` later, by ``second``; a press every second."""
    return [r for i, k in enumerate(keys) for r in ((float(i), k, first), (i + lag, k, second))]


def test_info_plus_rfc4733_with_rtp_first_counts_each_press_once() -> None:
    arbiter = DtmfArbiter()
    assert counted(arbiter, both("1234", "rfc4733", "info")) == [(k, "rfc4733") for k in "1234"]
    assert arbiter.method == "rfc4733"


def test_info_first_then_rfc4733_takes_over_without_counting_the_first_press_twice() -> None:
    arbiter = DtmfArbiter()
    got = counted(arbiter, both("1234", "info", "rfc4733"))
    assert got == [("1", "info"), ("2", "rfc4733"), ("3", "rfc4733"), ("4", "rfc4733")]


def test_tone_plus_rfc4733_in_either_order_counts_each_press_once() -> None:
    for first, second in (("inband", "rfc4733"), ("rfc4733", "inband")):
        assert len(counted(DtmfArbiter(), both("5555", first, second))) == 4


def test_a_phone_that_offers_telephone_event_but_sends_only_info_is_heard() -> None:
    reports = [(float(i), k, "info") for i, k in enumerate("2468")]
    assert counted(DtmfArbiter(), reports) == [(k, "info") for k in "2468"]


def test_the_take_over_press_counts_when_it_is_another_key_or_later_than_the_window() -> None:
    arbiter = DtmfArbiter()
    reports: list[Report] = [(0.0, "1", "info"), (0.1, "2", "rfc4733")]  # a different key
    assert len(counted(arbiter, reports)) == 2
    arbiter = DtmfArbiter()
    late = [(0.0, "1", "info"), (SAME_PRESS_WINDOW + 0.2, "1", "rfc4733")]  # the same key again
    assert len(counted(arbiter, late)) == 2


def test_only_the_configured_methods_count_in_the_configured_order() -> None:
    info_only = DtmfArbiter(["info"])
    assert counted(info_only, both("12", "rfc4733", "info")) == [("1", "info"), ("2", "info")]
    info_first = DtmfArbiter(["info", "rfc4733"])
    assert counted(info_first, both("12", "rfc4733", "info")) == [("1", "rfc4733"), ("2", "info")]


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160", 200),
        ("", b"", 200),  # a keep-alive INFO: answered, counts nothing
        ("text/plain", b"hello", 415),
        ("application/dtmf-relay", b"garbage", 400),
        ("application/dtmf-relay", b"", 400),
        ("", b"Signal=5", 415),
    ],
)
def test_info_status_follows_the_body(content_type: str, body: bytes, status: int) -> None:
    assert info_status(content_type, body) == status


async def test_a_session_fed_info_and_rfc4733_for_four_presses_reports_four_digits(
    engine: MediaEngine, phone: Capture
) -> None:
    """Before: 8 digits (every key twice). SIPp's pcaps give the RFC 4733 side, INFO the other."""
    session = await engine.open_session(offer(phone.port), call_id="mixed")
    digits: list[tuple[str, str]] = []
    session.on_digit = lambda d, m: digits.append((d, m))
    sent = 0
    for key in "1234":
        session.info_digit("application/dtmf-relay", f"Signal={key}\r\nDuration=160\r\n".encode())
        packets = read_pcap_rtp(PCAP_DIR / f"dtmf_2833_{key}.pcap")
        for p in packets:
            p.ssrc = 99  # one phone: one SSRC for the whole call
            phone.send(p.serialize(), ("127.0.0.1", session.port))
        sent += len(packets)
        await wait_until(lambda: session.packets_received >= sent)  # noqa: B023
    assert [d for d, _ in digits] == list("1234")
    assert digits[0] == ("1", "info") and {m for _, m in digits[1:]} == {"rfc4733"}
