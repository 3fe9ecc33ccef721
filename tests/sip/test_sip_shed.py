"""The quick read of INVITEs and ACKs under overload (``sip/shed.py``): the shortcut for the
common shape reads exactly what the general quick read does (or leaves the message to it), and
the 503 joined from the few headers read is byte for byte the full path's ``build_response``."""

from __future__ import annotations

from aiosipua.headers import parse_via
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_engine.sip import shed
from tui_engine.sip.message import build_response, parse_datagram, stamped_via

SOURCE = ("127.0.0.1", 5999)

SIPP_INVITE = (
    b"INVITE sip:200@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-26581-1249-0;rport\r\n"
    b'From: "sipp" <sip:sipp@127.0.0.1:5999>;tag=26581SIPpTag1249\r\n'
    b"To: <sip:200@127.0.0.1:5060>\r\n"
    b"Call-ID: 1249-26581@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:sipp@127.0.0.1:5999>\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 0\r\n\r\n"
)
SIPP_ACK = (
    b"ACK sip:200@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-26581-1249-0;rport\r\n"
    b'From: "sipp" <sip:sipp@127.0.0.1:5999>;tag=26581SIPpTag1249\r\n'
    b"To: <sip:200@127.0.0.1:5060>;tag=5085e2dd4f397ab4\r\n"
    b"Call-ID: 1249-26581@127.0.0.1\r\n"
    b"CSeq: 1 ACK\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_what_sipp_sends_takes_the_shortcut_and_reads_the_same() -> None:
    for data in (SIPP_INVITE, SIPP_ACK):
        common = shed._common_request(data)
        assert common is not None and common == shed._request(data) == shed.quick_request(data)
    ack = shed._common_request(SIPP_ACK)
    assert ack is not None and ack.to_tag == "5085e2dd4f397ab4" and ack.method == "ACK"


def test_invites_in_other_orders_and_with_more_lines_take_the_shortcut() -> None:
    proxy = b"\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKp"
    behind_proxy = SIPP_INVITE.replace(b"\r\nVia: ", proxy + b"\r\nVia: ", 1)
    lines = SIPP_INVITE.split(b"\r\n")
    reordered = b"\r\n".join([lines[0], *reversed(lines[1:-2]), b"", b""])
    blanks = SIPP_INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 INVITE \t").replace(b"Call-ID: ", b"Call-ID:  ")
    lookalikes = SIPP_INVITE.replace(b"\r\nContact:", b"\r\nCall-Info: <http://a>\r\nSubject: x\r\nContact:")
    for data in (behind_proxy, reordered, blanks, lookalikes):
        common = shed._common_request(data)
        assert common is not None and common == shed._request(data)
    assert shed._common_request(behind_proxy).headers["via"][1].startswith("SIP/2.0/UDP 127.0.0.1")  # type: ignore[union-attr]


def test_shapes_the_shortcut_leaves_to_the_general_read() -> None:
    folded = SIPP_INVITE.replace(b"\r\nCall-ID:", b"\r\nSubject: a\r\n b\r\nCall-ID:")
    bare_lf = SIPP_INVITE.replace(b"\r\nCSeq:", b"\nCSeq:")
    rfc2543 = SIPP_INVITE.replace(b"branch=z9hG4bK-", b"branch=old-")
    tagged = SIPP_INVITE.replace(b"To: <sip:200@127.0.0.1:5060>", b"To: <sip:200@127.0.0.1:5060>;tag=x")
    ipv6 = SIPP_INVITE.replace(b"UDP 127.0.0.1:5999", b"UDP [::1]:5999")
    latin = SIPP_INVITE.replace(b'"sipp"', '"Jos\u00e9"'.encode())
    apart = SIPP_INVITE.replace(b"\r\nCSeq: 1 INVITE", b"\r\nCSeq: 1 INV\rITE").replace(b"Max-", b"Max\n-")
    control = SIPP_INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 7\x7f")
    for data in (folded, bare_lf, rfc2543, tagged, ipv6, latin, apart, control):
        assert shed._common_request(data) is None
        assert shed.quick_request(data) == shed._request(data)
    assert shed.quick_request(rfc2543) is not None and shed.quick_request(tagged) is not None


_NAME_FORMS = {
    "Via": ["Via", "v", "VIA", "V"], "From": ["From", "f", "FROM"], "To": ["To", "t", "TO"],
    "Call-ID": ["Call-ID", "i", "call-id"], "CSeq": ["CSeq", "CSEQ", "cseq"],
}
_spaces = st.sampled_from(["", " ", "  ", "\t"])
_token = st.text("abcXYZ019-.!%*_+`'~", min_size=1, max_size=8)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """INVITEs and ACKs in legal and a few unusual shapes (compact and cased names, spacing,
    Via with or without port and received/rport, old branches, tags, quoted names, several Vias,
    odd characters): whatever the shortcut accepts must read as the general read does."""
    method = draw(st.sampled_from(["INVITE", "ACK"]))

    def header(name: str, value: str) -> str:
        form = draw(st.sampled_from(_NAME_FORMS[name]))
        return f"{form}{draw(_spaces)}:{draw(_spaces)}{value}{draw(_spaces)}"

    branch = draw(st.sampled_from(["z9hG4bK", "z9hG4bK", "Z9HG4BK", "old"])) + draw(_token)
    port = draw(st.sampled_from(["", ":5060", ":5999", ":x"]))
    host = draw(st.sampled_from(["127.0.0.1", "127.0.0.2", "caller.example", "127.0.0.1"]))
    params = draw(st.sampled_from(["", ";rport", ";rport=7", ";received=10.0.0.1", ";x=1;rport", ";RPORT"]))
    proto = draw(st.sampled_from(["SIP/2.0/UDP", "SIP/2.0/udp", "SIP/2.0/TCP", "SIP / 2.0 / UDP"]))
    via = f"{proto}{draw(st.sampled_from([' ', '  ']))}{host}{port};branch={branch}{params}"
    to_tag = draw(st.sampled_from(["", ";tag=abc", ";TAG=abc", ";tag = abc"]))
    display = draw(st.sampled_from(["", '"Bob" ', '"a;tag=b" ', "Bob "]))
    lines = [f"{method} sip:200@127.0.0.1 SIP/2.0", header("Via", via)]
    lines += [header("Via", "SIP/2.0/UDP proxy.example;branch=z9hG4bKp")] * draw(st.integers(0, 2))
    lines += [
        header("From", f'"sipp" <sip:sipp@{host}>;tag={draw(_token)}'),
        header("To", f"{display}<sip:200@127.0.0.1>{to_tag}"),
        header("Call-ID", draw(_token) + draw(st.sampled_from(["", "@host"]))),
        header("CSeq", f"{draw(st.sampled_from(['1', '2', '007', '4294967296']))} "
                       f"{draw(st.sampled_from([method, method, 'BYE']))}"),
        *draw(st.lists(st.sampled_from(["Max-Forwards: 70", "Subject: x", "Contact: <sip:a@b>"]),
                       max_size=3)),
        "Content-Length: 0",
    ]
    text = "\r\n".join(draw(st.permutations(lines[1:])) if draw(st.booleans()) else lines[1:])
    text = f"{lines[0]}\r\n{text}\r\n\r\n"
    odd = draw(st.sampled_from(["", "", "", "\x00", "\x1f", "\u00e9", "\r", "\n"]))
    if odd:
        at = draw(st.integers(0, len(text) - 5))
        text = text[:at] + odd + text[at:]
    return text.encode()


def general(data: bytes) -> shed.QuickRequest | None:
    return shed._request(data) if data.startswith((b"INVITE ", b"ACK ")) else None


@settings(max_examples=250, deadline=None)
@given(requests())
def test_the_shortcut_reads_what_the_general_read_does(data: bytes) -> None:
    common = shed._common_request(data)
    assert common is None or common == general(data)
    assert shed.quick_request(data) == general(data)


@settings(max_examples=150, deadline=None)
@given(requests())
def test_the_quick_503_is_the_full_paths_bytes(data: bytes) -> None:
    req = shed.quick_request(data)
    if req is None or req.method != "INVITE" or req.to_tag is not None:
        return
    top_via, _ = stamped_via(parse_via(req.headers["via"][0]), SOURCE)
    quick_top, _ = stamped_via(req.via, SOURCE)
    assert quick_top == top_via
    msg = parse_datagram(data)
    if top_via is not None:
        msg.headers.get("via")[0] = top_via
    extra = [("Retry-After", "5")]
    full = build_response(msg, 503, to_tag="t0", headers=extra)
    assert shed.quick_response(req, 503, top_via=top_via or req.headers["via"][0], to_tag="t0",
                               headers=extra) == full
