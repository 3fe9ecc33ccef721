"""answer-delay on its hostile paths: the real TuiComponent in-process, a caller on a real UDP socket.

A call rings (180) for the delay; whatever ends it meanwhile (CANCEL, an early-dialog BYE, the
engine's stop) must free its max-calls slot, its RTP port and its in-setup count at once, and
a retransmitted INVITE must get the 180 again, not a second call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tui_engine.config.loader import apply_overrides, embedded_default
from tui_engine.testing.net import free_port, free_port_block
from tui_engine.testing.sip_fake import OFFER_SDP, sip_request
from tui_engine.tui import component as component_module
from tui_engine.tui.component import TuiComponent
from tui_engine.tui.settings import TuiSettings, tui_settings

from .helpers import bound_udp_ports


class Caller(asyncio.DatagramProtocol):
    """A UDP phone: sends raw requests, queues every response's start line and To header."""

    def __init__(self) -> None:
        self.responses: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head = data.split(b"\r\n\r\n", 1)[0].decode()
        lines = head.split("\r\n")
        if lines[0].startswith("SIP/2.0 "):
            to = next(v for k, _, v in (ln.partition(": ") for ln in lines) if k.lower() == "to")
            cseq = next(v for k, _, v in (ln.partition(": ") for ln in lines) if k.lower() == "cseq")
            self.responses.put_nowait((int(lines[0].split()[1]), f"{cseq}|{to}"))

    async def status(self, wanted: int) -> str:
        """The next response with status ``wanted`` (others before it are skipped)."""
        async with asyncio.timeout(10):
            while True:
                status, rest = await self.responses.get()
                if status == wanted:
                    return rest


class Rig:
    def __init__(self, component: TuiComponent, caller: Caller, sip: int, here: tuple[str, int]) -> None:
        self.component, self.caller, self.sip, self.here = component, caller, sip, here
        self.records: list[Mapping[str, Any]] = []
        self.rtp = (0, 0)
        self.user = "100"  #: the number dialled
        self.tmp_path = Path()

    def send(self, method: str, call_id: str, *, to_tag: str | None = None, cseq: int = 1,
             branch: str | None = None) -> None:
        body = OFFER_SDP if method == "INVITE" else ""
        raw = sip_request(
            method, call_id=call_id, branch=branch or f"z9hG4bK-{call_id}", cseq=cseq, to_tag=to_tag,
            uri=f"sip:{self.user}@127.0.0.1:{self.sip}", source=self.here, body=body,
            content_type="application/sdp" if body else None,
        )
        assert self.caller.transport is not None
        self.caller.transport.sendto(raw, ("127.0.0.1", self.sip))

    async def ringing(self, call_id: str) -> str:
        """INVITE, then the 180: its To-tag."""
        self.send("INVITE", call_id)
        to = await self.caller.status(180)
        return to.split("tag=")[1]

    @property
    def ports_in_use(self) -> int:
        media = self.component._media
        assert media is not None
        return media.ports.in_use

    @property
    def in_setup(self) -> set[str]:
        admission = self.component._admission
        assert admission is not None
        return admission.in_setup


def settings_for(tmp_path: Path, sip: int, rtp: tuple[int, int], *options: str) -> TuiSettings:
    config = apply_overrides(embedded_default(), [
        f'engine.sip-listen="127.0.0.1:{sip}"', f'engine.rtp-ports="{rtp[0]}-{rtp[1]}"',
        f'engine.data-dir="{tmp_path}"', "engine.max-calls=2", *options,
    ])
    settings = tui_settings(config)
    assert settings is not None
    return settings


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """A component whose calls ring 20 s (``@pytest.mark.parametrize("rig", [...], indirect=True)``
    for another answer-delay)."""
    sip = free_port()
    rtp = free_port_block(8, avoid=(sip,))
    delay = getattr(request, "param", "20s")
    records: list[Mapping[str, Any]] = []
    settings = settings_for(tmp_path, sip, rtp, f'phone.tui.answer-delay="{delay}"')
    component = TuiComponent(settings, on_record=records.append)
    await component.start()
    loop = asyncio.get_running_loop()
    transport, caller = await loop.create_datagram_endpoint(Caller, local_addr=("127.0.0.1", 0))
    here = transport.get_extra_info("sockname")
    r = Rig(component, caller, sip, (here[0], here[1]))
    r.records, r.rtp, r.tmp_path = records, rtp, tmp_path
    try:
        yield r
    finally:
        with contextlib.suppress(Exception):
            await component.stop()
        transport.close()


async def test_a_retransmitted_invite_while_ringing_gets_the_180_again_not_a_second_call(rig: Rig) -> None:
    await rig.ringing("retx")
    rig.send("INVITE", "retx")  # the same branch: a retransmission (the 180 was lost, say)
    await rig.caller.status(180)
    assert rig.component.active_calls == 1 and rig.ports_in_use == 1
    assert rig.in_setup == set()  # ringing is no set-up under way


