"""Media that cannot be sent is refused at answer time (488), not answered and left silent (issue 9).

Before the fix the engine answered, the prompt's ``sendto`` failed (``media.clock_stream_failed``),
no prompt ever ended, so no no-input timer started and the call never ended.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from media_helpers import make_wav, offer

from tui_engine.media.engine import MediaEngine
from tui_engine.media.errors import NoCommonCodec, UnusableMediaAddress
from tui_engine.media.sdp import negotiate, unusable_destination
from tui_engine.testing import free_port_block

UNUSABLE_FOR_IPV4 = [
    ("media.example.com", "host name"),  # legal SDP (RFC 4566 §5.7), not resolved on the hot path
    ("::1", "IPv6"),  # an IPv6 address to an IPv4 RTP socket
    ("2001:db8::7", "IPv6"),
    ("224.2.1.1", "multicast"),
    ("239.255.0.1/127", "multicast"),  # with a TTL suffix
    ("255.255.255.255", "unicast"),  # limited broadcast: sendto fails with EACCES
    ("240.0.0.1", "unicast"),  # reserved (class E)
    ("0.0.0.7", "unicast"),  # "this network": a source, never a destination
]


@pytest.mark.parametrize(("address", "why"), UNUSABLE_FOR_IPV4)
def test_an_unusable_connection_address_is_refused_with_488(address: str, why: str) -> None:
    with pytest.raises(UnusableMediaAddress) as caught:
        negotiate(offer(5004, address=address), local_ip="127.0.0.1", local_port=30000, session_id=1)
    assert caught.value.status == 488
    assert isinstance(caught.value, NoCommonCodec)  # one ``except NoCommonCodec`` answers 488
    assert why in str(caught.value) and address.split("/")[0] in str(caught.value)


@pytest.mark.parametrize("port", [65536, 99999])
def test_a_media_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(UnusableMediaAddress, match="port out of range"):
        negotiate(offer(port), local_ip="127.0.0.1", local_port=30000, session_id=1)


def test_zero_address_is_hold_not_an_error() -> None:
    """RFC 3264 §8.4: ``c=IN IP4 0.0.0.0`` is the legacy way to put a stream on hold."""
    answer = negotiate(offer(5004, address="0.0.0.0"), local_ip="127.0.0.1", local_port=30000, session_id=1)
    assert answer.remote_address is None and not answer.sends


@pytest.mark.parametrize(
    ("address", "ipv6", "usable"),
    [
        ("127.0.0.1", False, True), ("192.0.2.10", False, True), ("10.255.255.255", False, True),
        ("::1", True, True), ("fe80::1", True, True), ("127.0.0.1", True, False), ("ff02::1", True, False),
    ],
)
def test_what_a_socket_can_send_to(address: str, ipv6: bool, usable: bool) -> None:
    assert (unusable_destination(address, 5004, ipv6=ipv6) is None) is usable


async def test_an_unusable_offer_takes_no_rtp_port() -> None:
    first, last = free_port_block(2)
    engine = MediaEngine(host="127.0.0.1", port_range=(first, last))
    try:
        with pytest.raises(UnusableMediaAddress):
            await engine.open_session(offer(5004, address="media.example.com"), call_id="fqdn")
        assert engine.ports.in_use == 0 and engine.active_sessions == 0
    finally:
        await engine.close()


async def test_a_reoffer_to_an_unusable_address_changes_nothing() -> None:
    first, last = free_port_block(2)
    engine = MediaEngine(host="127.0.0.1", port_range=(first, last))
    try:
        session = await engine.open_session(offer(5004), call_id="re")
        with pytest.raises(UnusableMediaAddress):
            session.reoffer(offer(5006, address="::1"))
        assert session.answer.remote_address == ("127.0.0.1", 5004)
    finally:
        await engine.close()


async def test_sending_that_fails_later_reports_media_failed_and_frees_the_clock(tmp_path: Path) -> None:
    """An established call whose RTP can no longer be sent (here the kernel's EACCES for a
    broadcast destination) must say so, so the call ends ``media-failed`` instead of waiting
    for a prompt that never ends (before the fix: ``media.clock_stream_failed``, no ``on_done``)."""
    first, last = free_port_block(2)
    engine = MediaEngine(host="127.0.0.1", port_range=(first, last))
    try:
        session = await engine.open_session(offer(5004), call_id="later")
        failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        session.on_failed = failed.set_result
        session._endpoint.remote = ("255.255.255.255", 5004)  # what the route/latching now gives
        prompt = engine.prompts.load(make_wav(tmp_path / "p.wav", rate=8000, encoding="u-law", seconds=1.0))
        finished: list[bool] = []
        session.play([prompt], finished.append)
        why = await asyncio.wait_for(failed, 5.0)
        assert "Permission denied" in why or "EACCES" in why
        assert session.failed == why and finished == []  # no prompt "ended": nobody heard it
        await asyncio.sleep(0.1)
        assert not session.playing and engine.clock.streams == 0
    finally:
        await engine.close()
