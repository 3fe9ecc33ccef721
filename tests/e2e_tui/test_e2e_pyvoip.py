"""An independent SIP client, pyVoIP 1.6.8 (a threaded phone), calls the engine and is hung up on.

pyVoIP's ``VoIPPhone.start()`` insists on a REGISTER answered 200 before it will call anyone, and the
engine is no registrar (it answers REGISTER 405, checked below). pyVoIP has no switch to skip
registration, so the test replaces the bound ``register`` method of that one phone's SIP client with
one that reports success without sending anything; every other part of pyVoIP runs unchanged (its
INVITE, its ACK with its own invented To-tag, its RTP, its handling of our BYE).
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from pyVoIP.VoIP import CallState, VoIPPhone

from tui_engine.testing import free_port, free_port_block

from .conftest import StartEngine
from .helpers import SIP_TRACE, call_events, call_ids, wait_no_calls

pytestmark = pytest.mark.e2e

REGISTER = (
    "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-e2e-register;rport\r\n"
    "From: <sip:tester@127.0.0.1>;tag=e2e1\r\n"
    "To: <sip:tester@127.0.0.1>\r\n"
    "Call-ID: e2e-register@127.0.0.1\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Contact: <sip:tester@127.0.0.1:{me}>\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n"
)


async def test_the_engine_is_no_registrar_register_gets_405_with_allow(tui: StartEngine) -> None:
    """Why the pyVoIP test below skips registration (RFC 3261 §21.4.6: 405 carries Allow)."""
    engine = await tui()
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        me = sock.getsockname()[1]
        await loop.sock_sendto(
            sock, REGISTER.format(port=engine.sip_port, me=me).encode(), ("127.0.0.1", engine.sip_port)
        )
        async with asyncio.timeout(5):
            reply = (await loop.sock_recv(sock, 4096)).decode()
    status_line, *headers = reply.split("\r\n")
    assert status_line.startswith("SIP/2.0 405 ")
    allow = next(h for h in headers if h.lower().startswith("allow:"))
    assert "INVITE" in allow and "REGISTER" not in allow


def call_until_hung_up(
    sip_port: int, *, local_port: int, rtp: tuple[int, int], within: float
) -> list[CallState]:
    """Runs in a worker thread: place a call to number 100; the states the call went through."""
    phone = VoIPPhone(
        "127.0.0.1",
        sip_port,
        "tester",
        "",
        myIP="127.0.0.1",
        sipPort=local_port,
        rtpPortLow=rtp[0],
        rtpPortHigh=rtp[1],
    )
    # pyVoIP cannot start without a 200 to REGISTER; this phone registers nowhere (see module doc).
    setattr(phone.sip, "register", lambda: True)  # noqa: B010
    phone.start()
    try:
        call = phone.call("100")
        states = [call.state]
        deadline = time.monotonic() + within
        while call.state is not CallState.ENDED and time.monotonic() < deadline:
            time.sleep(0.02)  # a plain thread, not a coroutine: pyVoIP offers no wait primitive
            if call.state is not states[-1]:
                states.append(call.state)
        return states
    finally:
        phone.stop()


async def test_pyvoip_caller_is_hung_up_after_the_no_input_cycles(tui: StartEngine, tmp_path: Path) -> None:
    engine = await tui(SIP_TRACE)
    first, _ = free_port_block(20)
    states = await asyncio.to_thread(
        call_until_hung_up, engine.sip_port, local_port=free_port(), rtp=(first, first + 19), within=30.0
    )
    assert states == [CallState.DIALING, CallState.ANSWERED, CallState.ENDED]

    (call_id,) = call_ids(engine)
    ended = await engine.wait_event("call.ended", call_id=call_id)
    assert (ended["reason"], ended["attempts"]) == ("inactivity-timeout", 3)
    events = call_events(engine, call_id)
    assert [(e["attempt"], e["of"]) for e in events if e["event"] == "idle.reprompt"] == [(2, 3), (3, 3)]
    # pyVoIP's ACK carries a To-tag of its own: matched by Call-ID + CSeq, and logged.
    assert [e["event"] for e in events if e["event"] in ("sip.ack_mismatched_tag", "sip.confirmed")] == [
        "sip.ack_mismatched_tag",
        "sip.confirmed",
    ]
    assert engine.find_events("sip.bye_answered", call_id=call_id, status=200)
    await wait_no_calls(engine)