async def test_ringing_calls_fill_max_calls_and_a_cancel_gives_slot_port_and_count_back(rig: Rig) -> None:
    await rig.ringing("a")
    await rig.ringing("b")
    rig.send("INVITE", "c")  # max-calls (2) reached by calls that only ring
    await rig.caller.status(503)
    rig.send("CANCEL", "a")
    await rig.caller.status(487)
    assert rig.ports_in_use == 1 and rig.component.active_calls == 1
    await rig.ringing("d")  # the slot came back
    assert rig.in_setup == set() and rig.ports_in_use == 2


async def test_a_bye_in_the_early_dialog_ends_the_ringing_call_with_487_on_its_record(rig: Rig) -> None:
    tag = await rig.ringing("early-bye")
    rig.send("BYE", "early-bye", to_tag=tag, cseq=2, branch="z9hG4bK-early-bye-2")
    await rig.caller.status(487)
    assert rig.ports_in_use == 0 and rig.component.active_calls == 0 and rig.in_setup == set()
    (record,) = rig.records
    assert (record["end_reason"], record["sip_status"]) == ("caller-hangup", 487)


async def test_an_engine_stop_while_calls_ring_answers_503_and_frees_every_port(rig: Rig) -> None:
    await rig.ringing("s1")
    await rig.ringing("s2")
    await rig.component.stop()
    await rig.caller.status(503)
    await rig.caller.status(503)
    assert rig.ports_in_use == 0 and rig.component.active_calls == 0
    assert sorted((r["call_id"], r["end_reason"]) for r in rig.records) == [
        ("s1", "shutdown"), ("s2", "shutdown")]


@pytest.mark.parametrize(("rig", "moment"), [("20s", "ringing"), ("0s", "answered"), ("0s", "set-up")],
                         indirect=["rig"])
async def test_an_engine_stop_mid_set_up_leaves_no_rtp_socket_in_the_process(rig: Rig, moment: str) -> None:
    """Engine stop while a call is in set-up (its answer callback not yet run, ringing, or answered
    and waiting for its ACK): every RTP socket of the range is closed when stop() returns, in
    this process (the e2e fixtures see a leak only while an engine runs; a stopped in-process
    engine keeps its sockets until the process ends)."""
    if moment == "set-up":  # stop() starts in the read that makes the call: its answer waits its turn
        incoming = rig.component.incoming_call
        stopping: list[asyncio.Task[None]] = []

        def and_stop(call: Any) -> None:
            incoming(call)
            setup = rig.component._setup.get(call.call_id)
            assert setup is not None and not setup.cancelled()  # its answer has not run
            coro = rig.component.stop()
            stopping.append(asyncio.get_running_loop().create_task(coro))

        rig.component.incoming_call = and_stop  # type: ignore[method-assign]
        rig.send("INVITE", "mid")
        async with asyncio.timeout(10):
            while not stopping:  # noqa: ASYNC110 - the engine signals nothing: poll
                await asyncio.sleep(0.005)
            await stopping[0]
    else:
        if moment == "ringing":
            await rig.ringing("mid")
        else:
            rig.send("INVITE", "mid")
            await rig.caller.status(200)  # no ACK: the call is still in set-up
        await rig.component.stop()
    assert bound_udp_ports(os.getpid(), *rig.rtp) == [], "RTP socket left open by the stop"
    assert rig.ports_in_use == 0 and rig.component.active_calls == 0


@pytest.mark.parametrize("rig", ["0s", "300ms"], indirect=True)
async def test_a_call_whose_session_cannot_be_built_gets_500_and_gives_everything_back(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault while answering (here the call's session, injected), answered at once or after
    ringing: the caller gets a 500, and the call's max-calls slot, in-setup count and RTP socket
    come back; no call is left unanswered for ever."""

    def broken(**kw: object) -> None:
        raise RuntimeError("injected: a bug building the call's session")

    monkeypatch.setattr(component_module, "CallSession", broken)
    rig.send("INVITE", "broken")
    await rig.caller.status(500)
    assert rig.component.active_calls == 0 and rig.in_setup == set() and rig.ports_in_use == 0
    assert bound_udp_ports(os.getpid(), *rig.rtp) == []
    sip = rig.component._sip
    assert sip is not None and sip.active_calls == 0  # the max-calls slot


@pytest.mark.parametrize("rig", ["300ms"], indirect=True)
async def test_a_reload_while_the_call_rings_runs_and_records_the_dialplan_it_answers_with(rig: Rig) -> None:
    rig.user = "555"  # no dialplan's number: the default dialplan's call
    await rig.ringing("reload")
    # the reload points the number at another dialplan: the call, answered after it, runs that one
    options = ('phone.tui.answer-delay="300ms"', 'phone.tui.default-dialplan="voicemail"')
    rig.component.apply(settings_for(rig.tmp_path, rig.sip, rig.rtp, *options))
    await rig.caller.status(200)
    (live,) = rig.component.live_calls()
    assert live["dialplan"] == "voicemail"
