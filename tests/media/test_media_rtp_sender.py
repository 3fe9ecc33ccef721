"""The sans-I/O RTP header state and the port allocator (time passed in as values)."""

from __future__ import annotations

import pytest
from aiortp.packet import RtpPacket

from tui_engine.media.errors import PortsExhausted
from tui_engine.media.rtp import PortAllocator, RtpSender


def _send(sender: RtpSender, now: float, payload: bytes = b"\xff" * 160) -> RtpPacket:
    return RtpPacket.parse(sender.packet(payload, now))


def test_header_fields_advance_per_frame() -> None:
    sender = RtpSender(0)
    first_seq, first_ts = sender.sequence, sender.timestamp
    packets = [_send(sender, 0.02 * i) for i in range(5)]
    assert [p.sequence_number for p in packets] == [(first_seq + i) & 0xFFFF for i in range(5)]
    assert [p.timestamp for p in packets] == [(first_ts + 160 * i) & 0xFFFFFFFF for i in range(5)]
    assert [p.marker for p in packets] == [1, 0, 0, 0, 0]
    assert {p.ssrc for p in packets} == {sender.ssrc}
    assert {p.payload_type for p in packets} == {0}


@pytest.mark.parametrize("size", [0, 1, 80, 159, 160, 161, 320])
def test_a_payload_of_any_length_goes_out_as_it_is(size: int) -> None:
    # the 160-byte frame takes a packing of its own: other lengths must be neither padded nor cut
    payload = bytes(range(256))[:size] if size <= 256 else b"\x7f" * size
    sender, twin = RtpSender(0), RtpSender(0)
    twin.ssrc, twin.sequence, twin.timestamp = sender.ssrc, sender.sequence, sender.timestamp
    data = sender.packet(payload, 0.0)
    assert len(data) == 12 + size and RtpPacket.parse(data).payload == payload
    assert data[:12] == twin.packet(b"", 0.0)[:12]  # the same header whatever the payload


def test_ssrc_sequence_and_timestamp_start_random() -> None:
    senders = [RtpSender(8) for _ in range(8)]
    assert len({s.ssrc for s in senders}) > 1
    assert len({s.sequence for s in senders}) > 1
    assert len({s.timestamp for s in senders}) > 1


def test_sequence_and_timestamp_wrap() -> None:
    sender = RtpSender(0)
    sender.sequence, sender.timestamp = 0xFFFF, 0xFFFFFF60
    a, b = _send(sender, 0.0), _send(sender, 0.02)
    assert (a.sequence_number, b.sequence_number) == (0xFFFF, 0)
    assert (a.timestamp, b.timestamp) == (0xFFFFFF60, 0)


def test_silence_starts_a_new_talkspurt_and_time_moves_the_timestamp() -> None:
    sender = RtpSender(0)
    first = _send(sender, 10.0)
    sender.silence()
    later = _send(sender, 11.0)  # one second later: 50 frames of 160 samples
    assert later.marker == 1
    assert (later.timestamp - first.timestamp) & 0xFFFFFFFF == 8000
    assert later.sequence_number == (first.sequence_number + 1) & 0xFFFF  # sequence counts packets only


def test_skipped_frames_move_the_timestamp_not_the_sequence() -> None:
    sender = RtpSender(0)
    first = _send(sender, 0.0)
    sender.skip(0.02)
    sender.skip(0.04)
    third = _send(sender, 0.06)
    assert (third.timestamp - first.timestamp) & 0xFFFFFFFF == 480
    assert third.sequence_number == (first.sequence_number + 1) & 0xFFFF
    assert third.marker == 0


def test_allocator_hands_out_even_ports_and_reuses_released_ones_last() -> None:
    allocator = PortAllocator(30001, 30008)
    ports = [allocator.acquire() for _ in range(4)]
    assert ports == [30002, 30004, 30006, 30008]
    with pytest.raises(PortsExhausted, match="30001-30008"):
        allocator.acquire()
    allocator.release(30004)
    allocator.release(30004)  # twice: ignored
    assert allocator.in_use == 3
    assert allocator.acquire() == 30004


def test_allocator_rejects_an_empty_range() -> None:
    with pytest.raises(ValueError):
        PortAllocator(30010, 30000)
