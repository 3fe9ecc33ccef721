"""Receiving RTP: the cheap check agrees with aiortp's parser, and only packets someone reads are parsed."""

from __future__ import annotations

import struct

from aiortp.packet import RtpPacket, is_rtcp
from hypothesis import given
from hypothesis import strategies as st
from media_helpers import offer

from tui_engine.media.engine import MediaEngine
from tui_engine.media.rtp import valid_rtp


def _parses(data: bytes) -> bool:
    if len(data) < 12 or is_rtcp(data):
        return False
    try:
        RtpPacket.parse(data)
    except ValueError:
        return False
    return True


def _header(first: int, pt: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", first, pt, 1, 160, 0x1234) + payload


_CRAFTED = [
    b"", b"\x80", _header(0x80, 0, b""), _header(0x80, 0, b"\xff" * 160), _header(0x40, 0, b"x"),
    _header(0x81, 0, b""), _header(0x81, 0, b"abcd"), _header(0x8F, 0, b"a" * 59),
    _header(0x8F, 0, b"a" * 60), _header(0x90, 0, b"\xbe\xde\x00\x01abcd"),
    _header(0x90, 0, b"\xbe\xde\x00\x02abcd"), _header(0x90, 0, b"\xbe"), _header(0xA0, 0, b"ab\x02"),
    _header(0xA0, 0, b"ab\x00"), _header(0xA0, 0, b"ab\x04"), _header(0xA0, 0, b""),
    _header(0xB1, 101, b"abcd\xbe\xde\x00\x00xyz\x03"), _header(0x80, 200, b"\x00" * 8),
    _header(0x80, 0xD0, b""), _header(0x80, 0xD1, b""), _header(0x80, 0xBF, b""), _header(0xC0, 0, b"x"),
]


def test_the_cheap_check_agrees_with_the_parser_on_crafted_headers() -> None:
    for data in _CRAFTED:
        assert valid_rtp(data) == _parses(data), data


@given(st.binary(min_size=0, max_size=40))
def test_the_cheap_check_agrees_with_the_parser_on_any_bytes(data: bytes) -> None:
    assert valid_rtp(data) == _parses(data)


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=24))
def test_the_cheap_check_agrees_with_the_parser_on_any_header(first: int, second: int, rest: bytes) -> None:
    data = _header(first, second, rest)
    assert valid_rtp(data) == _parses(data)


async def test_voice_is_counted_and_latched_but_only_events_and_inband_voice_are_handed_over(
    engine: MediaEngine,
) -> None:
    session = await engine.open_session(offer(40000), call_id="rx")
    endpoint = session._endpoint
    seen: list[int] = []
    endpoint.on_packet = lambda packet: seen.append(packet.payload_type)
    voice, event = _header(0x80, 0, b"\xff" * 160), _header(0x80, 101, b"\x01\x80\x00\xa0")
    endpoint.datagram_received(voice, ("127.0.0.9", 4000))
    assert endpoint.received == 1 and endpoint.remote == ("127.0.0.9", 4000)  # latched on voice
    assert endpoint.last_received_at is not None and seen == []
    endpoint.datagram_received(event, ("127.0.0.9", 4000))
    endpoint.datagram_received(b"\x00" * 20, ("127.0.0.9", 4000))  # not RTP: not even counted
    assert endpoint.received == 2 and seen == [101]
    session.enable_inband(True)  # the Goertzel detector needs the voice
    endpoint.datagram_received(voice, ("127.0.0.9", 4000))
    assert seen == [101, 0]
    session.enable_inband(False)
    endpoint.datagram_received(voice, ("127.0.0.9", 4000))
    assert seen == [101, 0] and endpoint.received == 4
    session.close()


async def test_a_recording_is_handed_the_voice_while_it_runs(engine: MediaEngine) -> None:
    session = await engine.open_session(offer(40000), call_id="rec")
    endpoint = session._endpoint
    loud = bytes([0x10]) * 160  # µ-law near full scale: speech energy
    heard: list[float] = []
    endpoint.datagram_received(_header(0x80, 0, loud), ("127.0.0.9", 4000))  # before: not kept
    session.start_recording(heard.append)
    endpoint.datagram_received(_header(0x80, 0, loud), ("127.0.0.9", 4000))
    recorder = session.stop_recording()
    endpoint.datagram_received(_header(0x80, 0, loud), ("127.0.0.9", 4000))  # after: not kept
    assert recorder is not None and recorder.seconds == 0.02 and len(heard) == 1
    assert endpoint.parse_types == frozenset({101})  # the voice is only counted again
    session.close()
