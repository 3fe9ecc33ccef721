"""SIP messages in and out: aiosipua parses and serializes, this module validates and addresses.

aiosipua's ``SipMessage.parse`` handles compact headers, folding, several Vias and the RFC 4475
torture set; what it does not do (and we add here, by hand, because it is a few lines each):

* it reads the request line, Via values and header repetitions leniently: :mod:`.syntax`
  checks them on the raw bytes (400; 505 for a version other than SIP/2.0, §21.5.7);
* it keeps a body shorter than Content-Length (logging only); over UDP that is an error, 400
  (RFC 3261 §18.3);
* it does not check that CSeq parses or that its method matches the request line (§8.1.1.5);
* when it raises, nothing is left to answer with, so :func:`salvage_headers` scans the raw lines
  for the headers a 400 echoes (§8.2.6) instead of giving up on the peer.

Responses are stamped with ``received``/``rport`` (RFC 3581 §4) and sent back per §18.2.2.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from aiosipua.headers import CaseInsensitiveDict, Via, expand_compact_header, parse_via
from aiosipua.message import SipMessage, SipRequest, SipResponse

from tui_engine.core.entropy import random_hex
from tui_engine.sip.syntax import SipParseError, check_headers, check_request_line, check_via, is_token
from tui_engine.sip.wire import header_store, parse_plain, serialize_response, tag_of

Addr = tuple[str, int]

SERVER = "tui-engine/0.1"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY"
ACCEPT = "application/sdp, application/dtmf-relay, application/dtmf"
INFO_ACCEPT = "application/dtmf-relay, application/dtmf"  #: what a 415 to INFO lists
#: The one extension we implement is RFC 4028 session timers (``timer``); none of the
#: others (100rel, replaces, ...).
SUPPORTED = "timer"
ALLOWED_METHODS = frozenset(m.strip() for m in ALLOW.split(","))
#: Methods of RFC 3261 and its extensions that we recognise but do not support: 405 + Allow
#: (§8.2.1). Any other method is unknown to us: 501 Not Implemented (§21.5.2).
KNOWN_METHODS = ALLOWED_METHODS | {"REGISTER", "SUBSCRIBE", "MESSAGE", "PRACK", "PUBLISH"}
MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7
SCHEMES = frozenset({"sip", "sips", "tel"})  #: Request-URI schemes we take (else 416, §8.2.2.1)

REASONS: dict[int, str] = {
    100: "Trying", 180: "Ringing", 200: "OK", 202: "Accepted", 302: "Moved Temporarily",
    400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
    406: "Not Acceptable", 415: "Unsupported Media Type",
    500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable",
    505: "Version Not Supported",
    603: "Decline",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Incoming:
    """A validated request plus the few fields every layer needs, read once per datagram."""

    msg: SipRequest
    method: str
    call_id: str
    cseq: int
    from_tag: str | None
    to_tag: str | None
    tx_id: str  #: what identifies its server transaction (with the method): :func:`transaction_id`
    source: Addr
    transport: str  #: "UDP" or "TCP"
    reply_addr: Addr  #: where responses go (§18.2.2, RFC 3581)


_METHOD_LABELS = {method.encode(): method for method in KNOWN_METHODS}


def message_label(data: bytes) -> str:
    """The ``method`` label of ``sip_messages_total``: a request's method, a response's status.

    Read from the start line alone (no parse: every datagram in and out is counted). Methods we
    do not know become ``other`` and anything else ``malformed``, so a fuzzer cannot grow the
    metric's label set without bound.
    """
    space = data.find(b" ", 0, 64)
    first = data[:space] if space >= 0 else b""
    label = _METHOD_LABELS.get(first)
    if label is not None:
        return label
    if first.startswith(b"SIP/"):
        status = data[len(first) + 1 : len(first) + 4]
        return status.decode() if len(status) == 3 and status.isdigit() else "malformed"
    method = first.decode("ascii", "replace")
    if method in KNOWN_METHODS:
        return method
    return "other" if is_token(first) else "malformed"


def new_tag() -> str:
    """A To/From tag with 64 random bits (§19.3 asks for at least 32)."""
    return random_hex(8)


def new_branch() -> str:
    """A globally unique branch with the RFC 3261 magic cookie (§8.1.1.7)."""
    return MAGIC_COOKIE + random_hex(8)


def reason_for(status: int) -> str:
    return REASONS.get(status, "Unknown")


def parse_datagram(data: bytes) -> SipRequest | SipResponse:
    """aiosipua's parser (its result read the quick way for a plain message, :mod:`.wire`), with
    its ``ValueError``/``IndexError`` turned into :class:`SipParseError`."""
    try:
        plain = parse_plain(data)
        return plain if plain is not None else SipMessage.parse(data)
    except (ValueError, IndexError) as exc:
        raise SipParseError(f"unparseable: {exc}", status=400) from exc


def _declared_length(msg: SipMessage) -> int | None:
    raw = msg.headers.get_first("content-length")
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError as exc:
        raise SipParseError("Content-Length is not a number", status=400) from exc


def _cseq_number(msg: SipRequest) -> int:
    raw = msg.headers.get_first("cseq") or ""
    parts = raw.split()
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] != msg.method:
        raise SipParseError(f"bad CSeq {raw!r}", status=400)
    value = int(parts[0])
    if value >= 2**31:  # §8.1.1.5: "MUST be less than 2**31"
        raise SipParseError(f"CSeq out of range {raw!r}", status=400)
    return value


def validate_request(data: bytes, msg: SipRequest, source: Addr, transport: str) -> Incoming:
    """Check what aiosipua leaves to us and read the routing fields (§8.2, §18.3)."""
    check_request_line(data)
    store = header_store(msg)
    for name in ("via", "from", "to", "call-id", "cseq"):
        values = store.get(name)
        if not values or not values[0]:
            raise SipParseError(f"missing {name}", status=400)
    via = check_headers(data, msg)
    if msg.uri.split(":", 1)[0].lower() not in SCHEMES:
        raise SipParseError(f"unsupported URI scheme in {msg.uri!r}", status=416)  # §8.2.2.1
    declared = _declared_length(msg)
    if declared is not None and (declared < 0 or len(msg.body) < declared):
        raise SipParseError("body shorter than Content-Length", status=400)
    cseq = _cseq_number(msg)
    if not via.host:
        raise SipParseError("Via without sent-by", status=400)
    from_tag = tag_of(store["from"][0])
    to_tag = tag_of(store["to"][0])
    call_id = store["call-id"][0]
    reply_addr = stamp_via(msg, via, source)
    return Incoming(
        msg=msg, method=msg.method, call_id=call_id, cseq=cseq, from_tag=from_tag, to_tag=to_tag,
        tx_id=transaction_id(via, call_id, cseq, from_tag, msg.uri), source=source, transport=transport,
        reply_addr=reply_addr if transport == "UDP" else source,
    )


def transaction_id(via: Via, call_id: str, cseq: int, from_tag: str | None, uri: str) -> str:
    """The server transaction a request belongs to, together with its method (RFC 3261 §17.2.3).

    With the magic cookie: the top Via's branch and sent-by; the method is the other half of the
    table key (ACK and CANCEL look up ``"INVITE"``). Without it (RFC 2543, §17.2.3 last
    paragraphs): Request-URI, From tag, Call-ID, CSeq number and the top Via, which an INVITE,
    its retransmissions, its CANCEL and the ACK of its non-2xx share (the To tag is left out: the
    ACK carries ours, the INVITE none).

    Call-ID and CSeq number are part of the cookie case too. §17.2.3 does not need them, but every
    retransmission, CANCEL and ACK repeats them (§9.1, §17.1.1.3), and with them two senders that
    break §8.1.1.7 by reusing a branch (as many RFC 4475 messages share one) each get their
    own answer instead of the other's.
    """
    branch = via.branch or ""
    default_port = 5061 if via.transport.upper() == "TLS" else 5060
    sent_by = f"{via.host.lower()}:{via.port or default_port}"
    if branch.startswith(MAGIC_COOKIE):
        return f"{branch}|{sent_by}|{call_id}|{cseq}"
    return f"2543|{branch}|{sent_by}|{call_id}|{cseq}|{from_tag}|{uri}"


def stamp_via(msg: SipRequest, via: Via, source: Addr) -> Addr:
    """Add ``received``/``rport`` to the top Via and return where responses go.

    RFC 3261 §18.2.1 adds ``received`` when sent-by differs from the source address;
    RFC 3581 §4 fills an empty ``rport`` and then responses go to the source port.
    """
    value, reply_addr = stamped_via(via, source)
    if value is not None:
        msg.headers.get("via")[0] = value
    return reply_addr


def stamped_via(via: Via, source: Addr) -> tuple[str | None, Addr]:
    """:func:`stamp_via` on a parsed Via alone: its new text (``None``: unchanged) and where
    responses go."""
    host, port = source
    params = via.params
    edited = False
    if _host_differs(via.host, host):
        params["received"] = host
        edited = True
    if "rport" in params:
        params["rport"] = str(port)
        params["received"] = host
        edited = True
    value = _format_via(via) if edited else None
    if "rport" in params:
        return value, (host, port)
    # §18.2.2: to ``received`` (which we set above whenever sent-by is not the source) at the
    # sent-by port: the source address either way. Never a ``received`` the peer wrote itself
    # beside a sent-by equal to the source: it could be a host name (a blocking DNS lookup in
    # ``sendto``) or someone else's address (our responses reflected at them).
    return value, (host, via.port or 5060)


def _host_differs(sent_by: str, source_host: str) -> bool:
    if sent_by == source_host:
        return False  # the common case, without parsing addresses
    try:
        return ipaddress.ip_address(sent_by.strip("[]")) != ipaddress.ip_address(source_host)
    except ValueError:
        return True  # a host name: always say where it really came from


def _format_via(via: Via) -> str:
    hostport = via.host if via.port is None else f"{via.host}:{via.port}"
    params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in via.params.items())
    return f"{via.protocol}/{via.transport} {hostport}{params}"


def build_response(
    req: SipRequest,
    status: int,
    *,
    reason: str = "",
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> bytes:
    """A response copying Via, From, To, Call-ID and CSeq from ``req`` (§8.2.6.2).

    The To-tag is appended to the raw To value, so the peer's own text is echoed unchanged.
    """
    get = req.headers.get
    to = get("to")[0]
    if to_tag is not None and "tag=" not in to.lower():
        to = f"{to};tag={to_tag}"
    out = [("Via", via) for via in get("via")]
    out += (("From", get("from")[0]), ("To", to), ("Call-ID", get("call-id")[0]), ("CSeq", get("cseq")[0]))
    out += headers
    out.append(("Server", SERVER))
    if content_type is not None:
        out.append(("Content-Type", content_type))
    return serialize_response(status, reason or reason_for(status), out, body)


def capability_headers(contact: str | None) -> list[tuple[str, str]]:
    """Contact, Allow, Supported: what a dialog-creating or OPTIONS response carries (§13.3.1, §11.2)."""
    base = [("Allow", ALLOW), ("Supported", SUPPORTED)]
    return [("Contact", contact), *base] if contact else base


_SALVAGE = ("via", "from", "to", "call-id", "cseq")


def salvage_headers(data: bytes) -> dict[str, list[str]] | None:
    """The headers a 400 echoes (§8.2.6.2), scanned line by line from bytes we refused.

    Hand-written because aiosipua returns nothing when it raises. Only Via is required: it says
    where the answer goes; a request missing From, To, Call-ID or CSeq (RFC 4475 ``insuf``) is
    answered without them. ``None`` (the datagram is dropped by rule) when there is no Via, or
    when one of these values holds a CR or NUL: echoing it would corrupt our own message, and
    leaving it out would answer something else than what was sent.
    """
    found: dict[str, list[str]] = {}
    text = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    for line in text.split("\n")[1:]:
        name, sep, value = line.removesuffix("\r").partition(":")
        key = expand_compact_header(name.strip()).lower()
        value = value.strip()
        if sep and key in _SALVAGE and value:
            if _UNSAFE.search(value):
                return None
            found.setdefault(key, []).append(value)
    return found if "via" in found else None


_UNSAFE = re.compile(r"[\r\n\x00]")


def salvaged_method(data: bytes, found: dict[str, list[str]]) -> str:
    """The method of a refused request: CSeq's, else the first word of the start line."""
    cseq = found.get("cseq", [""])[0].split()
    return cseq[-1].upper() if cseq else data.split(b" ", 1)[0].decode("ascii", "replace").upper()


