"""The quick path of overload (``sip/shed.py``, the endpoint's ``_shed``) decides as the full path
does: for every INVITE it judges, an endpoint that sheds answers exactly what one that parses in
full answers, both told to refuse every new call. A valid new INVITE gets 503 either way; a
malformed one, or one the full path answers before overload control (400, 416, 505, 420, 415,
406), must get that answer from the quick path too, never a 503 that tells its caller to retry
what will never be taken. Checked on the RFC 4475 set and on generated INVITEs of the common
shape with legal and illegal changes drawn on top."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from tui_engine.sip import syntax
from tui_engine.testing.sip_fake import ANSWER_SDP, OFFER_SDP, FakeSipNetwork, RecordingHandler, sip_request

CORPUS = Path(__file__).parent / "rfc4475"
SOURCE = ("127.0.0.1", 5999)


def answers(data: bytes, *, shedding: bool) -> tuple[list[bytes], int]:
    """The status lines sent in reply to ``data`` and the calls the application saw."""
    handler = RecordingHandler()
    net = FakeSipNetwork(handler)
    net.endpoint.admission = lambda now: "loop-lag"  # overloaded: every new call refused
    if shedding:
        net.endpoint.shedding = lambda now: "loop-lag"
    sent = net.inject(data, SOURCE)
    return [s.data.split(b"\r\n", 1)[0] for s in sent], len(handler.calls)


def assert_same_decision(data: bytes) -> None:
    full = answers(data, shedding=False)
    assert answers(data, shedding=True) == full, data


@pytest.mark.parametrize("case", sorted(p.stem for p in CORPUS.glob("*.dat")))
def test_every_rfc4475_message_gets_the_full_paths_answer_while_shedding(case: str) -> None:
    assert_same_decision((CORPUS / f"{case}.dat").read_bytes())


@dataclass
class Invite:
    """An INVITE as lines, to be changed before it is written."""

    line: str = "INVITE sip:200@127.0.0.1:5060 SIP/2.0"
    headers: list[str] = field(default_factory=lambda: [
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-26581-1-0;rport",
        'From: "sipp" <sip:sipp@127.0.0.1:5999>;tag=26581SIPpTag1',
        "To: <sip:200@127.0.0.1:5060>",
        "Call-ID: 1-26581@127.0.0.1",
        "CSeq: 1 INVITE",
        "Contact: <sip:sipp@127.0.0.1:5999>",
        "Max-Forwards: 70",
        "Content-Type: application/sdp",
    ])
    body: str = OFFER_SDP
    length: str | None = None  #: the Content-Length value written (None: the body's)

    def add(self, header: str) -> None:
        self.headers.insert(1, header)

    def edit(self, name: str, old: str, new: str) -> None:
        self.headers = [h.replace(old, new, 1) if h.startswith(name) else h for h in self.headers]

    def bytes(self, shuffle: Random | None = None) -> bytes:
        headers = [*self.headers, f"Content-Length: {len(self.body) if self.length is None else self.length}"]
        if shuffle is not None:
            shuffle.shuffle(headers)  # header order is free (§7.3.1); both paths get the same bytes
        block = "".join(f"{header}\r\n" for header in headers)
        return f"{self.line}\r\n{block}\r\n{self.body}".encode()


def _set(**kw: object):  # type: ignore[no-untyped-def]
    def change(inv: Invite) -> None:
        for key, value in kw.items():
            setattr(inv, key, value)
    return change


#: legal shapes the quick path must read right, and what the full path answers otherwise
CHANGES = {
    # legal: unusual shapes of a new INVITE
    "compact names": lambda i: [i.edit(n, n, c) for n, c in (("Via:", "v:"), ("From:", "f:"), ("To:", "t:"),
                                                              ("Call-ID:", "i:"), ("Content-Type:", "c:"))],
    "upper-case names": lambda i: [i.edit(n, n, n.upper()) for n in ("Via:", "From:", "To:", "CSeq:")],
    "blanks around the colon": lambda i: i.edit("Call-ID:", "Call-ID:", "Call-ID \t:  "),
    "a proxy's Via": lambda i: i.add("Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKp1"),
    "Accept: application/sdp": lambda i: i.add("Accept: application/sdp, text/plain"),
    "Accept: */*": lambda i: i.add("Accept: */*"),
    "Require: timer": lambda i: i.add("Require: timer"),
    "Content-Type with a parameter":
        lambda i: i.edit("Content-Type:", "application/sdp", "Application/SDP; x=1"),
    "Content-Encoding: identity": lambda i: i.add("Content-Encoding: identity"),
    "tel: URI": _set(line="INVITE tel:+15551234 SIP/2.0"),
    "no body": _set(body=""),
    "more body than announced": _set(length="10"),
    # the full path's 400, 416, 505
    "Content-Length too big": _set(length="9999"),
    "Content-Length negative": _set(length="-1"),
    "Content-Length not a number": _set(length="x"),
    "Content-Length empty": _set(length=""),
    "Content-Length twice": lambda i: i.add(f"l: {len(i.body)}"),
    "Max-Forwards twice": lambda i: i.add("Max-Forwards: 69"),
    "Content-Type twice": lambda i: i.add("c: application/sdp"),
    "a proxy's Via without sent-by": lambda i: i.add("Via: SIP/2.0/UDP"),
    "a proxy's Via with an empty parameter": lambda i: i.add("Via: SIP/2.0/UDP 10.0.0.9;;branch=z9hG4bKp"),
    "top Via with an empty parameter": lambda i: i.edit("Via:", ";rport", ";;rport"),
    "top Via of another protocol": lambda i: i.edit("Via:", "SIP/2.0/UDP", "XIP/2.0/UDP"),
    "headers in the Request-URI": _set(line="INVITE sip:200@127.0.0.1?Subject=x SIP/2.0"),
    "a name-addr for a Request-URI": _set(line="INVITE <sip:200@127.0.0.1> SIP/2.0"),
    "an unknown URI scheme": _set(line="INVITE foo:200 SIP/2.0"),
    "a NUL in the Request-Line": _set(line="INVITE \x00sip:200@127.0.0.1 SIP/2.0"),
    "SIP/3.0": _set(line="INVITE sip:200@127.0.0.1 SIP/3.0"),
    "too many header lines": lambda i: i.headers.extend(["Subject: x"] * 260),
    "a line without a colon": lambda i: i.add("Garbage"),
    "CSeq of another method": lambda i: i.edit("CSeq:", "INVITE", "BYE"),
    # the full path's 420, 415, 406
    "Require: 100rel": lambda i: i.add("Require: 100rel, timer"),
    "Require empty": lambda i: i.add("Require:"),
    "Content-Type text/plain": lambda i: i.edit("Content-Type:", "application/sdp", "text/plain"),
    "Content-Encoding: gzip": lambda i: i.add("e: gzip"),
    "Accept: text/plain": lambda i: i.add("Accept: text/plain"),
    "Accept empty": lambda i: i.add("Accept:"),
}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(sorted(CHANGES)), max_size=3), st.none() | st.randoms())
def test_the_quick_path_answers_every_invite_as_the_full_path_does(
    changes: list[str], shuffle: Random | None
) -> None:
    invite = Invite()
    for name in changes:
        CHANGES[name](invite)
    assert_same_decision(invite.bytes(shuffle))


def test_the_common_shape_does_take_the_quick_path() -> None:
    """Not a vacuous comparison: the unchanged INVITE and its legal variants are refused by the
    quick read itself (no full parse), with the full path's 503."""
    from tui_engine.sip import shed

    for names in ([], ["compact names", "Accept: application/sdp", "Require: timer", "a proxy's Via"]):
        invite = Invite()
        for name in names:
            CHANGES[name](invite)
        data = invite.bytes()
        assert shed.quick_request(data) is not None, names
        assert answers(data, shedding=True) == ([b"SIP/2.0 503 Service Unavailable"], 0)


