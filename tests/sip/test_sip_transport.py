"""TCP framing (RFC 3261 §18.3), TCP calls via SIPp, and SipServer.stop() over a real UDP socket."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest
from aiosipua.message import SipMessage, SipRequest, SipResponse

from tui_engine.sip import EndReason, ServerCall, SipServer
from tui_engine.sip.message import build_response
from tui_engine.sip.transport import FramingError, StreamFramer, Transports
from tui_engine.testing import free_port, free_port_block
from tui_engine.testing.sip_fake import ANSWER_SDP, OFFER_SDP, RecordingHandler, sip_request
from tui_engine.testing.sipp import SippRun, run_sipp


def test_framer_splits_back_to_back_messages_and_waits_for_the_body() -> None:
    framer = StreamFramer()
    one = sip_request("OPTIONS")
    two = sip_request("INVITE", body=OFFER_SDP)
    stream = b"\r\n\r\n" + one + two  # leading CRLFs are keep-alives (§7.5)
    cut = len(stream) - 10
    assert framer.feed(stream[:cut]) == [one]
    assert framer.feed(stream[cut:]) == [two]
    assert framer.feed(b"") == []


def test_framer_reads_the_compact_content_length() -> None:
    msg = sip_request("INFO", body="Signal=5").replace(b"Content-Length: 8", b"l: 8")
    assert StreamFramer().feed(msg + msg[:20]) == [msg]


def test_framer_refuses_an_endless_header_block() -> None:
    with pytest.raises(FramingError):
        StreamFramer().feed(b"INVITE sip:x SIP/2.0\r\n" + b"X: y\r\n" * 20000)


def test_framer_refuses_a_huge_body() -> None:
    with pytest.raises(FramingError):
        StreamFramer().feed(b"INFO sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n")


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")
async def test_a_call_over_tcp_with_sipp(tmp_path: Path) -> None:
    class HangUp(RecordingHandler):
        def call_confirmed(self, call: ServerCall) -> None:
            super().call_confirmed(call)
            asyncio.get_running_loop().call_later(0.2, call.hangup)

    handler = HangUp(auto_answer=ANSWER_SDP)
    server = SipServer(handler, host="127.0.0.1", port=free_port(socket.SOCK_STREAM), max_calls=5,
                       trusted=["127.0.0.1/32"])
    await server.start()
    try:
        run = SippRun(scenario="uac_basic_bye_from_uas", target=server.address,
                      local_port=free_port(socket.SOCK_STREAM), media_port=free_port_block(4)[0],
                      workdir=tmp_path, timeout_s=20, extra=("-t", "t1"))
        result = await run_sipp(run)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors[-2000:]
        assert handler.calls[0].transport == "TCP"
        assert handler.ended == [(handler.calls[0].call_id, EndReason.LOCAL_HANGUP)]
        assert server.active_calls == 0
    finally:
        await server.stop()


async def _recv(sock: socket.socket) -> SipRequest | SipResponse:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        data, _ = await loop.sock_recvfrom(sock, 65535)
    return SipMessage.parse(data)


async def test_stop_sends_bye_to_live_calls_and_waits_for_the_answer() -> None:
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    server = SipServer(handler, host="127.0.0.1", port=free_port(), max_calls=5, trusted=["127.0.0.0/8"])
    await server.start()
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        me = sock.getsockname()
        await loop.sock_sendto(sock, sip_request("INVITE", source=me, body=OFFER_SDP), server.address)
        statuses = [getattr(await _recv(sock), "status_code", 0) for _ in range(2)]
        assert statuses == [100, 200]
        tag = handler.calls[0].local_tag
        await loop.sock_sendto(sock, sip_request("ACK", branch="z9hG4bK-a", source=me, to_tag=tag),
                               server.address)
        stopping = asyncio.create_task(server.stop())
        bye = await _recv(sock)
        assert isinstance(bye, SipRequest) and bye.method == "BYE"
        assert not stopping.done()  # stop() waits for the BYE's answer (bounded by stop_grace)
        await loop.sock_sendto(sock, build_response(bye, 200), server.address)
        await stopping
    assert handler.ended == [(handler.calls[0].call_id, EndReason.SHUTDOWN)]  # issue 9: not "completed"
    assert server.active_calls == 0 and server.tracked_transactions == 0


async def test_the_receive_queue_counts_datagrams_not_yet_read_and_none_once_read() -> None:
    """What overload control's ``socket-backlog`` reads: the kernel's count of what waits."""
    server = SipServer(RecordingHandler(), host="127.0.0.1", port=free_port(), max_calls=5,
                       trusted=["127.0.0.1/32"])
    await server.start()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    try:
        assert server.receive_queue() == 0
        options = sip_request("OPTIONS", source=peer.getsockname())
        for _ in range(20):  # sent with no await between: the loop has not read any of them
            peer.sendto(options, server.address)
        assert server.receive_queue() >= 20 * len(options)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if server.receive_queue() == 0:
                break
        assert server.receive_queue() == 0
    finally:
        peer.close()
        await server.stop()
    assert server.receive_queue() == 0  # closed: nothing to read, no error


# --- no host name reaches sendto (a blocking getaddrinfo on the event loop) ---------------------


async def test_a_via_received_the_peer_wrote_itself_is_not_where_the_answer_goes() -> None:
    """sent-by = the source, no rport, and a ``received`` of the peer's own making (a host name
    here): the answer goes to the source (§18.2.2), with no DNS lookup in ``sendto``."""
    server = SipServer(RecordingHandler(), host="127.0.0.1", port=free_port(socket.SOCK_DGRAM), max_calls=5,
                       trusted=["127.0.0.1/32"])
    await server.start()
    loop = asyncio.get_running_loop()
    answers: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            answers.put_nowait(data)

    client, _ = await loop.create_datagram_endpoint(Client, local_addr=("127.0.0.1", 0))
    try:
        source = ("127.0.0.1", client.get_extra_info("sockname")[1])
        client.sendto(sip_request("OPTIONS", source=source, via_params=";received=nowhere.invalid"),
                      server.address)
        async with asyncio.timeout(10):  # a bound for a broken engine, not a measurement
            answer = SipMessage.parse(await answers.get())
        assert isinstance(answer, SipResponse) and answer.status_code == 200
    finally:
        client.close()
        await server.stop()


async def test_a_host_name_never_reaches_sendto_the_send_fails_at_once() -> None:
    transports = Transports()
    await transports.open("127.0.0.1", 0, lambda *_: None, lambda *_: None)
    try:
        with pytest.raises(ValueError, match="not an IP address"):  # UasCore.send: sip.send_failed
            transports.send(b"OPTIONS", ("nowhere.invalid", 5060), "UDP")
    finally:
        await transports.close()


def test_a_receive_buffer_the_kernel_capped_is_told_apart_from_one_it_granted() -> None:
    """Linux reports twice what it grants, capped at net.core.rmem_max: 2 x 212 992 (a common
    default) is capped, 8 MiB (4 MiB granted) is not; on this machine's real socket the answer
    follows its rmem_max (the engine then logs ``sip.rcvbuf_capped`` with the sysctl to raise it)."""
    from pathlib import Path

    from tui_engine.sip.transport import UDP_RECEIVE_BUFFER, receive_buffer_capped

    assert receive_buffer_capped(2 * 212_992)
    assert not receive_buffer_capped(2 * UDP_RECEIVE_BUFFER)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    assert receive_buffer_capped(granted) == (rmem_max < UDP_RECEIVE_BUFFER // 2)
