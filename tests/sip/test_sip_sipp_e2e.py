"""SIPp over real loopback UDP against an in-process SipServer with a tiny CallHandler."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tui_engine.sip import EndReason, ServerCall, SipServer, SipTimers
from tui_engine.testing import free_port, free_port_block
from tui_engine.testing.sipp import SippResult, SippRun, run_sipp

pytestmark = [
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (Debian sip-tester) is not installed"),
    pytest.mark.timeout(120),
]


def pcmu_answer(port: int) -> str:
    return (
        "v=0\r\no=tui 1 1 IN IP4 127.0.0.1\r\ns=tui-engine\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
    )


@dataclass
class PhoneStub:
    """Answers with a fixed PCMU SDP (after ``answer_after`` s), hangs up after ``hangup_after`` s."""

    media_port: int
    answer_after: float | None = 0.0  #: None: only ring, never answer
    hangup_after: float | None = None  #: None: wait for the caller's BYE
    calls: list[ServerCall] = field(default_factory=list)
    infos: list[tuple[str, bytes]] = field(default_factory=list)
    ended: list[EndReason] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    handles: list[asyncio.TimerHandle] = field(default_factory=list)

    def incoming_call(self, call: ServerCall) -> None:
        self.calls.append(call)
        call.ringing()
        if self.answer_after is not None:
            self._later(self.answer_after, lambda: call.answer(pcmu_answer(self.media_port)))

    def call_confirmed(self, call: ServerCall) -> None:
        if self.hangup_after is not None:
            self._later(self.hangup_after, call.hangup)

    def call_info(self, call: ServerCall, content_type: str, body: bytes) -> int:
        self.infos.append((content_type, body))
        return 200

    def call_reoffer(self, call: ServerCall, sdp: str | None) -> str | None:
        return pcmu_answer(self.media_port)

    def call_ended(self, call: ServerCall, reason: EndReason) -> None:
        self.ended.append(reason)
        self.done.set()

    def _later(self, delay: float, fn: object) -> None:
        loop = asyncio.get_running_loop()
        self.handles.append(loop.call_later(delay, fn))  # type: ignore[arg-type]

    def cancel(self) -> None:
        for handle in self.handles:
            handle.cancel()


@dataclass
class Rig:
    server: SipServer
    phone: PhoneStub
    workdir: Path
    media_first: int

    def run(self, scenario: str, **kw: object) -> SippRun:
        return SippRun(
            scenario=scenario, target=self.server.address, local_port=free_port(socket.SOCK_DGRAM),
            media_port=self.media_first, workdir=self.workdir / scenario, timeout_s=40.0, **kw,  # type: ignore[arg-type]
        )

    async def ended(self) -> list[EndReason]:
        async with asyncio.timeout(10):
            await self.phone.done.wait()
        return self.phone.ended

    async def drained(self) -> None:
        """Wait until the server holds no call and no transaction (bounded)."""
        async with asyncio.timeout(10):
            # No event fires when the last transaction's Timer J/K/L runs out; poll the counters.
            while self.server.active_calls or self.server.tracked_transactions:  # noqa: ASYNC110
                await asyncio.sleep(0.05)


FAST = SipTimers(t1=0.05, t2=0.4, t4=0.5)  # 64*T1 = 3.2 s: lost-message tests stay short


@pytest.fixture
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    opts = getattr(request, "param", {})
    first, _ = free_port_block(4)
    phone = PhoneStub(media_port=first + 2, **opts.get("phone", {}))
    server = SipServer(phone, host="127.0.0.1", port=free_port(), max_calls=10, trusted=["127.0.0.0/8"],
                       timers=opts.get("timers", FAST))
    await server.start()
    try:
        yield Rig(server=server, phone=phone, workdir=tmp_path, media_first=first)
    finally:
        phone.cancel()
        await server.stop()


def assert_ok(result: SippResult) -> None:
    detail = f"{result.stdout[-2000:]}\n{result.errors[-2000:]}\n{result.screen[-3000:]}"
    assert result.returncode == 0, detail
    assert result.successful == 1 and result.failed == 0


async def test_options_gets_200(rig: Rig) -> None:
    result = await run_sipp(rig.run("uac_options"))
    assert_ok(result)
    await rig.drained()


@pytest.mark.parametrize("rig", [{"phone": {"hangup_after": 0.3}}], indirect=True)
async def test_engine_hangs_up_and_the_call_is_cleaned(rig: Rig) -> None:
    result = await run_sipp(rig.run("uac_basic_bye_from_uas"))
    assert_ok(result)
    assert await rig.ended() == [EndReason.LOCAL_HANGUP]
    assert rig.phone.calls[0].request_user == "100"
    await rig.drained()


async def test_caller_hangup_is_reported(rig: Rig) -> None:
    result = await run_sipp(rig.run("uac_caller_hangup", variables={"hold_ms": "300"}))
    assert_ok(result)
    assert await rig.ended() == [EndReason.CALLER_HANGUP]
    await rig.drained()


@pytest.mark.parametrize("rig", [{"phone": {"answer_after": None}}], indirect=True)
async def test_cancel_gets_200_and_487(rig: Rig) -> None:
    result = await run_sipp(rig.run("uac_cancel"))
    assert_ok(result)
    assert await rig.ended() == [EndReason.CANCELLED]
    await rig.drained()


@pytest.mark.parametrize("rig", [{"phone": {"hangup_after": 0.2}}], indirect=True)
async def test_lost_ack_ends_the_call_with_bye_after_64_t1(rig: Rig) -> None:
    result = await run_sipp(rig.run("uac_lost_ack"))
    assert_ok(result)
    assert await rig.ended() == [EndReason.ACK_TIMEOUT]
    received, retransmitted = result.message_counts("200")[0]  # the 200 <---- row
    assert received == 1 and retransmitted >= 5  # resent on T1 doubling to T2 until the 64*T1 give-up
    await rig.drained()


@pytest.mark.parametrize("rig", [{"phone": {"hangup_after": 0.2}}], indirect=True)
async def test_lost_response_to_our_bye_makes_the_bye_come_again(rig: Rig) -> None:
    result = await run_sipp(rig.run("uac_lost_bye_response"))
    assert_ok(result)
    ((received, retransmitted),) = result.message_counts("BYE")
    assert received == 1 and retransmitted >= 5  # Timer E: 50, 150, 350, 750 ms ... within SIPp's 2 s pause
    # Every 200 is lost (lost=100), so Timer F (64*T1) gives up and the call is still cleaned up.
    assert await rig.ended() == [EndReason.BYE_TIMEOUT]
    await rig.drained()


@pytest.mark.parametrize("rig", [{"phone": {"answer_after": 0.5, "hangup_after": 0.2}}], indirect=True)
async def test_retransmitted_invite_makes_one_call(rig: Rig) -> None:
    result = await run_sipp(rig.run("uac_invite_retransmit"))
    assert_ok(result)
    assert await rig.ended() == [EndReason.LOCAL_HANGUP]
    assert len(rig.phone.calls) == 1
    await rig.drained()


@pytest.mark.parametrize("rig", [{"phone": {"hangup_after": 0.5}}], indirect=True)
async def test_info_dtmf_relay_reaches_the_app(rig: Rig) -> None:
    result = await run_sipp(rig.run("uac_info_dtmf"))
    assert_ok(result)
    assert await rig.ended() == [EndReason.LOCAL_HANGUP]
    assert rig.phone.infos == [("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n")]
    await rig.drained()


@pytest.mark.skipif(os.geteuid() != 0, reason="SIPp's play_pcap_audio needs root")
@pytest.mark.parametrize("rig", [{"phone": {"hangup_after": 0.5}}], indirect=True)
async def test_rfc2833_offer_and_pcap_play_complete(rig: Rig) -> None:
    result = await run_sipp(rig.run("uac_rfc2833"))
    assert_ok(result)
    assert "telephone-event" in (rig.phone.calls[0].offer_sdp or "")
    assert await rig.ended() == [EndReason.LOCAL_HANGUP]
    await rig.drained()


@pytest.mark.parametrize("rig", [{"phone": {"hangup_after": 0.2}}], indirect=True)
async def test_garbage_datagrams_then_a_normal_call(rig: Rig) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for junk in (b"\x00\x01garbage", b"INVITE\r\n\r\n", b"SIP/2.0 xx\r\n", os.urandom(300)):
            sock.sendto(junk, rig.server.address)
    result = await run_sipp(rig.run("uac_basic_bye_from_uas"))
    assert_ok(result)
    assert await rig.ended() == [EndReason.LOCAL_HANGUP]
    await rig.drained()


@pytest.mark.parametrize("rig", [{"phone": {"hangup_after": 0.3}, "timers": SipTimers()}], indirect=True)
async def test_a_call_with_the_rfc_default_timers(rig: Rig) -> None:
    """One call with the RFC default timers (T1 500 ms): the ordinary path needs no retransmission."""
    result = await run_sipp(rig.run("uac_basic_bye_from_uas"))
    assert_ok(result)
    assert await rig.ended() == [EndReason.LOCAL_HANGUP]
    assert rig.server.active_calls == 0
