"""Write this project's RFC 4475 test messages: one ``<case>.dat`` per case of the RFC.

    .venv/bin/python tests/sip/rfc4475/make_corpus.py     # rewrites every .dat next to this file

Every message here is our own (our hosts, tags, Call-IDs, branches, values and bodies), written
to reproduce the defect or the tortuous-but-valid shape that the RFC 4475 section named in its
comment describes. They are not the bytes of the RFC's Appendix B archive.

Conventions, as in the RFC's own text: each header line ends in CRLF (added by :func:`message`);
a line that starts with SP or HTAB continues the line before it (folding); the RFC's
``<hex>`` and ``<repeat>`` notations are written out as Python escapes and ``*`` repetition.
``{CL}`` in a header is replaced by the exact octet count of the body, so the valid messages
carry a Content-Length that is right; a case whose defect is the Content-Length writes it out.

Routing (see test_sip_rfc4475.py): UDP answers follow the top Via, so every sent-by is an
example.* host or a 192.0.2.x address (the engine adds ``received`` and answers the source
host) with port 5060, written or defaulted, except ``quotbal`` (5050). Several cases share the
branch :data:`SHARED`, as RFC 4475's messages share one: a UAS must tell their transactions apart
by more than the branch.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
SHARED = "z9hG4bKsame4475"  #: the branch that many cases reuse (RFC 4475 reuses one too)


def sdp(owner: str, ip: str) -> bytes:
    """A small, valid SDP offer with PCMU (RFC 4566); every INVITE that must be answered has one."""
    return (
        f"v=0\r\no={owner} 4475 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
        f"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    ).encode()


def message(lines: list[str], body: bytes = b"") -> bytes:
    """Start line and header lines, each ended by CRLF, the empty line, then the body."""
    head = "".join(f"{line}\r\n" for line in lines).replace("{CL}", str(len(body)))
    return head.encode() + b"\r\n" + body


CASES: dict[str, bytes] = {}

# 3.1.1.1 A short tortuous INVITE: LWS and line folding everywhere, header names in odd case and
# with space before the colon, leading zeros, an unknown header with a folded value and another
# made of separators, a Via not using the magic cookie, several Via and Contact values in one
# header, a quoted display name with escaped quotes, parameters with spaces around "=".
# It carries a To-tag, so it belongs to a dialog: a UAS that has none answers 481.
CASES["wsinv"] = message([
    "INVITE sip:vivien@example.com SIP/2.0",
    "TO :",
    " sip:vivien@example.com ;   tag    = 2c81ab7e",
    "from   : \"Caller Name\" <sip:caller@example.net>",
    "  ;",
    "  tag = 6f0d11",
    "MaX-fOrWaRdS: 0069",
    "Call-ID: wsinv.4k2j3h5g6f@192.0.2.44",
    "Content-Length   : {CL}",
    "cseq: 0012",
    "  INVITE",
    "Via  : SIP  /   2.0",
    " /UDP",
    "    192.0.2.44;branch=7713kdfowl",
    "s :",
    "NewFangledHeader:   a value that goes on",
    " and continues on the next line",
    "UnknownHeaderWithUnusualValue: ;;,,;;,;",
    "Content-Type: application/sdp",
    "Route:",
    " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
    "v:  SIP  / 2.0  / TCP     relay.example.org   ;",
    "  branch  =   z9hG4bK7d3e2a  ,",
    " SIP  /    2.0   / UDP  192.0.2.66   ; branch=",
    " z9hG4bK55120",
    "m:\"Quoted string \\\"\\\"\" <sip:caller@example.net> ; newparam =",
    "      newvalue ;",
    "  secondparam ; q = 0.33",
], sdp("caller", "192.0.2.44"))

# 3.1.1.2 Wide range of valid characters: a method name using every token character, a
# Request-URI whose user and password parts use the unusual but legal characters, a Via branch
# made of token characters, quoted-pairs of BEL, NUL and DEL in a display name, a display name of
# several tokens, a UTF-8 quoted parameter value, a Call-ID using word characters, and an
# extension header whose name uses token characters and whose value is UTF-8 (with a BOM).
# The method is unknown to us: 501.
CASES["intmeth"] = message([
    "!odd-Method9876543210_*+`.%surely'~ sip:1_strange.URI~(but-still!legal)&isn't+it$/wild?,/;;*"
    ":&it+has=2,odd!*pas$wo~d_as.well(see-it)@example.com SIP/2.0",
    "Via: SIP/2.0/TCP host3.example.com;branch=z9hG4bK-.!%42*_+`'~x",
    "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:1_strange.URI~(but-still!legal)&isn't+it$/wild?,/;;*"
    "@example.com>",
    "From: first~` second'+_ third*%!.- <sip:plain@example.com>;param''~+*_!.-%=\"значение\""
    ";tag=_tag~1'+`*%!-.",
    "Call-ID: intmeth.w%ZZ-!.*_+'@word`~)(><:\\/\"][?}{x",
    "CSeq: 287364 !odd-Method9876543210_*+`.%surely'~",
    "Max-Forwards: 255",
    "x-Odd-Header-!.%*+_`'~:\ufeff日本語のテキスト",
    "Content-Length: 0",
])

# 3.1.1.3 Valid use of the % escaping mechanism: escapes in the Request-URI user part (including
# an escaped ":" and "@"), in the To and From users (an escaped SP too) and in the Contact's
# user, parameter names and values (an escaped "%").
CASES["esc01"] = message([
    "INVITE sip:sips%3Aagent%40example.org@example.net SIP/2.0",
    "To: sip:%61ge%6Et@example.org",
    "From: <sip:A%20name%20with%20spaces@example.net>;tag=7b1c",
    "Max-Forwards: 68",
    "i: esc01.81kq20vbn4la9sd0-4475",
    "CSeq: 550012 INVITE",
    f"Via: SIP/2.0/UDP host7.example.net;branch={SHARED}",
    "C: application/sdp",
    "Contact: <sip:ag%65nt@host7.example.net;%6C%72;p%61ram=v%61l%25%34%32>",
    "Content-Length: {CL}",
], sdp("agent", "192.0.2.7"))

# 3.1.1.4 Escaped nulls in URIs: %00 in the To and From users and in the user part of two
# Contact URIs of a REGISTER. Valid; we are no registrar: 405.
CASES["escnull"] = message([
    "REGISTER sip:example.org SIP/2.0",
    "To: sip:zero-%00-zero@example.org",
    "From: sip:zero-%00-zero@example.org;tag=55d0e1",
    "Max-Forwards: 70",
    "Call-ID: escnull.2k3j4h5g6f7d8s9a0q",
    "CSeq: 77120 REGISTER",
    f"Via: SIP/2.0/UDP host8.example.org;branch={SHARED}",
    "Contact: <sip:%00@host8.example.org>",
    "Contact: <sip:%00%00@host8.example.org>",
    "L:0",
])

# 3.1.1.5 Use of % when it is not an escape: the method is RE%47IST%45R (a token, not REGISTER:
# methods are not unescaped), "%Z%45" in display names, "%fz" in a branch, and Contacts that
# are equal once unescaped. An unknown method: 501.
CASES["esc02"] = message([
    "RE%47IST%45R sip:registrar.example.org SIP/2.0",
    "To: \"%Z%45\" <sip:someone@example.org>",
    "From: \"%Z%45\" <sip:someone@example.org>;tag=a3f9e0",
    "Call-ID: esc02.qwe0rt9yu8io7p6",
    "Via: SIP/2.0/TCP host9.example.org;branch=z9hG4bK771%fzeqx2",
    "CSeq: 41221 RE%47IST%45R",
    "Max-Forwards: 70",
    "Contact: <sip:other1@host9.example.org>",
    "Contact: <sip:other%31@host9.example.org>",
    "Contact: <sip:other1@host9.example.org>",
    "L: 0",
])

# 3.1.1.6 Message with no LWS between display name and "<": valid.
CASES["lwsdisp"] = message([
    "OPTIONS sip:target@example.org SIP/2.0",
    "To: sip:target@example.org",
    "From: sender<sip:sender@example.org>;tag=9e1",
    "Max-Forwards: 70",
    "Call-ID: lwsdisp.77aa11@odd.example.org",
    "CSeq: 61 OPTIONS",
    f"Via: SIP/2.0/UDP odd.example.org;branch={SHARED}",
    "l: 0",
])

# 3.1.1.7 Long values in header fields: a very long display name, From parameters and tag, a
# long Call-ID, many Via header lines (the topmost an RFC 2543 Via without branch, one header
# carrying several values, a long branch), a long Record-Route set, a long Contact user and an
# unknown header with a long value. Valid.
_LONG = "0123456789" * 5
_VIAS = [f"Via: SIP/2.0/TCP hop{n}.example.com" for n in range(30, 10, -1)]
_VIAS.append("Via: " + ", ".join(f"SIP/2.0/TCP hop{n}.example.com" for n in range(10, 0, -1)))
_VIAS.append(f"Via: SIP/2.0/TCP origin.example.com;received=192.0.2.77;branch=z9hG4bK{'longbranch' * 10}")
CASES["longreq"] = message([
    "INVITE sip:receiver@example.com SIP/2.0",
    "To: \"A display name that goes on and on and on " + "and on " * 30 + "\" <sip:receiver@example.com>",
    f"From: sip:sender@example.net;tag={'9a8b7c6d' * 12};unknownparam1={_LONG * 3}"
    f";unknownparam2={_LONG * 3};unknownparam3={_LONG * 3}",
    f"Call-ID: longreq.{'callidcallid' * 40}@192.0.2.77",
    "CSeq: 1 INVITE",
    "Max-Forwards: 70",
    *_VIAS,
    "Record-Route: " + ", ".join(f"<sip:proxy{n}.example.org;lr>" for n in range(1, 41)),
    f"Contact: <sip:{'reachme' * 40}@origin.example.com>",
    f"X-Long-Extension-Header: {_LONG * 20}",
    "Content-Type: application/sdp",
    "l: {CL}",
], sdp("sender", "192.0.2.77"))

# 3.1.1.8 Extra trailing octets in a UDP datagram: a REGISTER with Content-Length 0 followed, in
# the same datagram, by a whole INVITE. Over UDP the octets after the body are discarded; on a
# stream they are the next message.
_DBL_INVITE = message([
    "INVITE sip:dana@example.com SIP/2.0",
    "t: sip:dana@example.com",
    "From: sip:caller@example.net;tag=310c2b",
    "Max-Forwards: 9",
    "Call-ID: dblreq.second.55ab93@192.0.2.31",
    "CSeq: 9 INVITE",
    f"Via: SIP/2.0/UDP 192.0.2.31;branch={SHARED}82x",
    "Content-Type: application/sdp",
    "Content-Length: {CL}",
], sdp("caller", "192.0.2.31"))
CASES["dblreq"] = message([
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:dana@example.com",
    "From: sip:dana@example.com;tag=91ff02e",
    "Max-Forwards: 9",
    "I: dblreq.first.0af3bb2c1d@192.0.2.30",
    "Contact: sip:dana@host30.example.com",
    "CSeq: 9 REGISTER",
    f"Via: SIP/2.0/UDP 192.0.2.30;branch={SHARED}81x",
    "Content-Length: 0",
]) + _DBL_INVITE

# 3.1.1.9 Semicolon-separated parameters in the URI user part: the ";" is part of the user.
CASES["semiuri"] = message([
    "OPTIONS sip:someone;attr=x%40example.org@example.com SIP/2.0",
    "To: sip:some_one@example.com",
    "From: sip:sender@example.org;tag=7a7a",
    "Max-Forwards: 4",
    "Call-ID: semiuri.kk29dj3n",
    "CSeq: 10 OPTIONS",
    "Accept: application/sdp, application/pkcs7-mime,",
    "        multipart/mixed, multipart/signed,",
    "        message/sip, message/sipfrag",
    f"Via: SIP/2.0/UDP 192.0.2.9;branch={SHARED}",
    "l: 0",
])

# 3.1.1.10 Varied and unknown transport types in Via: UDP, SCTP, TLS, an unknown one and TCP.
CASES["transports"] = message([
    "OPTIONS sip:target@example.org SIP/2.0",
    "To: sip:target@example.org",
    "From: <sip:sender@example.org>;tag=5b2",
    "Max-Forwards: 70",
    "Call-ID: transports.mm3n4b5v6c7x",
    "Accept: application/sdp",
    "CSeq: 62 OPTIONS",
    f"Via: SIP/2.0/UDP t1.example.org;branch={SHARED}",
    "Via: SIP/2.0/SCTP t2.example.org;branch=z9hG4bKsc7pq1",
    "Via: SIP/2.0/TLS t3.example.org;branch=z9hG4bKtl5wq2",
    "Via: SIP/2.0/UNKNOWN t4.example.org;branch=z9hG4bKun3rq3",
    "Via: SIP/2.0/TCP t5.example.org;branch=z9hG4bKtc1sq4",
    "l: 0",
])

# 3.1.1.11 Multipart MIME message: a MESSAGE whose multipart/mixed body has a text part and a
# binary part (octets of every kind, CR and LF among them); Content-Length counts them exactly.
_BOUNDARY = "c0ffee4475b0undary"
_BINARY = bytes((i * 37 + 11) % 256 for i in range(96))
_MPART = (
    f"--{_BOUNDARY}\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    "Good morning, this part is text.\r\n"
    f"--{_BOUNDARY}\r\nContent-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: binary\r\n\r\n"
).encode() + _BINARY + f"\r\n--{_BOUNDARY}--\r\n".encode()
CASES["mpart01"] = message([
    "MESSAGE sip:reader@example.org SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.130:5060;branch=z9hG4bK-4475-mp01-1;rport",
    "Max-Forwards: 70",
    "To: <sip:reader@example.org>",
    "From: <sip:writer@example.com>;tag=33de11",
    "Call-ID: mpart01.b8c7d6e5f4@192.0.2.130",
    "CSeq: 1 MESSAGE",
    "Date: Mon, 03 Aug 2026 09:30:00 GMT",
    "Mime-Version: 1.0",
    f"Content-Type: multipart/mixed;boundary={_BOUNDARY}",
    "Content-Transfer-Encoding: binary",
    "Content-Length: {CL}",
], _MPART)

# 3.1.1.12 Unusual reason phrase: a response whose reason phrase is UTF-8 (non-ASCII octets).
# A response to nothing we sent: dropped.
CASES["unreason"] = message([
    "SIP/2.0 200 Всё в порядке: двести = 2³ × 5² — 二百",
    "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK77ur01",
    "Call-ID: unreason.k3j2h1g0f9",
    "CSeq: 1 INVITE",
    "From: <sip:caller@example.com>;tag=21aa",
    "To: <sip:callee@example.net>;tag=9bb2",
    "Contact: <sip:callee@host198.example.net>",
    "Content-Type: application/sdp",
    "l: {CL}",
], sdp("callee", "192.0.2.198"))

# 3.1.1.13 Empty reason phrase: the status code is followed by SP and nothing else.
CASES["noreason"] = message([
    "SIP/2.0 100\x20",
    "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK88nr02",
    "Call-ID: noreason.q1w2e3r4t5",
    "CSeq: 1 INVITE",
    "From: <sip:caller@example.com>;tag=44ab",
    "To: <sip:callee@example.net>",
    "Content-Length: 0",
])

# 3.1.2.1 Extraneous header field separators: the Via has ";;,;,," (empty parameters and
# empty values, no branch) and the Contact ";;;;" (empty parameters). 400.
CASES["badinv01"] = message([
    "INVITE sip:target@example.com SIP/2.0",
    "To: sip:t.arget@example.com",
    "From: sip:caller@example.net;tag=8a7b6c5d4e",
    "Max-Forwards: 8",
    "Call-ID: badinv01.9m8n7b6v5c4x3z",
    "CSeq: 9 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.16;;,;,,",
    "Contact: \"Jo\" <sip:jo@example.org>;;;;",
    "Content-Length: {CL}",
    "Content-Type: application/sdp",
], sdp("jo", "192.0.2.16"))

# 3.1.2.2 Content-Length larger than the message: 9999 declared, a short SDP body sent.
# Over UDP: 400. On a stream the rest may still come (§18.3).
CASES["clerr"] = message([
    "INVITE sip:target@example.com SIP/2.0",
    "Max-Forwards: 81",
    "To: sip:target@example.com",
    "From: sip:caller@example.net;tag=0c1d",
    "Call-ID: clerr.p0o9i8u7y6",
    "CSeq: 9 INVITE",
    f"Via: SIP/2.0/UDP host6.example.com;branch={SHARED}",
    "Contact: <sip:caller@host6.example.com>",
    "Content-Type: application/sdp",
    "Content-Length: 9999",
], sdp("caller", "192.0.2.6"))

# 3.1.2.3 Negative Content-Length. 400.
CASES["ncl"] = message([
    "INVITE sip:target@example.com SIP/2.0",
    "Max-Forwards: 254",
    "To: sip:j.target@example.com",
    "From: sip:caller@example.net;tag=77e1",
    "Call-ID: ncl.0a9s8d7f6g5h",
    "CSeq: 9 INVITE",
    "Via: SIP/2.0/UDP host3.example.net;branch=z9hG4bK44nc1",
    "Content-Type: application/sdp",
    "Content-Length: -4475",
], sdp("caller", "192.0.2.3"))

# 3.1.2.4 Request scalar fields with overlarge values: a CSeq number beyond 2**32 (limit 2**31),
# Max-Forwards over 255, an Expires of a hundred-odd digits, a contact expires beyond 2**32.
# 400.
CASES["scalar02"] = message([
    "REGISTER sip:example.org SIP/2.0",
    "Via: SIP/2.0/TCP host130.example.org;branch=z9hG4bK55sc2",
    "To: <sip:member@example.org>",
    "From: <sip:member@example.org>;tag=41ac9",
    "CSeq: 73786976294838206464 REGISTER",
    "Call-ID: scalar02.x8c7v6b5n4m3",
    "Max-Forwards: 512",
    "Expires: 9" + "0" * 100,
    "Contact: <sip:member@host130.example.org>;expires=980297596632815",
    "Content-Length: 0",
])

# 3.1.2.5 Response scalar fields with overlarge values: a CSeq number, a Retry-After and a
# Warning code out of range, in a response (a 503). Not a response to us: dropped.
CASES["scalarlg"] = message([
    "SIP/2.0 503 Service Unavailable",
    "Via: SIP/2.0/TCP host131.example.org;branch=z9hG4bK66sl3;received=192.0.2.131",
    "To: <sip:member@example.org>",
    "From: <sip:other@example.net>;tag=8f8e",
    "CSeq: 8292394834772304023312 OPTIONS",
    "Call-ID: scalarlg.z1x2c3v4b5n6m7",
    "Retry-After: 849302838503028349304023988",
    "Warning: 1944 overload \"Still Going\"",
    "Content-Length: 0",
])

# 3.1.2.6 Unterminated quoted string in display name: the To display name opens a quote that
# never closes. A robust UAS may infer the quote (the RFC allows it). Sent-by port 5050.
CASES["quotbal"] = message([
    "INVITE sip:target@example.com SIP/2.0",
    "To: \"Ms. T. Arget <sip:t.arget@example.com>",
    "From: sip:caller@example.net;tag=60a1",
    "Max-Forwards: 11",
    "Call-ID: quotbal.g5h6j7k8",
    "Contact: <sip:caller@host60.example.net>",
    "CSeq: 9 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.60:5050;branch=z9hG4bK99qb6",
    "Content-Type: application/sdp",
    "Content-Length: {CL}",
], sdp("caller", "192.0.2.60"))

# 3.1.2.7 <> enclosing Request-URI. 400.
CASES["ltgtruri"] = message([
    "INVITE <sip:target@example.com> SIP/2.0",
    "To: sip:target@example.com",
    "From: sip:caller@example.net;tag=21c3",
    "Max-Forwards: 24",
    "Call-ID: ltgtruri.2@192.0.2.45",
    "CSeq: 2 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.45",
    "Contact: <sip:caller@host45.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: {CL}",
], sdp("caller", "192.0.2.45"))

# 3.1.2.8 Malformed SIP Request-URI (embedded LWS): "; lr" after the URI. 400.
CASES["lwsruri"] = message([
    "INVITE sip:target@example.com; lr SIP/2.0",
    "To: sip:target@example.com",
    "From: sip:caller@example.net;tag=3d4e",
    "Max-Forwards: 24",
    "Call-ID: lwsruri.v5b6n7m8",
    "CSeq: 2 INVITE",
    f"Via: SIP/2.0/UDP 192.0.2.26;branch={SHARED}",
    "Contact: <sip:caller@host26.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: {CL}",
], sdp("caller", "192.0.2.26"))

# 3.1.2.9 Multiple SP separating Request-Line elements. 400 (rejecting is allowed).
CASES["lwsstart"] = message([
    "INVITE  sip:target@example.com  SIP/2.0",
    "Max-Forwards: 9",
    "To: sip:target@example.com",
    "From: sip:caller@example.net;tag=5f6a",
    "Call-ID: lwsstart.q9w8e7r6",
    "CSeq: 2 INVITE",
    f"Via: SIP/2.0/UDP host2.example.com;branch={SHARED}",
    "Contact: <sip:caller@host2.example.com>",
    "Content-Type: application/sdp",
    "Content-Length: {CL}",
], sdp("caller", "192.0.2.2"))

# 3.1.2.10 SP characters at end of Request-Line: two SP after the version. 400 (allowed).
CASES["trws"] = message([
    "OPTIONS sip:remote-end@example.org SIP/2.0\x20\x20",
    "Via: SIP/2.0/TCP host4.example.org;branch=z9hG4bK310077112",
    "Max-Forwards: 70",
    "From: sip:local-end@example.com;tag=7c8d",
    "To: sip:remote-end@example.org",
    "Call-ID: trws.a1s2d3f4g5h6",
    "Accept: application/sdp",
    "CSeq: 2344 OPTIONS",
    "Content-Length: 0",
])

# 3.1.2.11 Escaped headers in SIP Request-URI: "?Route=%3C...%3E" (headers are not allowed in a
# Request-URI). 400 (allowed).
CASES["escruri"] = message([
    "INVITE sip:target@example.com?Route=%3Csip:example.org%3E SIP/2.0",
    "To: sip:target@example.com",
    "From: sip:caller@example.net;tag=9e0f",
    "Max-Forwards: 24",
    "Call-ID: escruri.z0x9c8v7",
    "CSeq: 2 INVITE",
    f"Via: SIP/2.0/UDP host9.example.net;branch={SHARED}",
    "Contact: <sip:caller@host9.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: {CL}",
], sdp("caller", "192.0.2.90"))

# 3.1.2.12 Invalid time zone in Date header field: a Date not in GMT.
CASES["baddate"] = message([
    "INVITE sip:target@example.com SIP/2.0",
    "To: sip:target@example.com",
    "From: sip:caller@example.net;tag=b0c1",
    "Max-Forwards: 70",
    "Call-ID: baddate.l9k8j7h6g5",
    "CSeq: 2 INVITE",
    f"Via: SIP/2.0/UDP host10.example.net;branch={SHARED}",
    "Date: Thu, 04 Jun 2026 11:45:00 PDT",
    "Contact: <sip:caller@host10.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: {CL}",
], sdp("caller", "192.0.2.100"))

# 3.1.2.13 Failure to enclose name-addr URI in <>: a Contact URI with a "?" header part and no
# angle brackets, in a REGISTER.
CASES["regbadct"] = message([
    "REGISTER sip:example.org SIP/2.0",
    "To: sip:member@example.org",
    "From: sip:member@example.org;tag=d2e3",
    "Max-Forwards: 70",
    "Call-ID: regbadct.f5g6h7j8k9@192.0.2.18",
    "CSeq: 2 REGISTER",
    f"Via: SIP/2.0/UDP 192.0.2.18;branch={SHARED}",
    "Contact: sip:member@example.org?Route=%3Csip:registrar.example.org%3E",
    "l: 0",
])

# 3.1.2.14 Spaces within addr-spec: "< sip:... >" with SP inside the angle brackets.
# A robust UAS may accept it (the RFC allows it).
CASES["badaspec"] = message([
    "OPTIONS sip:member@example.org SIP/2.0",
    "Via: SIP/2.0/UDP host11.example.com:5060;branch=z9hG4bK12ba4",
    "Max-Forwards: 70",
    "From: \"Lovelace, Ada\" <sip:a.lovelace@example.com>;tag=2f9a",
    "To: \"Babbage, Charles\" < sip:c.babbage@example.org >",
    "Call-ID: badaspec.sdf0324-d0g",
    "Accept: application/sdp",
    "CSeq: 4475120 OPTIONS",
    "l: 0",
])

# 3.1.2.15 Non-token characters in display name: an unquoted display name holding "," .
# A robust UAS may accept it (the RFC allows it). The message is complete (it ends with the
# empty line), as the RFC's text shows it.
CASES["baddn"] = message([
    "OPTIONS sip:c.babbage@example.org SIP/2.0",
    f"Via: SIP/2.0/UDP d.example.com:5060;branch={SHARED}",
    "Max-Forwards: 70",
    "From: Lovelace, Ada <sip:a.lovelace@example.com>;tag=51",
    "To: Babbage, Charles <sip:c.babbage@example.org>",
    "Call-ID: baddn.27182@d.example.com",
    "Accept: application/sdp",
    "CSeq: 4475121 OPTIONS",
    "l: 0",
])

# 3.1.2.16 Unknown protocol version: SIP/7.0 in the Request-Line (and Via). 505.
CASES["badvers"] = message([
    "OPTIONS sip:c.babbage@example.org SIP/7.0",
    f"Via: SIP/7.0/UDP d.example.com;branch={SHARED}",
    "Max-Forwards: 70",
    "From: A. Lovelace <sip:a.lovelace@example.com>;tag=52",
    "To: C. Babbage <sip:c.babbage@example.org>",
    "Call-ID: badvers.16180@d.example.com",
    "Accept: application/sdp",
    "CSeq: 4475122 OPTIONS",
    "l: 0",
])

# 3.1.2.17 Start line and CSeq method mismatch: OPTIONS with CSeq method INVITE. 400.
CASES["mismatch01"] = message([
    "OPTIONS sip:target@example.com SIP/2.0",
    "To: sip:j.target@example.com",
    "From: sip:caller@example.net;tag=4a5b",
    "Max-Forwards: 6",
    "Call-ID: mismatch01.h6j7k8l9",
    "CSeq: 9 INVITE",
    f"Via: SIP/2.0/UDP host12.example.com;branch={SHARED}",
    "l: 0",
])

# 3.1.2.18 Unknown method with CSeq method mismatch: NEWMETHOD with CSeq INVITE, an SDP body.
# 400 (501 is the RFC's other answer).
CASES["mismatch02"] = message([
    "NEWMETHOD sip:target@example.com SIP/2.0",
    "To: sip:j.target@example.com",
    "From: sip:caller@example.net;tag=6c7d",
    "Max-Forwards: 6",
    "Call-ID: mismatch02.m1n2b3v4",
    "CSeq: 9 INVITE",
    f"Via: SIP/2.0/UDP host13.example.net;branch={SHARED}",
    "Contact: <sip:caller@host13.example.net>",
    "Content-Type: application/sdp",
    "l: {CL}",
], sdp("caller", "192.0.2.13"))

# 3.1.2.19 Overlarge response code: 4294967301 (more than 3 digits, beyond 2**32). Dropped.
CASES["bigcode"] = message([
    "SIP/2.0 4294967301 this code will not fit anywhere",
    "Via: SIP/2.0/UDP 192.0.2.106;branch=z9hG4bK33bc9",
    "From: <sip:caller@example.com>;tag=8e9f",
    "To: <sip:callee@example.net>;tag=0a1b",
    "Call-ID: bigcode.w2e3r4t5",
    "CSeq: 353 OPTIONS",
    "Content-Length: 0",
])

# 3.2.1 Missing transaction identifier: the branch is the magic cookie "z9hG4bK" alone.
CASES["badbranch"] = message([
    "OPTIONS sip:target@example.com SIP/2.0",
    "To: sip:target@example.com",
    "From: sip:caller@example.org;tag=8b9c",
    "Max-Forwards: 4",
    "Via: SIP/2.0/UDP 192.0.2.12;branch=z9hG4bK",
    "Accept: application/sdp",
    "Call-ID: badbranch.p0o9i8u7y6t5r4",
    "CSeq: 10 OPTIONS",
    "l: 0",
])

# 3.3.1 Missing required header fields: an INVITE without Call-ID, From, To and Max-Forwards.
# 400, echoing what it has (Via, CSeq).
CASES["insuf"] = message([
    "INVITE sip:target@example.com SIP/2.0",
    "CSeq: 287751 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.96;branch=z9hG4bKinsuf.ours",
    "Content-Type: application/sdp",
    "l: {CL}",
], sdp("caller", "192.0.2.96"))

# 3.3.2 Request-URI with unknown scheme. 416.
CASES["unkscm"] = message([
    "OPTIONS noOneHasEverHeardOfThisScheme:opaque-and-odd-content SIP/2.0",
    "To: sip:target@example.com",
    "From: sip:caller@example.net;tag=285",
    "Max-Forwards: 3",
    "Call-ID: unkscm.z9x8c7v6b5",
    "CSeq: 4475123 OPTIONS",
    f"Via: SIP/2.0/TCP host14.example.com;branch={SHARED}",
    "Content-Length: 0",
])

# 3.3.3 Request-URI with known but atypical scheme: a soap.beep URI. 416.
CASES["novelsc"] = message([
    "OPTIONS soap.beep://192.0.2.104:3003 SIP/2.0",
    "To: sip:target@example.com",
    "From: sip:caller@example.net;tag=286",
    "Max-Forwards: 3",
    "Call-ID: novelsc.a9s8d7f6g5",
    "CSeq: 4475124 OPTIONS",
    f"Via: SIP/2.0/TCP host15.example.com;branch={SHARED}",
    "Content-Length: 0",
])

# 3.3.4 Unknown URI schemes in header fields: To, From and Contact with non-SIP schemes, in a
# REGISTER.
CASES["unksm2"] = message([
    "REGISTER sip:example.org SIP/2.0",
    "To: isbn:9780000000002",
    "From: <http://www.example.org>;tag=7733a1",
    "Call-ID: unksm2.q2w3e4@with-a-hyphen.example.org",
    "CSeq: 441001 REGISTER",
    "Max-Forwards: 70",
    f"Via: SIP/2.0/UDP 192.0.2.22:5060;branch={SHARED}",
    "Contact: <name:Ada_Lovelace>",
    "l: 0",
])

# 3.3.5 Proxy-Require and Require: extensions nobody supports. A UAS answers 420 for Require.
CASES["bext01"] = message([
    "OPTIONS sip:target@example.com SIP/2.0",
    "To: sip:t_arget@example.com",
    "From: sip:caller@example.net;tag=9d0e1f",
    "Max-Forwards: 7",
    "Call-ID: bext01.m9n8b7v6",
    "Require: noOneImplementsThis, norThisOneEither",
    "Proxy-Require: noProxyImplementsThis, norDoProxiesImplementThis",
    "CSeq: 9 OPTIONS",
    f"Via: SIP/2.0/TLS hinge-and-bracket.example.com;branch={SHARED}",
    "Content-Length: 0",
])

# 3.3.6 Unknown Content-Type: an INVITE whose body is application/unknownformat. 415.
_INVUT_BODY = b'<sound> <codec name="g711u" port="4475"/> </sound>'
CASES["invut"] = message([
    "INVITE sip:target@example.com SIP/2.0",
    "Contact: <sip:caller@host16.example.net>",
    "To: sip:j.target@example.com",
    "From: sip:caller@example.net;tag=7301a2",
    "Max-Forwards: 70",
    "Call-ID: invut.k1l2z3x4c5v6",
    "CSeq: 310552 INVITE",
    f"Via: SIP/2.0/UDP anyhost.example.com;branch={SHARED}",
    "Content-Type: application/unknownformat",
    "Content-Length: {CL}",
], _INVUT_BODY)

# 3.3.7 Unknown authorization scheme in a REGISTER's Authorization header.
CASES["regaut01"] = message([
    "REGISTER sip:example.org SIP/2.0",
    "To: sip:member@example.org",
    "From: sip:member@example.org;tag=62bd09aa",
    "Max-Forwards: 9",
    "Call-ID: regaut01.t5y6u7i8",
    "CSeq: 8338 REGISTER",
    f"Via: SIP/2.0/TCP 192.0.2.254;branch={SHARED}",
    "Authorization: AnUnheardOfScheme blob-of-data=here",
    "Content-Length:0",
])

# 3.3.8 Multiple values in single value required fields: two each of To, From, Call-ID, CSeq,
# Max-Forwards (and Contact) in an INVITE. 400.
CASES["multi01"] = message([
    "INVITE sip:target@example.org SIP/2.0",
    "Contact: <sip:caller@host27.example.net>",
    f"Via: SIP/2.0/UDP 192.0.2.27;branch={SHARED}",
    "Max-Forwards: 70",
    "CSeq: 6 INVITE",
    "Call-ID: multi01.a1b2c3@192.0.2.27",
    "CSeq: 61 INVITE",
    "Call-ID: multi01.a1b2c3@192.0.2.28",
    "From: sip:caller@example.com;tag=9001",
    "To: sip:target@example.org",
    "To: sip:someone-else@example.net",
    "From: sip:caller@example.net;tag=9002",
    "Content-Type: application/sdp",
    "l: {CL}",
    "Contact: <sip:caller@host28.example.net>",
    "Max-Forwards: 6",
], sdp("caller", "192.0.2.27"))

# 3.3.9 Multiple Content-Length values: 12 and 6, neither the body's length. 400.
CASES["mcl01"] = message([
    "OPTIONS sip:target@example.com SIP/2.0",
    "Via: SIP/2.0/UDP host17.example.net;branch=z9hG4bK4475mc",
    "To: sip:target@example.com",
    "From: sip:other@example.net;tag=3030b",
    "Call-ID: mcl01.q1a2z3w4s5x6",
    "CSeq: 16001 OPTIONS",
    "Content-Length: 12",
    "Max-Forwards: 61",
    "Content-Length: 6",
    "Content-Type: text/plain",
], b"Which of the two lengths is right? Neither of them is.")

# 3.3.10 200 OK response with broadcast Via header field value: the second Via is
# 255.255.255.255. A response to nothing we sent: dropped (and nothing sent to broadcast).
CASES["bcast"] = message([
    "SIP/2.0 200 OK",
    "Via: SIP/2.0/UDP 192.0.2.199;branch=z9hG4bK5bc01",
    "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK5bc02",
    "Call-ID: bcast.o9i8u7y6t5",
    "CSeq: 1 INVITE",
    "From: <sip:caller@example.com>;tag=11cc",
    "To: <sip:callee@example.net>;tag=22dd",
    "Contact: <sip:callee@host199.example.net>",
    "Content-Type: application/sdp",
    "l: {CL}",
], sdp("callee", "192.0.2.199"))

# 3.3.11 Max-Forwards of zero: an OPTIONS with Max-Forwards 0 (a proxy would answer 483; a
# UAS answers it).
CASES["zeromf"] = message([
    "OPTIONS sip:target@example.com SIP/2.0",
    "To: sip:target@example.com",
    "From: sip:caller@example.net;tag=4ee5f6",
    "Call-ID: zeromf.r4t5y6u7i8o9",
    "CSeq: 40234322 OPTIONS",
    "Via: SIP/2.0/UDP host18.example.com;branch=z9hG4bK4475zm",
    "Max-Forwards: 0",
    "Content-Length: 0",
])

# 3.3.12 REGISTER with a contact parameter: ";unknownparam" after an unbracketed Contact URI
# is a contact parameter, not a URI parameter.
CASES["cparam01"] = message([
    "REGISTER sip:example.org SIP/2.0",
    f"Via: SIP/2.0/UDP jupiter.example.org:5060;branch={SHARED}",
    "Max-Forwards: 70",
    "From: sip:holmes@example.org;tag=QxWbNmRtYuIoPa",
    "To: sip:holmes@example.org",
    "Call-ID: cparam01.31415@jupiter.example.org",
    "CSeq: 3 REGISTER",
    "Contact: sip:+12025550147@gw2.example.net;unknownparam",
    "l: 0",
])

# 3.3.13 REGISTER with a URL parameter: the same parameter inside <>, so a URI parameter.
CASES["cparam02"] = message([
    "REGISTER sip:example.org SIP/2.0",
    f"Via: SIP/2.0/UDP jupiter.example.org:5060;branch={SHARED}",
    "Max-Forwards: 70",
    "From: sip:holmes@example.org;tag=AsDfGhJkLzXcVb",
    "To: sip:holmes@example.org",
    "Call-ID: cparam02.27182@jupiter.example.org",
    "CSeq: 4 REGISTER",
    "Contact: <sip:+12025550147@gw2.example.net;unknownparam>",
    "l: 0",
])

# 3.3.14 REGISTER with a URL escaped header: a Contact URI in <> with "?Route=%3C...%3E".
CASES["regescrt"] = message([
    "REGISTER sip:example.org SIP/2.0",
    "To: sip:member@example.org",
    "From: sip:member@example.org;tag=e4f5",
    "Max-Forwards: 70",
    "Call-ID: regescrt.y7u8i9o0p1@192.0.2.19",
    "CSeq: 3 REGISTER",
    f"Via: SIP/2.0/UDP 192.0.2.19;branch={SHARED}",
    "Contact: <sip:member@example.org?Route=%3Csip:registrar.example.org%3E>",
    "l: 0",
])

# 3.3.15 Unacceptable Accept offering: an INVITE with SDP whose Accept names only a type nobody
# knows, so no answer we could send (SDP) is acceptable. 406.
CASES["sdp01"] = message([
    "INVITE sip:target@example.com SIP/2.0",
    "To: sip:t_arget@example.com",
    "Contact: <sip:caller@host19.example.net>",
    "From: sip:caller@example.net;tag=345",
    "Max-Forwards: 6",
    "Call-ID: sdp01.m2n3b4v5c6x7",
    "Accept: text/noOneUnderstandsThis",
    "CSeq: 9 INVITE",
    f"Via: SIP/2.0/UDP 192.0.2.17;branch={SHARED}",
    "Content-Length: {CL}",
    "Content-Type: application/sdp",
], sdp("caller", "192.0.2.17"))

# 3.4.1 INVITE with RFC 2543 syntax: no branch in the Via, no From tag, no Max-Forwards, no
# Content-Length (the datagram's end ends the body), a Record-Route with maddr, telephone
# numbers with user=phone.
CASES["inv2543"] = message([
    "INVITE sip:PartyB@example.com SIP/2.0",
    "Via: SIP/2.0/UDP oldgw.example.com",
    "From: <sip:+12025550101@old.client.example.net;user=phone>",
    "Record-Route: <sip:PartyB@example.com;maddr=ss2.example.com>",
    "To: sip:+16175550102@ss2.example.net;user=phone",
    "Call-ID: inv2543.2718@old.client.example.com",
    "CSeq: 57 INVITE",
    "Content-Type: application/sdp",
], sdp("PartyA", "192.0.2.101"))


def main() -> None:
    for name, data in CASES.items():
        (HERE / f"{name}.dat").write_bytes(data)
    print(f"wrote {len(CASES)} messages to {HERE}")


if __name__ == "__main__":
    main()
