"""SDP offer/answer (RFC 3264) for G.711 + telephone-event, as a table of offers."""

from __future__ import annotations

import pytest
from aiosipua.sdp import parse_sdp
from hypothesis import given
from hypothesis import strategies as st
from media_helpers import offer

from tui_engine.media.errors import NoCommonCodec, SdpError
from tui_engine.media.sdp import Direction, negotiate


def _answer(offer_sdp: str, **kw: int):  # type: ignore[no-untyped-def]
    return negotiate(offer_sdp, local_ip="127.0.0.1", local_port=30000, session_id=42, **kw)


@pytest.mark.parametrize(
    ("formats", "te_pt", "codec", "pt"),
    [
        ("0 8 101", 101, "PCMU", 0),
        ("8 0 101", 101, "PCMA", 8),
        ("18 8 0 96", 96, "PCMA", 8),  # G.729 first: skipped, then the offer's preference
        ("0 8", None, "PCMU", 0),
        ("9 0", None, "PCMU", 0),
    ],
)
def test_codec_and_telephone_event_follow_the_offer(
    formats: str, te_pt: int | None, codec: str, pt: int
) -> None:
    answer = _answer(offer(5004, formats, te_pt=te_pt))
    assert (answer.codec, answer.payload_type, answer.telephone_event_pt) == (codec, pt, te_pt)
    media = parse_sdp(answer.sdp).audio
    assert media is not None
    expected_formats = [str(pt)] + ([str(te_pt)] if te_pt is not None else [])
    assert media.formats == expected_formats
    assert media.port == 30000
    assert f"a=rtpmap:{pt} {codec}/8000" in answer.sdp
    if te_pt is None:
        assert "telephone-event" not in answer.sdp
    else:
        assert f"a=rtpmap:{te_pt} telephone-event/8000\r\na=fmtp:{te_pt} 0-16\r\n" in answer.sdp
    assert "a=ptime:20\r\n" in answer.sdp
    assert answer.remote_address == ("127.0.0.1", 5004)


def test_dynamic_payload_type_mapped_to_pcmu_keeps_the_offers_number() -> None:
    sdp = offer(5004, "112 101") + "a=rtpmap:112 PCMU/8000\r\n"
    answer = _answer(sdp)
    assert (answer.codec, answer.payload_type) == ("PCMU", 112)


@pytest.mark.parametrize("formats", ["18 101", "9 3 96", "97"])
def test_no_g711_is_488(formats: str) -> None:
    with pytest.raises(NoCommonCodec) as caught:
        _answer(offer(5004, formats, te_pt=101))
    assert caught.value.status == 488


@pytest.mark.parametrize("garbage", ["", "hello", "v=0\r\ns=-\r\n"])
def test_unusable_offers_are_488_too(garbage: str) -> None:
    with pytest.raises((SdpError, NoCommonCodec)) as caught:
        _answer(garbage)
    assert caught.value.status == 488


@pytest.mark.parametrize(
    ("offered", "answered", "sends"),
    [
        (None, Direction.SENDRECV, True),
        ("sendrecv", Direction.SENDRECV, True),
        ("sendonly", Direction.RECVONLY, False),  # hold (RFC 3264 §8.4)
        ("inactive", Direction.INACTIVE, False),
        ("recvonly", Direction.SENDONLY, True),
    ],
)
def test_direction_mirrors_the_offer(offered: str | None, answered: Direction, sends: bool) -> None:
    answer = _answer(offer(5004, direction=offered))
    assert answer.direction is answered
    assert answer.sends is sends
    assert f"a={answered.value}\r\n" in answer.sdp


def test_session_level_direction_applies_to_the_stream() -> None:
    sdp = offer(5004).replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n")
    assert _answer(sdp).direction is Direction.INACTIVE


def test_legacy_hold_with_zero_address_sends_nothing() -> None:
    answer = _answer(offer(5004, address="0.0.0.0"))
    assert answer.remote_address is None
    assert answer.sends is False


def test_other_streams_are_rejected_in_place_and_timing_copied() -> None:
    sdp = (
        offer(5004).replace("t=0 0", "t=3034423619 0")
        + "m=video 5006 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    )
    sdp = sdp.replace("m=audio", "m=image 5008 udptl t38\r\nm=audio", 1)
    answer = _answer(sdp, session_version=3)
    parsed = parse_sdp(answer.sdp)
    assert [(m.media, m.port) for m in parsed.media] == [("image", 0), ("audio", 30000), ("video", 0)]
    assert parsed.timing.start_time == 3034423619
    assert parsed.origin.session_id == "42" and parsed.origin.session_version == "3"


def test_ipv6_local_address() -> None:
    sdp = offer(5004).replace("IN IP4 127.0.0.1", "IN IP6 ::1")
    answer = negotiate(sdp, local_ip="::1", local_port=30000, session_id=1)
    assert "c=IN IP6 ::1\r\n" in answer.sdp
    assert answer.remote_address == ("::1", 5004)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=200), st.characters(min_codepoint=32, max_codepoint=126)
        ),
        max_size=4,
    )
)
def test_a_mangled_offer_is_answered_or_refused_with_488_never_crashes(edits: list[tuple[int, str]]) -> None:
    text = list(offer(5004))
    for position, char in edits:
        text[position % len(text)] = char
    try:
        answer = _answer("".join(text))
    except NoCommonCodec as refused:
        assert refused.status == 488
    else:
        assert answer.codec in ("PCMU", "PCMA")
