"""The plain-message reader and writer of :mod:`tui_engine.sip.wire` give what aiosipua gives.

``parse_plain`` must return the very message ``SipMessage.parse`` returns (header store, the
original names, their order, the body, the start line) or ``None`` (aiosipua's parser is then
used, unchanged); ``serialize_response`` the very bytes of ``bytes(SipResponse(...))``;
``tag_of`` the tag ``parse_address`` finds. Checked on every RFC 4475 message of the corpus,
on the messages the engine's own tests send, and on generated ones (Hypothesis).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiosipua.headers import CaseInsensitiveDict, parse_address, parse_via
from aiosipua.message import SipMessage, SipRequest, SipResponse
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tui_engine.sip.message import build_response, parse_datagram
from tui_engine.sip.syntax import content_length_values
from tui_engine.sip.wire import parse_plain, serialize_response, tag_of, via_of
from tui_engine.testing.sip_fake import sip_request

CORPUS = Path(__file__).parent / "rfc4475"


def _fields(msg: SipRequest | SipResponse) -> dict[str, Any]:
    start = (msg.method, msg.uri) if isinstance(msg, SipRequest) else (msg.status_code, msg.reason_phrase)
    return {
        "type": type(msg), "start": start, "body": msg.body,
        "store": list(msg.headers._store.items()), "names": list(msg.headers._original.items()),
        "bytes": bytes(msg),
    }


def _same_as_aiosipua(data: bytes) -> bool:
    """True when the quick reader read ``data`` (and then exactly as aiosipua does)."""
    try:
        quick = parse_plain(data)
    except (ValueError, IndexError):
        with pytest.raises((ValueError, IndexError)):
            SipMessage.parse(data)
        return True
    if quick is None:
        return False
    assert _fields(quick) == _fields(SipMessage.parse(data))
    return True


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.dat")), ids=lambda p: p.stem)
def test_every_rfc4475_message_reads_as_aiosipua_reads_it(path: Path) -> None:
    _same_as_aiosipua(path.read_bytes())


def test_the_messages_of_a_call_take_the_quick_reader() -> None:
    invite = sip_request("INVITE", body="v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n",
                         headers=[("Allow", "INVITE, ACK, BYE"), ("Supported", "timer, replaces")])
    for data in (invite, sip_request("BYE"), sip_request("ACK"), sip_request("OPTIONS")):
        assert _same_as_aiosipua(data)
    ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\nCall-ID: a\r\n\r\n"
    assert _same_as_aiosipua(ok)


def test_unusual_shapes_go_to_aiosipua() -> None:
    base = sip_request("OPTIONS")
    folded = base.replace(b"\r\nCSeq:", b"\r\n  ;x=1\r\nCSeq:", 1)
    for data in (base.replace(b"\r\n", b"\n"), base.replace(b"Call-ID", b"Call\rID"), folded,
                 base.replace(b"\r\n\r\n", b"\r\n")):
        assert parse_plain(data) is None
        parse_datagram(data)  # aiosipua's parser answers it, as before


_NAMES = st.sampled_from([
    "Via", "v", "VIA", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m", "Route",
    "Record-Route", "Allow", "Supported", "k", "Require", "Accept", "Content-Length", "l",
    "Content-Type", "c", "X-Custom", "Subject", "s", " Via ", "Max-Forwards", "e", "Warning",
])
_VALUE = st.lists(st.sampled_from([*'ab<>", ;=:@\t\xe9', "sip:x@h"]), max_size=20).map("".join)
_LINE = st.one_of(
    st.tuples(_NAMES, _VALUE).map(lambda nv: f"{nv[0]}:{nv[1]}"),
    st.tuples(_NAMES, _VALUE).map(lambda nv: f"{nv[0]} : {nv[1]} "),
    _VALUE,  # no colon, or a stray one
)


@st.composite
def _messages(draw: st.DrawFn) -> bytes:
    start = draw(st.sampled_from([
        "INVITE sip:a@b SIP/2.0", "BYE sip:x SIP/2.0", "SIP/2.0 200 OK", "SIP/2.0 486", "SIP/2.0 x y",
        "ACK", " OPTIONS  sip:y  SIP/2.0 ", "", "SIP/",
    ]))
    lines = draw(st.lists(_LINE, max_size=12))
    eol = draw(st.sampled_from(["\r\n", "\r\n", "\r\n", "\n", "\r"]))
    body = draw(st.sampled_from(["", "v=0\r\n", "x" * 20]))
    length = draw(st.sampled_from([None, "0", "5", "200", "-1", "x", str(len(body))]))
    if length is not None:
        lines.insert(draw(st.integers(0, len(lines))), f"Content-Length: {length}")
    if draw(st.booleans()) and lines:
        lines.insert(draw(st.integers(1, len(lines))), draw(st.sampled_from([" folded", "\tmore"])))
    return (eol.join([start, *lines]) + "\r\n\r\n" + body).encode()


@settings(max_examples=400, deadline=None)
@given(_messages())
@example(b"INVITE sip:a@b SIP/2.0\r\nVia: a, b ,\r\nContact: <sip:a,b>, c\r\n\r\n")
@example(b"INVITE sip:a@b SIP/2.0\r\nAllow: ,\r\nm:\r\ni: x\r\nl: 3\r\n\r\nabcdef")
def test_any_message_reads_as_aiosipua_reads_it(data: bytes) -> None:
    if _same_as_aiosipua(data):
        head = data[: data.find(b"\r\n\r\n")]
        try:
            parsed = SipMessage.parse(data)
        except (ValueError, IndexError):
            return
        # what check_headers relies on for a plain message: the parse counted every Content-Length
        assert len(parsed.headers.get("content-length")) == len(content_length_values(head))


_HEADER = st.tuples(
    st.sampled_from(["Via", "via", "Contact", "Allow", "Content-Length", "content-length", "X-a-b",
                     "record-route", "Record-Route", "Server", "Retry-After", "x:y", "a\nb"]),
    st.text(alphabet=st.sampled_from(list("ab ;=<>,\r\n\xe9")), max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.integers(100, 699), st.sampled_from(["OK", "", "Not Found"]), st.lists(_HEADER, max_size=8),
       st.sampled_from([b"", b"v=0\r\n"]))
def test_responses_are_written_as_aiosipua_writes_them(
    status: int, reason: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    expected: bytes | type[ValueError]
    try:
        store = CaseInsensitiveDict()
        for name, value in headers:
            store.append(name, value)
        expected = bytes(SipResponse(headers=store, body=body, status_code=status, reason_phrase=reason))
    except ValueError:
        expected = ValueError
    try:
        got: bytes | type[ValueError] = serialize_response(status, reason, headers, body)
    except ValueError:
        got = ValueError
    assert got == expected


def test_build_response_echoes_the_request() -> None:
    msg = SipMessage.parse(sip_request("INVITE", headers=[("Record-Route", "<sip:p;lr>")]))
    assert isinstance(msg, SipRequest)
    data = build_response(msg, 200, to_tag="abc", headers=[("Contact", "<sip:e>"), ("Allow", "INVITE")],
                          body=b"v=0\r\n", content_type="application/sdp")
    out = SipMessage.parse(data)
    assert isinstance(out, SipResponse) and out.status_code == 200 and out.reason_phrase == "OK"
    for name in ("via", "from", "call-id", "cseq"):
        assert out.headers.get(name) == msg.headers.get(name)
    assert out.headers.get("to") == [f"{msg.headers.get('to')[0]};tag=abc"]
    assert data.endswith(b"Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*'<>;= "tagTAGx:@,', "sip:a@b", "tag=1"]), max_size=20).map("".join))
@example('"A" <sip:a@b>;tag=1;x')
@example("sip:a@b;transport=udp; TAG = 7 ;tag=8")
@example("<sip:a@b;tag=uri>")
def test_tag_of_is_parse_address_tag(value: str) -> None:
    assert tag_of(value) == parse_address(value).params.get("tag")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*"/ ;=:[]\tx5", "SIP", "2.0", "UDP", "tcp", "127.0.0.1", "::1",
                                 "branch=z9hG4bK1", "rport", "received=h"]), max_size=20).map("".join))
@example("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;rport")
@example(" SIP / 2.0 / TCP [::1]:5061 ; branch = x ;maddr")
@example("SIP/2.0/UDP [::1")
@example("SIP/2.0/UDP host:port")
def test_via_of_is_parse_via(value: str) -> None:
    assert via_of(value) == parse_via(value)


def _label_as_before(data: bytes) -> str:
    """What ``message_label`` says (its rule restated): the first word, when the first 64 bytes
    hold a space; a response's three digits; a known method; another token; else malformed."""
    import re

    from tui_engine.sip.message import KNOWN_METHODS

    word = data.split(b" ", 1)[0] if b" " in data[:64] else b""
    if word[:4] == b"SIP/":
        digits = re.fullmatch(rb"[0-9]{3}", data[len(word) + 1 : len(word) + 4])
        return digits.group().decode() if digits else "malformed"
    if word.decode("ascii", "replace") in KNOWN_METHODS:
        return word.decode()
    return "other" if re.fullmatch(rb"[A-Za-z0-9\-.!%*_+`'~]+", word) else "malformed"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"INVITE", b"ACK", b"BYE", b"SIP/2.0", b" ", b"200", b"x", b"\xff",
                                 b"FOO", b"invite", b"-" * 70, b"12"]), max_size=8).map(b"".join))
def test_the_metric_label_is_as_before(data: bytes) -> None:
    from tui_engine.sip.message import message_label

    assert message_label(data) == _label_as_before(data)
