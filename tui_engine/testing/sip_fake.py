"""A hand-written fake network for the sans-I/O SIP endpoint, plus a tiny request builder.

``FakeSipNetwork.inject()`` feeds bytes as if they arrived from a peer; ``.sent`` records what
the endpoint sent (parsed, with destination). ``advance()`` moves a ``FakeClock`` forward one
deadline at a time and runs the timers due, so retransmission schedules are observable exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aiosipua.message import SipMessage, SipRequest, SipResponse

from tui_engine.core.clock import FakeClock
from tui_engine.sip.call import CallHandler, EndReason, ServerCall
from tui_engine.sip.endpoint import SipEndpoint
from tui_engine.sip.limits import Limits
from tui_engine.sip.message import Addr
from tui_engine.sip.session_timer import SessionTimerPolicy
from tui_engine.sip.timers import SipTimers

CALLER: Addr = ("127.0.0.1", 5070)


@dataclass(frozen=True, kw_only=True, slots=True)
class Sent:
    """One message the endpoint sent: when, where, and its parsed form."""

    at: float
    data: bytes
    addr: Addr
    transport: str

    @property
    def msg(self) -> SipRequest | SipResponse:
        return SipMessage.parse(self.data)

    @property
    def status(self) -> int:
        msg = self.msg
        return msg.status_code if isinstance(msg, SipResponse) else 0

    @property
    def method(self) -> str:
        msg = self.msg
        return msg.method if isinstance(msg, SipRequest) else (msg.cseq.method if msg.cseq else "")

    def header(self, name: str) -> str | None:
        return self.msg.headers.get_first(name)

    def summary(self) -> str:
        """``"100"``, ``"200 INVITE"``, ``"BYE"``: compact for assertions."""
        return f"{self.status} {self.method}" if self.status else self.method


class FakeSipNetwork:
    """An endpoint wired to a recording sender and a ``FakeClock``."""

    def __init__(
        self, handler: CallHandler, *, max_calls: int = 100, trusted: Sequence[str] = ("127.0.0.0/8",),
        timers: SipTimers | None = None, host: str = "127.0.0.1", port: int = 5060,
        session_policy: SessionTimerPolicy | None = None,
    ) -> None:
        self.clock = FakeClock(1000.0)
        self.sent: list[Sent] = []
        self.endpoint = SipEndpoint(
            handler, self, clock=self.clock, host=host, port=port,
            limits=Limits.parse(max_calls=max_calls, trusted=trusted), timers=timers,
            session_policy=session_policy,
        )

    def send(self, data: bytes, addr: Addr, transport: str) -> None:
        self.sent.append(Sent(at=self.clock.now(), data=data, addr=addr, transport=transport))

    def inject(self, data: bytes | str, source: Addr = CALLER, transport: str = "UDP") -> list[Sent]:
        """Deliver ``data`` now; returns what was sent in reaction."""
        start = len(self.sent)
        raw = data.encode() if isinstance(data, str) else data
        self.endpoint.receive(raw, source, transport, self.clock.now())
        return self.sent[start:]

    def advance(self, seconds: float) -> list[Sent]:
        """Move time forward by ``seconds``, stopping at each deadline to run its timers."""
        start = len(self.sent)
        end = self.clock.now() + seconds
        while True:
            nxt = self.endpoint.next_deadline()
            if nxt is None or nxt > end:
                break
            self.clock.set(max(nxt, self.clock.now()))
            self.endpoint.poll(self.clock.now())
        self.clock.set(end)
        return self.sent[start:]

    def take(self) -> list[Sent]:
        out, self.sent = self.sent, []
        return out


@dataclass
class RecordingHandler:
    """A ``CallHandler`` that records callbacks; optionally answers at once with ``auto_answer``."""

    auto_answer: str | None = None
    reoffer_answer: str | None = "v=0\r\n"
    info_status: int = 200  #: what ``call_info`` answers
    calls: list[ServerCall] = field(default_factory=list)
    confirmed: list[ServerCall] = field(default_factory=list)
    infos: list[tuple[str, bytes]] = field(default_factory=list)
    reoffers: list[str | None] = field(default_factory=list)
    ended: list[tuple[str, EndReason]] = field(default_factory=list)
    transfer_failures: list[tuple[str, int]] = field(default_factory=list)

    def incoming_call(self, call: ServerCall) -> None:
        self.calls.append(call)
        if self.auto_answer is not None:
            call.answer(self.auto_answer)

    def call_confirmed(self, call: ServerCall) -> None:
        self.confirmed.append(call)

    def call_info(self, call: ServerCall, content_type: str, body: bytes) -> int:
        self.infos.append((content_type, body))
        return self.info_status

    def call_reoffer(self, call: ServerCall, sdp: str | None) -> str | None:
        self.reoffers.append(sdp)
        return self.reoffer_answer

    def call_transfer_failed(self, call: ServerCall, status: int) -> None:
        self.transfer_failures.append((call.call_id, status))

    def call_ended(self, call: ServerCall, reason: EndReason) -> None:
        self.ended.append((call.call_id, reason))


def sip_request(
    method: str, *, call_id: str = "call-1", branch: str = "z9hG4bK-1", cseq: int = 1,
    cseq_method: str | None = None, from_tag: str = "caller-tag", to_tag: str | None = None,
    uri: str = "sip:100@127.0.0.1:5060", source: Addr = CALLER, via_params: str = ";rport",
    headers: Sequence[tuple[str, str]] = (), body: str = "", content_type: str | None = None,
) -> bytes:
    """A well-formed request from ``source`` (the caller); add headers via ``headers``."""
    to = "<sip:100@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {source[0]}:{source[1]};branch={branch}{via_params}",
        "Max-Forwards: 70",
        f"From: \"Caller\" <sip:alice@{source[0]}>;tag={from_tag}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        f"Contact: <sip:alice@{source[0]}:{source[1]}>",
        *(f"{k}: {v}" for k, v in headers),
    ]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


OFFER_SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)
ANSWER_SDP = (
    "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 41000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)