def build_salvaged_response(found: dict[str, list[str]], status: int) -> bytes:
    """A 400-class response from :func:`salvage_headers` output (no To-tag: no dialog is formed)."""
    out = CaseInsensitiveDict()
    for name in _SALVAGE:
        for value in found.get(name, [])[: None if name == "via" else 1]:
            out.append(name, value)
    out.append("Server", SERVER)
    return bytes(SipResponse(headers=out, status_code=status, reason_phrase=reason_for(status)))


def salvaged_reply_addr(found: dict[str, list[str]], source: Addr, transport: str) -> Addr:
    """Where to send a salvaged response: like :func:`stamp_via` but without editing anything.

    A Via that is itself malformed cannot be followed: the answer goes back to the source
    address, as with ``rport``.
    """
    if transport != "UDP":
        return source
    try:
        check_via(found["via"][0])
    except SipParseError:
        return source
    via = parse_via(found["via"][0])
    if "rport" in via.params or _host_differs(via.host, source[0]):
        return source
    return (via.host.strip("[]"), via.port or 5060)


def user_of(uri: str) -> str:
    """The user part of a SIP URI (``sip:100@host`` → ``100``), or ``""``."""
    body = uri.split(":", 1)[1] if ":" in uri else uri
    return body.split("@", 1)[0] if "@" in body else ""
