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
method other than INVITE and ACK) is not read here: the full path handles it as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiosipua.headers import CaseInsensitiveDict, Via
from aiosipua.message import SipResponse

from tui_engine.sip.message import SERVER, reason_for, salvage_headers, transaction_id
from tui_engine.sip.wire import tag_of, via_of

_METHODS = (b"INVITE ", b"ACK ")


@dataclass(frozen=True, slots=True)
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
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    if b"\n " in head or b"\n\t" in head:  # folded header lines (RFC 3261 §7.3.1): the full parser's
        return None
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
    call_id = found["call-id"][0]
    return QuickRequest(
        method=method, call_id=call_id, cseq=int(cseq[0]), to_tag=to_tag, via=via,
        tx_id=transaction_id(via, call_id, int(cseq[0]), from_tag, uri), headers=found,
    )


def quick_response(
    req: QuickRequest, status: int, *, top_via: str, to_tag: str, headers: list[tuple[str, str]]
) -> bytes:
    """A final response as :func:`~tui_engine.sip.message.build_response` writes it (§8.2.6.2):
    the Vias (the top one stamped), From, To with our tag, Call-ID, CSeq, ``headers``, Server."""
    out = CaseInsensitiveDict()
    for i, via in enumerate(req.headers["via"]):
        out.append("Via", top_via if i == 0 else via)
    out.append("From", req.headers["from"][0])
    to = req.headers["to"][0]
    out.append("To", to if "tag=" in to.lower() else f"{to};tag={to_tag}")
    out.append("Call-ID", req.call_id)
    out.append("CSeq", req.headers["cseq"][0])
    for name, value in headers:
        out.append(name, value)
    out.append("Server", SERVER)
    return bytes(SipResponse(headers=out, status_code=status, reason_phrase=reason_for(status)))
