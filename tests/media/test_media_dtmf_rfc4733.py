"""RFC 4733 digits, fed from the RTP packets of SIPp's own pcaps (Debian sip-tester)."""

from __future__ import annotations

import struct

import pytest
from aiortp.packet import RtpPacket
from media_helpers import PCAP_DIR, read_pcap_rtp

from tui_engine.media.dtmf import Rfc4733Detector

PCAPS = {
    **{str(d): f"dtmf_2833_{d}.pcap" for d in range(10)},
    "*": "dtmf_2833_star.pcap",
    "#": "dtmf_2833_pound.pcap",
}


def _feed(
    detector: Rfc4733Detector, packets: list[RtpPacket], *, ts_shift: int = 0, ssrc: int = 7
) -> list[str]:
    digits = []
    for p in packets:
        digit = detector.feed(ssrc=ssrc, timestamp=(p.timestamp + ts_shift) & 0xFFFFFFFF, payload=p.payload)
        if digit is not None:
            digits.append(digit)
    return digits


def _event(code: int, *, end: bool, duration: int) -> bytes:
    return struct.pack("!BBH", code, (0x80 if end else 0) | 10, duration)


@pytest.mark.parametrize(("digit", "name"), sorted(PCAPS.items()))
def test_each_sipp_pcap_is_exactly_one_digit(digit: str, name: str) -> None:
    packets = read_pcap_rtp(PCAP_DIR / name)
    assert [p.payload_type for p in packets] == [101] * 10
    detector = Rfc4733Detector()
    assert _feed(detector, packets) == [digit]


@pytest.mark.parametrize(("digit", "name"), sorted(PCAPS.items()))
def test_digit_survives_losing_all_three_end_packets(digit: str, name: str) -> None:
    packets = read_pcap_rtp(PCAP_DIR / name)
    assert all(p.payload[1] & 0x80 for p in packets[-3:])  # the pcap's last three are the end packets
    assert _feed(Rfc4733Detector(), packets[:-3]) == [digit]


def test_digit_is_reported_on_the_first_packet_seen() -> None:
    packets = read_pcap_rtp(PCAP_DIR / "dtmf_2833_5.pcap")
    detector = Rfc4733Detector()
    assert detector.feed(ssrc=1, timestamp=packets[0].timestamp, payload=packets[0].payload) == "5"
    assert _feed(detector, packets[1:], ssrc=1) == []


def test_only_end_packets_still_give_the_digit_once() -> None:
    packets = read_pcap_rtp(PCAP_DIR / "dtmf_2833_9.pcap")[-3:]
    assert _feed(Rfc4733Detector(), packets) == ["9"]


def test_replay_with_a_new_timestamp_is_a_second_digit() -> None:
    packets = read_pcap_rtp(PCAP_DIR / "dtmf_2833_1.pcap")
    detector = Rfc4733Detector()
    assert _feed(detector, packets) == ["1"]
    assert _feed(detector, packets, ts_shift=1600) == ["1"]


def test_replay_with_the_same_timestamp_is_one_digit() -> None:
    """SIPp replays a pcap unchanged: same timestamp → the protocol cannot tell it from a repeat."""
    packets = read_pcap_rtp(PCAP_DIR / "dtmf_2833_1.pcap")
    detector = Rfc4733Detector()
    assert _feed(detector, packets + packets) == ["1"]


def test_a_sequence_of_different_pcaps_gives_each_digit() -> None:
    detector = Rfc4733Detector()
    digits: list[str] = []
    for name in ("dtmf_2833_1.pcap", "dtmf_2833_2.pcap", "dtmf_2833_pound.pcap"):
        digits += _feed(detector, read_pcap_rtp(PCAP_DIR / name))
    assert digits == ["1", "2", "#"]


def test_timestamp_wrap_keeps_new_events_new_and_old_ones_old() -> None:
    detector = Rfc4733Detector()
    before_wrap = 0xFFFFFF00
    assert detector.feed(ssrc=1, timestamp=before_wrap, payload=_event(3, end=False, duration=160)) == "3"
    after_wrap = 0x00000200
    assert detector.feed(ssrc=1, timestamp=after_wrap, payload=_event(3, end=False, duration=160)) == "3"
    # A straggler of the pre-wrap event after it was forgotten is older, not a new press.
    small = Rfc4733Detector(history=1)
    small.feed(ssrc=1, timestamp=before_wrap, payload=_event(4, end=False, duration=160))
    assert small.feed(ssrc=1, timestamp=after_wrap, payload=_event(5, end=False, duration=160)) == "5"
    assert small.feed(ssrc=1, timestamp=before_wrap, payload=_event(4, end=True, duration=800)) is None


def test_long_event_split_at_max_duration_is_one_press() -> None:
    """RFC 4733 §2.5.1.5: past 0xFFFF samples the event continues with a new timestamp."""
    detector = Rfc4733Detector()
    assert detector.feed(ssrc=1, timestamp=1000, payload=_event(0, end=False, duration=65000)) == "0"
    assert detector.feed(ssrc=1, timestamp=1000, payload=_event(0, end=False, duration=0xFFFF)) is None
    assert detector.feed(ssrc=1, timestamp=1000 + 0xFFFF, payload=_event(0, end=False, duration=160)) is None
    assert detector.feed(ssrc=1, timestamp=1000 + 0xFFFF, payload=_event(0, end=True, duration=800)) is None
    # An ordinary new event afterwards is a new press.
    assert detector.feed(ssrc=1, timestamp=200000, payload=_event(0, end=False, duration=160)) == "0"


def test_new_ssrc_starts_over() -> None:
    packets = read_pcap_rtp(PCAP_DIR / "dtmf_2833_7.pcap")
    detector = Rfc4733Detector()
    assert _feed(detector, packets, ssrc=1) == ["7"]
    assert _feed(detector, packets, ssrc=2) == ["7"]


def test_non_digit_events_and_short_payloads_are_ignored() -> None:
    detector = Rfc4733Detector()
    assert detector.feed(ssrc=1, timestamp=10, payload=_event(16, end=False, duration=160)) is None  # flash
    assert detector.feed(ssrc=1, timestamp=20, payload=b"\x01") is None
