"""The seeded chaos test of issue 9: after a storm, every call has ended and nothing is left.

A real ``tui-engine serve`` (short guards: 0.5 s no-input, one attempt, 1 s transfer-timeout,
6 s max-call-duration, ``max-calls`` 12) gets a few thousand datagrams from four callers: valid
and mutated INVITEs (bit flips, truncation, dropped or doubled headers, Via ports outside
0-65535, absurd Content-Length, session-timer headers, unknown Require tags, SDP whose ``c=``
cannot be sent to), in-dialog requests for dialogs that exist and ones that do not (INFO digits
among them, so menus transfer), stray responses and garbage. Three callers behave (they ACK,
answer our BYE) and answer our REFERs every way a transfer can fail or succeed, in turn: 603,
202 then a NOTIFY with 486, 202 and no NOTIFY at all, 202 then 200. One vanishes after each
ACK (our BYE goes unanswered until Timer F).

Then, once the longest guard has passed (Timer F of the last BYE, 32 s): the call table is
empty (``tui_active_calls`` 0), no RTP socket of the engine's range is bound, every ``max-calls``
slot is free (that many concurrent SIPp calls all succeed), no internal error was logged and
SIGTERM stops the engine cleanly. The seed fixes every datagram, so a failure replays its input
(which INVITEs meet a full call table still depends on timing); set ``TUI_CHAOS_SEED`` to explore
others.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tui_engine.testing.engine import EngineFactory, EngineProcess

from .helpers import assert_sipp_ok, bound_udp_ports, place_call, wait_no_calls

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("TUI_CHAOS_SEED", "20261201"))
DATAGRAMS = 3000
MAX_CALLS = 12
UNUSABLE_C = ["IN IP4 media.example.com", "IN IP6 ::1", "IN IP4 239.0.0.9", "IN IP4 255.255.255.255",
              "IN IP4 240.1.1.1", "IN IP4 0.0.0.0", "IN IP4 127.0.0.1"]  # the last two are fine
TIMER_HEADERS = [
    "", "Supported: timer\r\nSession-Expires: 60\r\n", "Require: timer\r\nSession-Expires: 90\r\n",
    "Session-Expires: 1800;refresher=uac\r\nMin-SE: 95\r\n", "Require: 100rel\r\n",
    "x: 4294967296\r\nk: timer\r\n", "Session-Expires: abc;refresher=nobody\r\n",
]
METHODS = ["ACK", "BYE", "CANCEL", "UPDATE", "INFO", "NOTIFY", "INVITE", "OPTIONS", "REFER", "PRACK"]


class Caller:
    """One UDP socket: sends what it is told, ACKs final answers to its INVITEs, and answers the
    engine's BYE with 200 unless it is one that vanishes."""

    def __init__(self, engine: EngineProcess, vanishes: bool) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.target = ("127.0.0.1", engine.sip_port)
        self.vanishes = vanishes
        self.dialogs: list[tuple[str, str]] = []  #: (Call-ID, To-tag) of answered INVITEs
        self.acked: set[str] = set()
        self.gone: set[str] = set()  #: Call-IDs this caller stopped answering after its ACK
        self.cseq: dict[str, int] = {}  #: the last CSeq this caller used in each of its dialogs
        self.refers = 0

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, self.target)
        except BlockingIOError:
            pass  # a full socket buffer loses a datagram, as UDP may

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await loop.sock_recv(self.sock, 65535)
            except OSError:
                return
            self.react(data)

    def react(self, data: bytes) -> None:
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields.setdefault(name.strip().lower(), value.strip())
        call_id, cseq = fields.get("call-id", ""), fields.get("cseq", "")
        if head[0].startswith("SIP/2.0 "):
            status = int(head[0].split()[1])
            if cseq.endswith("INVITE") and status >= 200:
                self._ack(fields, status)
        elif head[0].startswith("BYE ") and not (self.vanishes and call_id in self.gone):
            self.send(_response(head, 200))
        elif head[0].startswith("REFER ") and call_id not in self.gone:
            self._transfer(head, fields)
        elif not head[0].startswith(("BYE ", "ACK ")) and call_id not in self.gone:
            self.send(_response(head, 200))  # UPDATE / re-INVITE refreshes, OPTIONS: all fine

    def _transfer(self, head: list[str], fields: dict[str, str]) -> None:
        """RFC 3515: answer the REFERs each of four ways in turn."""
        fate = self.refers % 4
        self.refers += 1
        self.send(_response(head, 603 if fate == 0 else 202))
        if fate in (1, 3):
            frag = "SIP/2.0 486 Busy Here" if fate == 1 else "SIP/2.0 200 OK"
            self.send((
                f"NOTIFY sip:100@127.0.0.1:{self.target[1]} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK-n{fields['call-id']};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: {fields['to']}\r\nTo: {fields['from']}\r\n"
                f"Call-ID: {fields['call-id']}\r\nCSeq: {2**31 - 1} NOTIFY\r\nEvent: refer\r\n"
                "Subscription-State: terminated;reason=noresource\r\nContent-Type: message/sipfrag\r\n"
                f"Content-Length: {len(frag)}\r\n\r\n{frag}").encode())

    def _ack(self, fields: dict[str, str], status: int) -> None:
        call_id = fields.get("call-id")
        if not call_id:
            return  # the 400 to an INVITE without Call-ID (RFC 4475 "insuf") has none to ACK with
        to = fields.get("to", "")
        number = fields["cseq"].split()[0]
        # §17.1.1.3: a non-2xx is ACKed on the INVITE's branch; a 2xx ACK is a new transaction.
        own = f"SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK-a{call_id}"
        via = fields["via"] if status >= 300 else own
        self.send((
            f"ACK sip:100@127.0.0.1:{self.target[1]} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
            f"From: {fields.get('from', '')}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {number} ACK\r\n"
            "Content-Length: 0\r\n\r\n").encode())
        if 200 <= status < 300 and call_id not in self.acked:
            self.acked.add(call_id)
            self.dialogs.append((call_id, to.split("tag=")[-1]))
            self.cseq[call_id] = int(number)
            if self.vanishes:
                self.gone.add(call_id)

    def close(self) -> None:
        self.sock.close()


