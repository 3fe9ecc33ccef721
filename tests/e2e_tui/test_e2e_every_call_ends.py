"""Issue 9, SIP side, against a real ``tui-engine serve`` over loopback: ghost slots, SIGTERM,
media that cannot be sent, session timers. Raw UDP where SIPp cannot say it (a Via port of
70000, an SDP ``c=`` host name), SIPp for the calls that must work.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from tui_engine.testing.engine import EngineFactory
from tui_engine.testing.raw_sip import ack_for, final_response, raw_invite
from tui_engine.testing.sipp import SippRun, run_sipp

from .conftest import FAST_OPTIONS, StartEngine
from .helpers import assert_sipp_ok, call_ids, metric_samples, place_call, sipp_run, wait_no_calls

pytestmark = pytest.mark.e2e


async def options_ping(sock: socket.socket, port: int) -> None:
    """An OPTIONS from ``sock``; returns once its 200 arrived (the engine handled what came before)."""
    local = sock.getsockname()[1]
    sock.sendto((
        f"OPTIONS sip:100@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-ping;rport\r\nMax-Forwards: 70\r\n"
        f"From: <sip:ping@127.0.0.1>;tag=ping\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: ping-{local}\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    async with asyncio.timeout(10):
        while b"OPTIONS" not in (data := await loop.sock_recv(sock, 4096)).split(b"\r\n\r\n")[0]:
            pass
    assert data.startswith(b"SIP/2.0 200")


async def test_invites_whose_responses_cannot_be_sent_hold_no_slot(tui: StartEngine, tmp_path: Path) -> None:
    """Five INVITEs with a Via port of 70000 and ``max-calls = 6``; then six real calls all work.

    Before the fix each ghost stayed in the call table (and asyncio closed the SIP socket on the
    first ``OverflowError``), so real calls got 503 or no answer at all.
    """
    engine = await tui({"engine.max-calls": 6})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for n in range(5):
            ghost = raw_invite(engine.sip_port, f"ghost-{n}", via_port=70000)
            sock.sendto(ghost, ("127.0.0.1", engine.sip_port))
        await options_ping(sock, engine.sip_port)  # answered after the five INVITEs were handled
    assert (await metric_samples(engine))[("tui_active_calls", ())] == 0
    result = await place_call(engine, tmp_path, "uac_info_digits", keys={"first": "3", "second": "9"},
                              calls=6, rate=6)
    assert_sipp_ok(result, calls=6)
    assert len(call_ids(engine)) == 6
    assert not engine.find_events("sip.rejected", status=503)
    await wait_no_calls(engine)


async def test_sigterm_byes_every_established_call_with_reason_shutdown(
    engine_factory: EngineFactory, short_dialplans: Path, tmp_path: Path
) -> None:
    engine = await engine_factory({**FAST_OPTIONS, "phone.tui.dialplans": str(short_dialplans),
                                   "phone.tui.no-input-timeout": "30s"})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # and a ghost, before the fix
        sock.bind(("127.0.0.1", 0))
        sock.sendto(raw_invite(engine.sip_port, "ghost", via_port=70000), ("127.0.0.1", engine.sip_port))
    run: SippRun = sipp_run(engine, tmp_path, "uac_basic_bye_from_uas", calls=2, rate=2)
    caller = asyncio.create_task(run_sipp(run))
    first = await engine.wait_event("menu.entered")
    await engine.wait_event("menu.entered", since=engine.events.index(first) + 1)
    assert await engine.stop() == 0
    result = await caller
    assert_sipp_ok(result, calls=2)  # each SIPp call ends on the engine's BYE, answered 200
    ended = engine.find_events("call.ended")
    assert sorted(e["reason"] for e in ended) == ["shutdown", "shutdown"]
    assert not engine.find_events("engine.stop_failed") and not engine.find_events("engine.stop_timeout")


async def test_offers_whose_media_cannot_be_sent_get_488_and_leave_nothing(tui: StartEngine) -> None:
    engine = await tui()
    variants = {"fqdn": "IN IP4 media.example.com", "ipv6": "IN IP6 ::1", "mcast": "IN IP4 239.1.2.3/16",
                "bcast": "IN IP4 255.255.255.255"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        for call_id, c_line in variants.items():
            invite = raw_invite(engine.sip_port, call_id, via_port=port, c_line=c_line)
            sock.sendto(invite, ("127.0.0.1", engine.sip_port))
            response = await final_response(sock)
            assert response.startswith(b"SIP/2.0 488"), response[:200]
            sock.sendto(ack_for(invite, response), ("127.0.0.1", engine.sip_port))
            ended = await engine.wait_event("call.ended", call_id=call_id)
            assert ended["reason"] == "error"
            assert engine.find_events("call.rejected", call_id=call_id, status=488)
    assert not engine.find_events("media.clock_stream_failed")
    assert not engine.find_events("menu.entered")
    await wait_no_calls(engine)  # and the fixture checks that no RTP port is left bound


def header(message: bytes, name: str) -> str | None:
    for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower().encode():
            return value.strip().decode()
    return None


async def test_session_timer_requests_get_422_or_a_200_that_names_the_lease(tui: StartEngine) -> None:
    """``Require: timer`` got 420 before issue 9 and ``Session-Expires`` was ignored."""
    engine = await tui()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        target = ("127.0.0.1", engine.sip_port)
        small = raw_invite(engine.sip_port, "st-small", via_port=port,
                           headers="Supported: timer\r\nSession-Expires: 60\r\n")
        sock.sendto(small, target)
        refused = await final_response(sock)
        assert refused.startswith(b"SIP/2.0 422") and header(refused, "Min-SE") == "90"
        sock.sendto(ack_for(small, refused), target)
        timer = "Require: timer\r\nSupported: timer\r\nSession-Expires: 90;refresher=uac\r\n"
        asked = raw_invite(engine.sip_port, "st-ok", via_port=port, headers=timer)
        sock.sendto(asked, target)
        ok = await final_response(sock)
        assert ok.startswith(b"SIP/2.0 200"), ok[:200]
        assert header(ok, "Session-Expires") == "90;refresher=uac" and header(ok, "Require") == "timer"
        for method, cseq in (("ACK", 1), ("BYE", 2)):
            request = ack_for(asked, ok).replace(b"CSeq: 1 ACK", f"CSeq: {cseq} {method}".encode())
            request = request.replace(b"ACK sip:", f"{method} sip:".encode(), 1)
            request = request.replace(b"branch=z9hG4bK-st-ok", f"branch=z9hG4bK-st-ok-{method}".encode())
            sock.sendto(request, target)
        assert (await final_response(sock)).startswith(b"SIP/2.0 200")  # to the BYE
    ended = await engine.wait_event("call.ended", call_id="st-ok")
    assert ended["reason"] == "caller-hangup"
    assert engine.find_events("sip.rejected", status=422)


async def test_sipp_negotiates_a_session_timer_and_refreshes_it_with_update(
    tui: StartEngine, tmp_path: Path
) -> None:
    engine = await tui()
    result = await place_call(engine, tmp_path, "uac_session_timer")
    assert_sipp_ok(result)  # the scenario checks Session-Expires and Require: timer in both 200s
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)  # the call's last line: all are in
    assert engine.find_events("sip.session_refreshed", call_id=call_id, by="peer", interval=90)
    assert ended["reason"] == "caller-hangup"


async def test_a_caller_that_stops_refreshing_its_session_gets_bye_session_expired(
    tui: StartEngine, tmp_path: Path
) -> None:
    """The vanished caller of issue 9, covered by RFC 4028 alone: no prompt timer may end this call
    first (10 min no-input), and it sends no RTP, so media-timeout does not apply. RFC 4028 puts the
    shortest lease at 90 s, hence the one minute this test waits."""
    engine = await tui({"phone.tui.no-input-timeout": "10m"})
    result = await place_call(engine, tmp_path, "uac_session_timer_lapse", recv_timeout_ms=90000,
                              timeout_s=120.0)
    assert_sipp_ok(result)  # it received our BYE and answered it
    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)  # the call's last line: all are in
    assert engine.find_events("sip.session_expired", call_id=call_id)
    assert (ended["reason"], ended["sip_reason"]) == ("session-expired", "session_expired")