@pytest.mark.parametrize("change", [
    lambda ack: ack.replace(b"Content-Length: 0", b"Content-Length: 9"),
    lambda ack: ack.replace(b"ACK sip:", b"ACK <sip:", 1).replace(b" SIP/2.0\r\n", b"> SIP/2.0\r\n", 1),
    lambda ack: ack.replace(b"Max-Forwards: 70", b"Max-Forwards: 70\r\nMax-Forwards: 69"),
], ids=["Content-Length too big", "name-addr Request-URI", "Max-Forwards twice"])
def test_a_malformed_ack_is_dropped_by_the_quick_read_as_by_the_full_path(change: Any) -> None:
    """Every ACK is read quickly first (``_quick_ack``); one the full path refuses as malformed
    (dropped: an ACK is never answered) must not confirm the call either."""
    handler = RecordingHandler(auto_answer=ANSWER_SDP)
    net = FakeSipNetwork(handler)
    answer = net.inject(sip_request("INVITE", call_id="m1", branch="z9hG4bK-m1", body=OFFER_SDP,
                                    content_type="application/sdp"))
    tag = str(answer[-1].header("to")).split("tag=")[1]
    ack = sip_request("ACK", call_id="m1", branch="z9hG4bK-m1a", to_tag=tag)
    with capture_logs() as logs:
        assert net.inject(change(ack)) == []
    assert handler.confirmed == [] and [e["event"] for e in logs] == ["sip.malformed"]
    net.inject(ack)  # the well-formed one still confirms it
    assert [c.call_id for c in handler.confirmed] == ["m1"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"sip:", b"SIP:", b"sips:", b"tel:", b"sip", b""]),
       st.binary(max_size=12) | st.text("ab@?;=:<> \t.%\x7f\u00e9", max_size=12).map(str.encode))
def test_the_usual_request_uri_skips_the_regex_only_where_it_takes_it(scheme: bytes, rest: bytes) -> None:
    uri = scheme + rest
    slow_ok = syntax._ABSOLUTE_URI.fullmatch(uri) is not None and not (
        uri[:4].lower() in (b"sip:", b"sips") and b"?" in uri.partition(b"@")[2 if b"@" in uri else 0])
    try:
        syntax.check_request_uri(uri)
    except syntax.SipParseError:
        assert not slow_ok
    else:
        assert slow_ok
