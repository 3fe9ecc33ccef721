"""What RFC 3261's grammar refuses and aiosipua lets through, checked before a request is used.

aiosipua parses leniently (it is a parser, not a validator), which is right for reading the
RFC 4475 "valid but tortuous" messages and wrong for the invalid ones. Each check here is a few
lines against the raw bytes or the parsed headers, hand-written because no maintained Python
SIP library exposes a strict mode; each raises :class:`SipParseError` with the status to answer.

* the Request-Line is exactly ``Method SP Request-URI SP SIP-Version`` (§25.1, §7.1): no extra
  or trailing SP (RFC 4475 ``lwsstart``, ``trws``, ``lwsruri``), an absolute URI and not a
  name-addr (``ltgtruri``), no headers part in a SIP Request-URI (§19.1.1 table 1, ``escruri``;
  a "?" in the user part is legal, §25.1 ``user-unreserved``, as ``intmeth`` shows);
* no bare CR in the header block: every line ends in CRLF (§7.3.1), and a CR inside a value
  would otherwise be echoed into our own response;
* single-valued headers appear once (§7.3.1; RFC 4475 ``multi01``, ``mcl01``);
* every Via value has a sent-protocol, a sent-by and no empty parameter (§20.42, §25.1
  ``via-parm``; RFC 4475 ``badinv01``). A port outside 1-65535 is grammatical (``1*DIGIT``):
  with ``rport`` the answer goes to the source anyway, without it nothing can reach it and the
  send is refused (``UasCore.send``, ``sip.send_failed``), so it is dropped by rule.
"""

from __future__ import annotations

import re

from aiosipua.headers import Via
from aiosipua.message import SipRequest

from tui_engine.core.errors import RemoteError
from tui_engine.sip.wire import header_store, via_of


class SipParseError(RemoteError):
    """A datagram that is not an acceptable SIP message; ``status`` is what to answer (if we can)."""


#: §25.1 ``token``
_TOKEN = re.compile(rb"[A-Za-z0-9\-.!%*_+`'~]+")
#: RFC 3986 §3.1 scheme, then ":" (§19.1.1 absoluteURI); a leading "<" is a name-addr, not a URI
_ABSOLUTE_URI = re.compile(rb"[A-Za-z][A-Za-z0-9+\-.]*:[^\s<>]*")
_VERSION = re.compile(rb"SIP/\d+\.\d+", re.IGNORECASE)
_SENT_PROTOCOL = re.compile(r"SIP\s*/\s*\d+\.\d+\s*/\s*[A-Za-z0-9\-.!%*_+`'~]+\s+\S", re.IGNORECASE)
#: tokens all (the method check skips its regex for them)
_USUAL_SENT = ("SIP/2.0/UDP ", "SIP/2.0/TCP ", "SIP/2.0/TLS ")  #: 12 characters each
#: the bytes of a ``sip:`` URI that needs neither regex nor header check: printable ASCII but
#: SP, "<", ">" (``_ABSOLUTE_URI``) and "?" (a headers part); ``bytes.translate`` deletes them
_PLAIN_URI = bytes(sorted(set(range(0x21, 0x7F)) - set(b"<>?")))
_COMMON_METHODS = frozenset({b"INVITE", b"ACK", b"BYE", b"CANCEL", b"OPTIONS", b"INFO", b"UPDATE"})
_CONTENT_LENGTH_NAMES = frozenset({b"content-length", b"l"})

#: Headers whose grammar has no comma list (§7.3.1: only those may be repeated)
SINGLE_VALUED = ("to", "from", "call-id", "cseq", "max-forwards", "content-type", "content-length")


def is_token(value: bytes) -> bool:
    """§25.1 ``token`` (what a method name is)."""
    return _TOKEN.fullmatch(value) is not None


def content_length_values(head: bytes) -> list[bytes]:
    """Every Content-Length value (long or compact ``l``) of a header block, in order.

    Header lines may have whitespace before the colon (§7.3.1), so each line's name is read
    rather than matched against a fixed spelling. The stream framer and the datagram checks
    both use it, so "two Content-Lengths" means the same on UDP and TCP.
    """
    values: list[bytes] = []
    for line in head.split(b"\r\n")[1:]:
        if line[:1] in (b" ", b"\t"):
            continue  # a continuation line: no header name on it
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() in _CONTENT_LENGTH_NAMES:
            values.append(value.strip())
    return values


def check_request_line(data: bytes) -> None:
    """§25.1 Request-Line; 505 for a well-formed version other than SIP/2.0 (§21.5.7)."""
    end = data.find(b"\r\n")
    parts = data[: end if end >= 0 else len(data)].split(b" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError("Request-Line is not Method SP Request-URI SP SIP-Version", status=400)
    method, uri, version = parts
    if method not in _COMMON_METHODS and not is_token(method):
        raise SipParseError("method is not a token", status=400)
    check_request_uri(uri)
    if version == b"SIP/2.0":
        return
    if not _VERSION.fullmatch(version):
        raise SipParseError("malformed SIP-Version", status=400)
    if version.upper() != b"SIP/2.0":
        raise SipParseError("unsupported SIP version", status=505)


def check_via_grammar(value: str) -> None:
    """:func:`check_via` short of parsing the value (for a caller that parses it its own way)."""
    sent, *params = value.split(";")
    sent = sent.strip()
    # the usual spelling (a subset of what the regex takes: stripped, so a sent-by follows)
    # needs no regex; anything else is matched in full
    if not (sent.startswith(_USUAL_SENT) and len(sent) > 12) and not _SENT_PROTOCOL.match(sent):
        raise SipParseError(f"malformed Via {value!r}", status=400)
    if "" in map(str.strip, params):
        raise SipParseError(f"empty Via parameter in {value!r}", status=400)


def check_request_uri(uri: bytes) -> None:
    """The Request-URI part of :func:`check_request_line`."""
    if uri.startswith(b"sip:") and not uri.translate(None, _PLAIN_URI):
        return  # the usual spelling: what both checks below take, without the regex
    if not _ABSOLUTE_URI.fullmatch(uri):
        raise SipParseError("Request-URI is not an absolute URI", status=400)
    if uri[:4].lower() in (b"sip:", b"sips") and b"?" in uri.partition(b"@")[2 if b"@" in uri else 0]:
        raise SipParseError("headers in a SIP Request-URI", status=400)


def check_headers(data: bytes, msg: SipRequest) -> Via:
    """Bare CRs, repeated single-valued headers and malformed Via values (see the module doc).

    Returns the top Via, parsed (the caller needs it; parsing it again cost as much as checking).
    """
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf:  # a CR that no LF follows
        raise SipParseError("bare CR in the header block", status=400)
    store = header_store(msg)
    if head.count(b"\n") == crlf and b"\n " not in head and b"\n\t" not in head:
        lengths = len(store.get("content-length", ()))  # one header a line: the parse counted them
    else:
        lengths = len(content_length_values(head))
    if lengths > 1:
        raise SipParseError("Content-Length appears more than once", status=400)
    for name in SINGLE_VALUED:
        if len(store.get(name, ())) > 1:
            raise SipParseError(f"{name} appears more than once", status=400)
    vias = [check_via(value) for value in store.get("via", ())]
    if not vias:
        raise SipParseError("missing via", status=400)
    return vias[0]


def check_via(value: str) -> Via:
    """One Via value: ``sent-protocol LWS sent-by *( SEMI via-params )`` with a valid port."""
    check_via_grammar(value)
    try:
        return via_of(value)
    except (ValueError, IndexError) as exc:
        raise SipParseError(f"malformed Via {value!r}", status=400) from exc
