"""Overload control (issue 11) against a real ``tui-engine serve`` over loopback.

Overload is forced deterministically by configuration, never by timing: ``max-calls-in-setup
= 1`` with a raw UDP caller that holds its ACK back (so one call stays in set-up for as long as
the test wants), and a SIPp burst where each call holds one of two ``max-calls`` slots for
300 ms while new INVITEs keep arriving. What is asserted is the outcome of every call, not how
fast anything happened.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest

from tui_engine.core.overload import BACKLOG_LIMIT, BACKLOG_WINDOW
from tui_engine.testing import free_port_block
from tui_engine.testing.raw_sip import ack_for, final_response, in_dialog, raw_invite

from .conftest import StartEngine
from .helpers import SIP_TRACE, call_ids, place_call, wait_no_calls

pytestmark = pytest.mark.e2e


def caller() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


async def test_a_call_in_setup_makes_the_next_invite_a_503_and_its_retransmission_the_same_503(
    tui: StartEngine,
) -> None:
    engine = await tui({"engine.max-calls-in-setup": 1, **SIP_TRACE})  # sip.invite is a debug line
    target = ("127.0.0.1", engine.sip_port)
    with caller() as a, caller() as b, caller() as c:
        invite_a = raw_invite(engine.sip_port, "ov-a", via_port=a.getsockname()[1])
        a.sendto(invite_a, target)
        ok_a = await final_response(a)
        assert ok_a.startswith(b"SIP/2.0 200"), ok_a[:200]  # answered; its ACK is held back

        invite_b = raw_invite(engine.sip_port, "ov-b", via_port=b.getsockname()[1])
        b.sendto(invite_b, target)
        refused = await final_response(b)
        assert refused.startswith(b"SIP/2.0 503"), refused[:200]
        assert b"\r\nRetry-After: 5\r\n" in refused
        b.sendto(invite_b, target)  # the caller's Timer A: the very same INVITE again
        again = await final_response(b)
        assert again == refused  # byte for byte: the transaction's answer, not a new one
        b.sendto(ack_for(invite_b, refused), target)

        a.sendto(in_dialog(invite_a, ok_a, "ACK", 1), target)  # a leaves set-up
        await engine.wait_event("call.started", call_id="ov-a")
        invite_c = raw_invite(engine.sip_port, "ov-c", via_port=c.getsockname()[1])
        c.sendto(invite_c, target)
        ok_c = await final_response(c)
        assert ok_c.startswith(b"SIP/2.0 200"), ok_c[:200]
        c.sendto(in_dialog(invite_c, ok_c, "ACK", 1), target)
        for sock, invite, ok in ((a, invite_a, ok_a), (c, invite_c, ok_c)):
            sock.sendto(in_dialog(invite, ok, "BYE", 2), target)
            assert (await final_response(sock)).startswith(b"SIP/2.0 200")  # to the BYE

    assert call_ids(engine) == ["ov-a", "ov-c"]  # b never reached the application
    rejected = engine.find_events("sip.rejected", call_id="ov-b")
    assert [(e["status"], e["reason"]) for e in rejected] == [(503, "calls-in-setup")]  # once
    assert engine.find_events("sip.invite", call_id="ov-a")  # the line is on: its absence below counts
    assert not engine.find_events("sip.invite", call_id="ov-b")
    assert not engine.find_events("media.session_opened", call_id="ov-b")
    samples = await wait_no_calls(engine)
    assert samples[("tui_sip_refused_total", (("reason", "calls-in-setup"),))] == 1


async def test_a_burst_beyond_the_limits_every_call_completed_or_refused_none_stuck(
    tui: StartEngine, tmp_path: Path
) -> None:
    """40 calls at 40/s, each holding a slot 300 ms, into ``max-calls = 2``: refusals are certain
    (each second brings 40 INVITEs, the slots carry at most 7), and the load itself is real."""
    engine = await tui({"engine.max-calls": 2, "engine.max-calls-in-setup": 1})
    result = await place_call(engine, tmp_path, "load_overload", calls=40, rate=40,
                              extra=("-d", "300"))
    detail = f"{result.stdout[-2000:]}\n{result.errors[-3000:]}\n{result.screen[-3000:]}"
    assert (result.returncode, result.successful, result.failed) == (0, 40, 0), detail
    [(refused, _)] = result.message_counts("503")
    samples = await wait_no_calls(engine)  # none stuck
    # the engine's own count (its log lines may still be on their way to the test)
    completed = samples[("tui_calls_ended_total", (("reason", "caller-hangup"),))]
    assert refused > 0 and completed > 0, detail
    assert completed + refused == 40, (samples, detail)  # each call either completed or refused
    by_reason = {dict(labels)["reason"]: value for (name, labels), value in samples.items()
                 if name == "tui_sip_refused_total"}
    assert sum(by_reason.values()) == refused, by_reason
    assert set(by_reason) <= {"max-calls", "calls-in-setup"}, by_reason
    assert not engine.find_events("call.media_failed")


async def test_no_bindable_rtp_port_is_a_503_with_one_log_line_and_no_traceback(tui: StartEngine) -> None:
    """A range of 2 ports (one even, ``max-calls = 1``) whose port another program holds."""
    first, last = free_port_block(2)
    engine = await tui({"engine.rtp-ports": f"{first}-{last}", "engine.max-calls": 1})
    target = ("127.0.0.1", engine.sip_port)
    with caller() as sock, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", first))
        invite = raw_invite(engine.sip_port, "ov-port", via_port=sock.getsockname()[1])
        sock.sendto(invite, target)
        refused = await final_response(sock)
        assert refused.startswith(b"SIP/2.0 503") and b"\r\nRetry-After: 5\r\n" in refused, refused[:200]
        sock.sendto(ack_for(invite, refused), target)
        await engine.wait_event("call.ended", call_id="ov-port")
        squatter.close()  # the port is free again: the next call is answered
        again = raw_invite(engine.sip_port, "ov-port-2", via_port=sock.getsockname()[1])
        sock.sendto(again, target)
        ok = await final_response(sock)
        assert ok.startswith(b"SIP/2.0 200"), ok[:200]
        sock.sendto(in_dialog(again, ok, "ACK", 1), target)
        sock.sendto(in_dialog(again, ok, "BYE", 2), target)
        assert (await final_response(sock)).startswith(b"SIP/2.0 200")
    [line] = engine.find_events("call.rejected", call_id="ov-port")
    assert (line["status"], line["reason"], line.get("level")) == (503, "rtp-ports", "warning"), line
    assert "exception" not in line and not engine.find_events("call.media_failed")
    assert not [text for text in engine.other_output if "Traceback" in text]
    samples = await wait_no_calls(engine)
    assert samples[("tui_sip_refused_total", (("reason", "rtp-ports"),))] == 1


async def test_behind_a_real_socket_backlog_the_first_call_past_the_window_is_still_taken(
    tui: StartEngine,
) -> None:
    """The engine is stopped (SIGSTOP) while 1 500 INVITEs (~2 MiB in the kernel's count) queue
    in its SIP socket, then resumed: it reads them in order. The first ``BACKLOG_WINDOW`` come in
    (the backlog is not read below the window); the next one, with that window in set-up and well
    over ``BACKLOG_LIMIT`` behind it, is taken too, at the admission rate's first token (the fixed
    window refused it and every INVITE after it until the queue was read down). ``max-calls-in-setup``
    is one more than the window, so from there on every INVITE is refused whatever the backlog:
    which call got which answer does not depend on how fast anything ran. The lag check is set
    out of reach (a stopped process is one long lag sample); no ACK is sent until every INVITE
    has its answer. Every INVITE gets 200 or 503; the calls taken are completed."""
    rmem_max = _rmem_max()
    assert rmem_max >= 2 * BACKLOG_LIMIT, f"net.core.rmem_max {rmem_max}: no socket backlog that long"
    window = BACKLOG_WINDOW
    engine = await tui({"engine.max-calls-in-setup": window + 1, "engine.overload-lag": "10s"})
    pid = int((await engine.wait_event("engine.ready"))["pid"])
    target = ("127.0.0.1", engine.sip_port)
    count = 1500
    answers: dict[str, bytes] = {}
    with caller() as sock:
        port = sock.getsockname()[1]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        names = [f"bl-{n:04d}" for n in range(count)]
        invites = {name: raw_invite(engine.sip_port, name, via_port=port) for name in names}
        os.kill(pid, signal.SIGSTOP)
        try:
            for data in invites.values():
                sock.sendto(data, target)
        finally:
            os.kill(pid, signal.SIGCONT)
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        async with asyncio.timeout(30):
            while len(answers) < count:
                data = await loop.sock_recv(sock, 65535)
                if not data.startswith(b"SIP/2.0 1"):
                    answers.setdefault(_call_id(data), data)
        statuses = {call_id: int(data.split(b" ", 2)[1]) for call_id, data in answers.items()}
        assert set(statuses.values()) <= {200, 503}, set(statuses.values())
        order = list(invites)
        taken = [call_id for call_id in order if statuses[call_id] == 200]
        assert taken == order[: window + 1], taken[:60]  # the window, and one more behind the backlog
        for call_id in order:
            if statuses[call_id] == 503:
                sock.sendto(ack_for(invites[call_id], answers[call_id]), target)
        for call_id in taken:
            sock.sendto(in_dialog(invites[call_id], answers[call_id], "ACK", 1), target)
            sock.sendto(in_dialog(invites[call_id], answers[call_id], "BYE", 2), target)
        byes: set[str] = set()
        async with asyncio.timeout(30):
            while len(byes) < len(taken):
                data = await loop.sock_recv(sock, 65535)
                if data.startswith(b"SIP/2.0 200") and b" BYE\r\n" in data:
                    byes.add(_call_id(data))
    samples = await wait_no_calls(engine)
    by_reason = {dict(labels)["reason"]: value for (name, labels), value in samples.items()
                 if name == "tui_sip_refused_total"}
    assert sum(by_reason.values()) == count - window - 1, by_reason
    assert set(by_reason) <= {"socket-backlog", "calls-in-setup"}, by_reason


def _rmem_max() -> int:
    """The kernel's cap on a socket's receive buffer (the engine asks for 4 MiB)."""
    return int(Path("/proc/sys/net/core/rmem_max").read_text())


def _call_id(response: bytes) -> str:
    line = next(x for x in response.split(b"\r\n") if x.lower().startswith(b"call-id:"))
    return line.split(b":", 1)[1].strip().decode()
