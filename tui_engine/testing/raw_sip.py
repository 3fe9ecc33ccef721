"""A raw UDP SIP caller for tests: requests written by hand, sent from a plain socket.

For what SIPp cannot say (a Via port of 70000, an SDP ``c=`` host name, an ACK held back) and
for calls whose end the test must decide itself: a SIPp caller hangs up after a pause, so a
check made "while the call is up" raced that pause on a loaded machine.
"""

from __future__ import annotations

import asyncio
import socket


def raw_invite(port: int, call_id: str, *, via_port: int, c_line: str = "IN IP4 127.0.0.1",
               headers: str = "", media_port: int = 40000) -> bytes:  # fmt: skip
    """An INVITE to the engine on ``port`` with a PCMU offer (RTP to ``media_port``)."""
    sdp = (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc={c_line}\r\nt=0 0\r\n"
           f"m=audio {media_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")  # fmt: skip
    return (
        f"INVITE sip:100@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{via_port};branch=z9hG4bK-{call_id}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:raw@127.0.0.1>;tag=raw-{call_id}\r\n"
        f"To: <sip:100@127.0.0.1:{port}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:raw@127.0.0.1:{via_port}>\r\n"
        f"{headers}"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


async def final_response(sock: socket.socket) -> bytes:
    """The first final (non-1xx) response that arrives on ``sock`` (bounded: 10 s)."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    async with asyncio.timeout(10):
        while (data := await loop.sock_recv(sock, 65535)).startswith(b"SIP/2.0 1"):
            pass
    return data


def ack_for(invite: bytes, response: bytes) -> bytes:
    """§17.1.1.3: the ACK of a non-2xx, on the INVITE's branch, with the response's To."""
    head = invite.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    to = next(line for line in response.split(b"\r\n") if line.lower().startswith(b"to:"))
    lines = [head[0].replace(b"INVITE", b"ACK", 1)]
    for line in head[1:]:
        name = line.split(b":", 1)[0].lower()
        if name == b"to":
            lines.append(to)
        elif name == b"cseq":
            lines.append(b"CSeq: 1 ACK")
        elif name not in (b"content-type", b"content-length", b"contact"):
            lines.append(line)
    return b"\r\n".join([*lines, b"Content-Length: 0", b"", b""])


def in_dialog(invite: bytes, ok: bytes, method: str, cseq: int) -> bytes:
    """ACK (of a 2xx) or BYE in the dialog ``ok`` set up, on a branch of its own."""
    request = ack_for(invite, ok).replace(b"CSeq: 1 ACK", f"CSeq: {cseq} {method}".encode())
    request = request.replace(b"ACK sip:", f"{method} sip:".encode(), 1)
    return request.replace(b";branch=z9hG4bK-", f";branch=z9hG4bK-{method}-".encode(), 1)