def _response(head: list[str], status: int) -> bytes:
    keep = [line for line in head[1:] if line.split(":", 1)[0].strip().lower() in ("via", "from", "to",
                                                                                  "call-id", "cseq")]
    return ("\r\n".join([f"SIP/2.0 {status} Chaos", *keep, "Content-Length: 0"]) + "\r\n\r\n").encode()


def _invite(rng: random.Random, caller: Caller, engine_port: int, n: int) -> bytes:
    c_line = rng.choice(UNUSABLE_C) if rng.random() < 0.4 else "IN IP4 127.0.0.1"
    sdp = (f"v=0\r\no=- {n} 1 IN IP4 127.0.0.1\r\ns=-\r\nc={c_line}\r\nt=0 0\r\n"
           f"m=audio {rng.choice([40000, 40002, 40004, 40006, 0, 70000])} RTP/AVP 0 101\r\n"
           "a=rtpmap:0 PCMU/8000\r\n"
           "a=rtpmap:101 telephone-event/8000\r\n")
    return (
        f"INVITE sip:100@127.0.0.1:{engine_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{caller.port};branch=z9hG4bK-c{n};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:chaos@127.0.0.1>;tag=f{n}\r\nTo: <sip:100@127.0.0.1>\r\n"
        f"Call-ID: chaos-{SEED}-{n}\r\nCSeq: {rng.randint(1, 9)} INVITE\r\n"
        f"Contact: <sip:chaos@127.0.0.1:{caller.port}>\r\nAllow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n"
        f"{rng.choice(TIMER_HEADERS)}"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


def _in_dialog(rng: random.Random, caller: Caller, engine_port: int, n: int) -> bytes:
    live = [d for d in caller.dialogs if d[0] not in caller.gone]
    call_id, tag = rng.choice(live) if live and rng.random() < 0.7 else (f"nope-{n}", "x")
    # Digits to live dialogs, mostly in CSeq order, so menus run and transfer; the rest is noise.
    method = "INFO" if call_id in caller.cseq and rng.random() < 0.5 else rng.choice(METHODS)
    if call_id in caller.cseq and rng.random() < 0.9:
        cseq = caller.cseq[call_id] = caller.cseq[call_id] + rng.randint(1, 3)
    else:
        cseq = rng.randint(1, 2**31 + 5)
    extra = rng.choice(TIMER_HEADERS) if method in ("UPDATE", "INVITE") else ""
    return (
        f"{method} sip:100@127.0.0.1:{engine_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{caller.port};branch=z9hG4bK-d{n};rport\r\nMax-Forwards: 70\r\n"
        f"From: <sip:chaos@127.0.0.1>;tag=f{call_id.rsplit('-', 1)[-1]}\r\n"
        f"To: <sip:100@127.0.0.1>;tag={tag}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{extra}"
        "Content-Type: application/dtmf-relay\r\nContent-Length: 10\r\n\r\n"
        f"Signal={rng.choice('1100239*')}\r\n"
    ).encode()


def _mutate(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\r\n")
    kind = rng.randrange(8)
    if kind == 0:  # bit flips
        out = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return bytes(out)
    if kind == 1:
        return data[: rng.randrange(1, len(data))]
    if kind == 2 and len(lines) > 3:
        del lines[rng.randrange(1, len(lines) - 2)]
    elif kind == 3 and len(lines) > 3:
        i = rng.randrange(1, len(lines) - 2)
        lines.insert(i, lines[i])
    elif kind == 4:
        port = rng.choice([0, 65536, 70000, 99999, -1])
        lines = [line.replace(b";rport", b"") if line.startswith(b"Via") else line for line in lines]
        lines = [_via_port(line, port) for line in lines]
    elif kind == 5:
        lines = [b"Content-Length: %d" % rng.choice([0, 5, 99999, -3]) if line.startswith(b"Content-Length")
                 else line for line in lines]
    elif kind == 6:
        junk = bytes(rng.randrange(32, 127) for _ in range(rng.randint(0, 80)))
        lines.insert(rng.randrange(1, len(lines)), junk)
    else:
        lines[0] = lines[0].replace(b"SIP/2.0", rng.choice([b"SIP/3.0", b"sip/2.0", b"SIP/2.0 extra", b""]))
    return b"\r\n".join(lines)


def _via_port(line: bytes, port: int) -> bytes:
    if not line.startswith(b"Via"):
        return line
    head, _, rest = line.partition(b";")
    return head.rsplit(b":", 1)[0] + b":%d;" % port + rest


def _storm(rng: random.Random, callers: list[Caller], engine_port: int) -> Callable[[int], bytes]:
    def datagram(n: int) -> bytes:
        caller = callers[n % len(callers)]
        roll = rng.random()
        if roll < 0.12:
            return os.urandom(rng.randint(0, 600)) if rng.random() < 0.5 else b"\r\n\r\n"
        if roll < 0.20:
            return b"SIP/2.0 %d OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-stray%d\r\n\r\n" % (
                rng.choice([100, 200, 481]), n)
        data = _invite(rng, caller, engine_port, n) if roll < 0.6 else _in_dialog(rng, caller, engine_port, n)
        return data if rng.random() < 0.4 else _mutate(rng, data)

    return datagram


async def test_after_a_seeded_storm_every_call_ends_and_nothing_is_left(
    engine_factory: EngineFactory, short_dialplans: Path, tmp_path: Path
) -> None:
    engine = await engine_factory({
        "phone.tui.dialplans": str(short_dialplans),
        "phone.tui.no-input-timeout": "0.5s",
        "phone.tui.max-attempts": 1,
        "phone.tui.transfer-timeout": "1s",  # a REFER answered 202 and never NOTIFYed
        "phone.tui.max-call-duration": "6s",
        "engine.max-calls": MAX_CALLS,
    })
    rng = random.Random(SEED)
    callers = [Caller(engine, vanishes=i == 3) for i in range(4)]
    readers = [asyncio.create_task(c.serve()) for c in callers]
    try:
        datagram = _storm(rng, callers, engine.sip_port)
        for n in range(DATAGRAMS):
            callers[n % len(callers)].send(datagram(n))
            if n % 50 == 49:
                await asyncio.sleep(0.06)  # let responses come back, dialogs form, menus run
        assert engine.find_events("call.started"), "the storm should have made some real calls"
        # The longest guard: our last BYE to a vanished caller ends on Timer F (64 * T1 = 32 s).
        await wait_no_calls(engine, within=45.0)
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for caller in callers:
            caller.close()
    assert engine.returncode is None
    pid = int((await engine.wait_event("engine.ready"))["pid"])
    assert bound_udp_ports(pid, *engine.rtp_ports) == [], "RTP sockets left open"
    errors = engine.find_events("sip.internal_error") + engine.find_events("sip.handler_error")
    assert not errors, [e.get("exception", "")[-600:] for e in errors]
    assert not engine.find_events("media.clock_stream_failed")
    # The storm reached every path it is meant to (a seed that misses one would prove less).
    assert engine.find_events("call.rejected", status=488), "no unusable media address"
    assert engine.find_events("sip.rejected", status=422), "no session interval too small"
    assert engine.find_events("sip.rejected", status=503), "max-calls never reached"
    assert engine.find_events("sip.invite_setup_failed"), "no INVITE that cannot be answered"
    assert engine.find_events("sip.bye_timeout"), "no caller vanished"
    assert engine.find_events("call.transfer_failed"), "no transfer failed"
    ended = {e["call_id"] for e in engine.find_events("call.ended")}
    assert ended == {e["call_id"] for e in engine.find_events("call.started")}
    # Every slot is free: MAX_CALLS calls at once are all answered (a leaked slot would be a 503).
    before = len(engine.find_events("call.started"))
    result = await place_call(engine, tmp_path, "uac_basic_bye_from_uas", calls=MAX_CALLS, rate=4 * MAX_CALLS)
    assert_sipp_ok(result, calls=MAX_CALLS)
    assert len(engine.find_events("call.started")) == before + MAX_CALLS
    await wait_no_calls(engine)
    assert await engine.stop() == 0
    assert not engine.find_events("engine.stop_failed") and not engine.find_events("engine.stop_timeout")
