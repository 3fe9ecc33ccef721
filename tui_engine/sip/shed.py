"""Shedding load before the full parse: the few fields a 503 (or an absorbed retransmission,
or an ACK, which is never answered) needs, read straight from the datagram.

Why: under overload the engine refuses new INVITEs with 503 (``core.overload``), and a refusal
that costs as much as taking the call leaves little for the calls taken. aiosipua's parse and
our validation of a whole request were most of a refusal's cost (INVITE and its ACK, measured
with ``bench/_cpu_counts.py refused``); the ACK of every call taken was a full parse too. The
fields are read with the same helpers that answer a
malformed request (``message.salvage_headers``) and keyed with the same transaction id as the
full path (``message.transaction_id``), so a retransmission or ACK finds its transaction either
way. Anything unusual (a folded line, several Vias in one line, an unparsable CSeq or Via, a
method other than INVITE and ACK) is not read here: the full path handles it as before. Nor is
a request the full path would not answer with 503: a malformed one (400, 416, 505) or one it
cannot negotiate (420, 415, 406). :func:`_judged_alike` makes the full path's own checks on the
lines read, so a caller is never told to retry (503 + Retry-After) what will never be taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiosipua.header_codec import parse_params
from aiosipua.headers import Via, parse_address, prettify_header_name
from aiosipua.message import MAX_HEADERS

from tui_engine.sip.message import (
    MAGIC_COOKIE,
    SCHEMES,
    SERVER,
    reason_for,
    salvage_headers,
    transaction_id,
)
from tui_engine.sip.negotiation import SDP, accepts_sdp, media_type
from tui_engine.sip.session_timer import TIMER_TAG
from tui_engine.sip.syntax import SipParseError, check_request_uri, check_via, check_via_grammar
from tui_engine.sip.wire import tag_of, via_of

_METHODS = (b"INVITE ", b"ACK ")
#: the header names the quick read keeps, long and compact forms (RFC 3261 §7.3.3), lower case
_WANTED = {b"via": "via", b"v": "via", b"from": "from", b"f": "from", b"to": "to", b"t": "to",
           b"call-id": "call-id", b"i": "call-id", b"cseq": "cseq"}
#: the other headers the full path judges a request by before it would refuse it with 503 (a
#: 400 for a bad or repeated Content-Length or Max-Forwards, 415, 406, 420): long and compact
#: forms, lower case
_JUDGED = {b"content-length": "content-length", b"l": "content-length", b"content-type": "content-type",
           b"c": "content-type", b"content-encoding": "content-encoding", b"e": "content-encoding",
           b"max-forwards": "max-forwards", b"accept": "accept", b"require": "require"}
#: a line of one of those headers: its name (any case), the value without the blanks around it
_HEADER = re.compile(
    rb"\r\n(via|v|from|f|to|t|call-id|i|cseq|content-length|l|content-type|c|content-encoding|e"
    rb"|max-forwards|accept|require)[ \t]*:[ \t]*([^\r]*)", re.IGNORECASE)
_SCHEMES = frozenset(scheme.encode() for scheme in SCHEMES)
#: the bytes of an ordinary header line: printable ASCII and HT (``bytes.translate`` deletes them)
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t"


@dataclass(slots=True)  # not frozen: a frozen one costs several times as much to make
class QuickRequest:
    """An INVITE or ACK as far as shedding needs it."""

    method: str
    call_id: str
    cseq: int  #: the CSeq number
    to_tag: str | None
    via: Via  #: the top Via, parsed
    tx_id: str  #: as :func:`~tui_engine.sip.message.transaction_id` (with the method: the key)
    headers: dict[str, list[str]]  #: Via, From, To, Call-ID, CSeq as sent


def quick_request(data: bytes) -> QuickRequest | None:
    """The INVITE or ACK in ``data``, or ``None`` when it is anything else or unusual."""
    if not data.startswith(_METHODS):
        return None
    return _common_request(data) or _request(data)


def _common_request(data: bytes) -> QuickRequest | None:
    """:func:`_request` for the shape nearly every peer sends, read from the bytes themselves:
    ASCII, every line ended by CRLF and none folded, one Via value per line, an RFC 3261 branch
    (so the From tag is no part of the transaction's key), a To without a tag on an INVITE.
    ``None`` for anything else (``_request`` reads that: the answer stays the same, only this
    shortcut is skipped). Why: the line-by-line decode of ``salvage_headers``, two address
    parses and aiosipua's response builder were most of a refusal's cost under overload."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = data[:end]
    # Left when the ordinary bytes are deleted: the line ends, which must be that many CRLFs
    # (else a bare CR or LF), and nothing else (else a control byte or one beyond ASCII). One
    # pass in C: a regular expression over the header block cost four times as much.
    lines = head.count(b"\r\n")
    if head.translate(None, _PRINTABLE) != b"\r\n" * lines:
        return None
    if b"\r\n " in head or b"\r\n\t" in head:
        return None  # a folded line (RFC 3261 §7.3.1)
    start = head[: head.find(b"\r\n")].split(b" ")
    if len(start) != 3 or start[2] != b"SIP/2.0":
        return None
    found: dict[str, list[str]] = {}
    judged: dict[str, list[str]] = {}
    for name, value in _HEADER.findall(head):  # the lines wanted, found in C rather than one by one
        text = value.rstrip(b" \t").decode("ascii")
        lower = name.lower()
        wanted = _WANTED.get(lower)
        if wanted is None:
            judged.setdefault(_JUDGED[lower], []).append(text)  # even empty: the full path's call
        elif text:
            found.setdefault(wanted, []).append(text)
    if len(found) != 5 or len(found["from"]) != 1 or len(found["to"]) != 1 or len(found["call-id"]) != 1:
        return None  # Via, and exactly one of each of the others
    if len(found["cseq"]) != 1:
        return None
    method = start[0].decode("ascii")
    cseq = found["cseq"][0].split()
    if len(cseq) != 2 or not cseq[0].isdigit() or cseq[1] != method or int(cseq[0]) >= 2**31:
        return None
    via = _common_via(found["via"][0])
    to = found["to"][0]
    if via is None or (method == "INVITE" and "tag" in to.lower()):
        return None
    if not _judged_alike(start[1], lines, len(data) - end - 4, method, found["via"], judged):
        return None
    try:
        to_tag = parse_address(to).params.get("tag") if method == "ACK" else None
    except (ValueError, IndexError):
        return None
    call_id = found["call-id"][0]
    number = int(cseq[0])
    return QuickRequest(
        method=method, call_id=call_id, cseq=number, to_tag=to_tag, via=via,
        tx_id=transaction_id(via, call_id, number, None, ""), headers=found,
    )


def _common_via(value: str) -> Via | None:
    """``SIP/2.0/UDP host:port;params`` as ``parse_via`` reads it, for a value with no space in
    its protocol part, no IPv6 reference, no second value and an RFC 3261 branch; else None."""
    protocol, space, rest = value.partition(" ")
    parts = protocol.split("/")
    if not space or len(parts) != 3 or "\t" in protocol or "," in value or "[" in value:
        return None
    sent_by, _, params = rest.strip().partition(";")
    host, colon, port = sent_by.strip().rpartition(":")
    if not colon:
        host, port = sent_by.strip(), ""
    elif not port.isdigit() or not port.isascii():
        return None
    via = Via(protocol=f"{parts[0]}/{parts[1]}", transport=parts[2].upper(), host=host,
              port=int(port) if port else None, params=parse_params(params))
    if not host or not (via.branch or "").startswith(MAGIC_COOKIE):
        return None
    return via


def _request(data: bytes) -> QuickRequest | None:
    """The quick read of any INVITE or ACK shape the full parser would take the same way."""
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    if b"\n " in head or b"\n\t" in head:  # folded header lines (RFC 3261 §7.3.1): the full parser's
        return None
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf or head.count(b"\n") != crlf:  # a bare CR or LF: where lines end
        return None  # is the full parser's call (it splits at either)
    line = head[: head.find(b"\r\n")].split(b" ")
    if len(line) != 3 or line[2] != b"SIP/2.0":
        return None
    method, uri = line[0].decode("ascii"), line[1].decode("utf-8", "replace")
    found = salvage_headers(data)
    if found is None or any(len(found.get(name, ())) != 1 for name in ("from", "to", "call-id", "cseq")):
        return None
    cseq = found["cseq"][0].split()
    if len(cseq) != 2 or not cseq[0].isdigit() or cseq[1] != method or int(cseq[0]) >= 2**31:
        return None
    top = found["via"][0]
    if "," in top:  # several Via values in one header line
        return None
    try:
        via = via_of(top)  # parse_via's and parse_address's results, read for less (.wire)
        from_tag = tag_of(found["from"][0])
        to_tag = tag_of(found["to"][0])
    except (ValueError, IndexError):
        return None
    if not via.host or not via.branch:
        return None
    body = len(data) - end - 4 if end >= 0 else -1  # no end of the header block: no body
    if not _judged_alike(line[1], crlf, body, method, found["via"], _judged_lines(head)):
        return None
    call_id = found["call-id"][0]
    return QuickRequest(
        method=method, call_id=call_id, cseq=int(cseq[0]), to_tag=to_tag, via=via,
        tx_id=transaction_id(via, call_id, int(cseq[0]), from_tag, uri), headers=found,
    )


def _judged_lines(head: bytes) -> dict[str, list[str]]:
    """The :data:`_JUDGED` headers of a header block, read line by line (``_request``'s shapes)."""
    judged: dict[str, list[str]] = {}
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and (key := _JUDGED.get(name.strip().lower())) is not None:
            judged.setdefault(key, []).append(value.strip().decode("utf-8", "replace"))
    return judged


def _judged_alike(
    uri: bytes, lines: int, body: int, method: str, vias: list[str], judged: dict[str, list[str]]
) -> bool:
    """True when the full path would answer this request as the quick path does: none of the
    checks it makes before overload control fails (its answer would be a 400, 416, 505, 420,
    415 or 406, never a 503, and an ACK that fails them is dropped, never matched). False sends
    the request the full way, which gives that answer: a caller must not be told to retry
    later (503 + Retry-After) what will never be taken, nor learn less than without overload.
    The same checks as ``validate_request`` and ``_new_call``, on what was read here: the
    Request-URI, the number of header ``lines``, the ``body`` length after the header block
    (the rest of the request line is the caller's: three parts, SIP/2.0, INVITE or ACK)."""
    if lines > MAX_HEADERS or body < 0:
        return False  # more header lines than aiosipua reads (its parser refuses them), no end
    try:
        check_request_uri(uri)
        check_via_grammar(vias[0])  # the top one: parsed by the caller already, as via_of does
        for value in vias[1:]:
            check_via(value)
    except SipParseError:
        return False
    if uri.partition(b":")[0].lower() not in _SCHEMES:
        return False  # 416
    for name in ("content-length", "content-type", "max-forwards"):
        if len(judged.get(name, ())) > 1:
            return False  # single-valued, repeated: 400
    rest = body
    lengths = judged.get("content-length")
    if lengths:
        declared = lengths[0]
        if not declared.isdigit() or not declared.isascii() or int(declared) > rest:
            return False  # not a number, or more body announced than came: 400
        rest = int(declared)  # the body as the full parse keeps it
    if method != "INVITE":
        return True  # an ACK is matched, never negotiated
    if rest > 0:  # a body: its type and encoding must be SDP as sent (else 415)
        types = judged.get("content-type")
        if types and media_type(types[0]) != SDP:
            return False
        encodings = judged.get("content-encoding")
        if encodings and encodings[0].strip().lower() != "identity":
            return False
    accept = judged.get("accept")
    if accept is not None and not accepts_sdp(accept):
        return False  # 406 (an empty Accept the full parse drops: its call, not ours)
    requires = judged.get("require")
    if requires is not None:  # 420 unless every option tag is one we have
        tags = [tag.strip().lower() for value in requires for tag in value.split(",")]
        if any(tag != TIMER_TAG for tag in tags):
            return False
    return True


def quick_response(
    req: QuickRequest, status: int, *, top_via: str, to_tag: str, headers: list[tuple[str, str]]
) -> bytes:
    """A final response as :func:`~tui_engine.sip.message.build_response` writes it (§8.2.6.2):
    the Vias (the top one stamped), From, To with our tag, Call-ID, CSeq, ``headers`` (names
    distinct from those), Server; the same bytes, joined here rather than through aiosipua's
    header dictionary and message class."""
    found = req.headers
    to = found["to"][0]
    if "tag=" not in to.lower():
        to = f"{to};tag={to_tag}"
    vias = found["via"]
    parts = [f"SIP/2.0 {status} {reason_for(status)}\r\nVia: {top_via}\r\n"]
    if len(vias) > 1:
        parts.extend(f"Via: {via}\r\n" for via in vias[1:])
    parts.append(f"From: {found['from'][0]}\r\nTo: {to}\r\nCall-ID: {req.call_id}\r\n"
                 f"CSeq: {found['cseq'][0]}\r\n")
    for name, value in headers:
        pretty = _PRETTY.get(name)
        if pretty is None:
            pretty = _PRETTY[name] = prettify_header_name(name)
        parts.append(f"{pretty}: {value}\r\n")
    parts.append(_END)
    return "".join(parts).encode("utf-8")


#: header names as written, by the name given (only the engine's own: Retry-After, so it stays small)
_PRETTY: dict[str, str] = {}
_END = f"Server: {SERVER}\r\nContent-Length: 0\r\n\r\n"
