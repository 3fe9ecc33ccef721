"""Dialog state of a UAS (RFC 3261 §12) and the requests we send inside it.

The route set and remote target are built once from the INVITE (§12.1.1); every request we
send (BYE, REFER) follows them (§12.2.1.1), which is what aiosipua skipped (gap 7 of
sip-foundation.md: its BYE went to the packet's source address, ignoring Record-Route).
"""

from __future__ import annotations

import ipaddress

from aiosipua.headers import CaseInsensitiveDict, parse_address, parse_uri
from aiosipua.message import SipRequest

from tui_engine.core.entropy import random_bits
from tui_engine.sip.message import SERVER, Addr, Incoming, new_branch


class Dialog:
    """One confirmed or early dialog, seen from the UAS side."""

    __slots__ = (
        "call_id", "local_cseq", "local_tag", "local_uri", "remote_cseq", "remote_tag", "remote_target",
        "remote_uri", "route_set",
    )

    def __init__(self, inc: Incoming, local_tag: str) -> None:
        msg = inc.msg
        self.call_id = inc.call_id
        self.local_tag = local_tag
        self.remote_tag = inc.from_tag
        to = msg.headers.get("to")[0]
        self.local_uri = to if "tag=" in to.lower() else f"{to};tag={local_tag}"  # §12.1.1: our To
        self.remote_uri = msg.headers.get("from")[0]
        self.remote_cseq = inc.cseq
        self.local_cseq = random_bits(16) + 1  # §8.1.1.5: any start below 2**31
        contacts = msg.headers.get("contact")
        self.remote_target = _uri_of(contacts[0]) if contacts else _uri_of(msg.headers.get("from")[0])
        self.route_set: list[str] = list(msg.headers.get("record-route"))  # §12.1.1: in order

    def accept_remote_cseq(self, cseq: int) -> bool:
        """§12.2.2: a lower-or-equal CSeq than the last one is out of order (answer 500)."""
        if cseq <= self.remote_cseq:
            return False
        self.remote_cseq = cseq
        return True

    def next_hop_uri(self) -> str:
        """The URI the request is sent to: the first route, else the remote target (§12.2.1.1, §8.1.2)."""
        return _uri_of(self.route_set[0]) if self.route_set else self.remote_target

    def _request_uri_and_routes(self) -> tuple[str, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = _uri_of(self.route_set[0])
        if "lr" in parse_uri(first).params:  # loose routing
            return self.remote_target, list(self.route_set)
        # Strict routing (§12.2.1.1): first route becomes the Request-URI, remote target goes last.
        return first, [*self.route_set[1:], f"<{self.remote_target}>"]

    def build_request(
        self, method: str, *, via_sent_by: str, transport: str, contact: str,
        headers: list[tuple[str, str]] | None = None, body: bytes = b"", content_type: str | None = None,
    ) -> tuple[bytes, str]:
        """Serialize a new in-dialog request; returns the bytes and the branch it carries."""
        self.local_cseq += 1
        branch = new_branch()
        uri, routes = self._request_uri_and_routes()
        out = CaseInsensitiveDict()
        out.append("Via", f"SIP/2.0/{transport} {via_sent_by};branch={branch};rport")
        out.append("Max-Forwards", "70")
        for route in routes:
            out.append("Route", route)
        out.append("From", self.local_uri)
        out.append("To", self.remote_uri)
        out.append("Call-ID", self.call_id)
        out.append("CSeq", f"{self.local_cseq} {method}")
        out.append("Contact", contact)
        for name, value in headers or ():
            out.append(name, value)
        out.append("User-Agent", SERVER)
        if content_type is not None:
            out.append("Content-Type", content_type)
        return bytes(SipRequest(headers=out, body=body, method=method, uri=uri)), branch


def _uri_of(value: str) -> str:
    """The bare URI of a name-addr / addr-spec header value."""
    start = value.find("<")
    if start >= 0:
        end = value.find(">", start)
        return value[start + 1 : end if end > 0 else len(value)].strip()
    return value.split(";", 1)[0].strip()


def uri_address(uri: str) -> Addr | None:
    """``(ip, port)`` of a URI whose host, and ``maddr`` when it has one (it overrides the
    host), are literal IPs; ``None`` for host names.

    We do not resolve names (RFC 3263 needs DNS NAPTR/SRV, and ``sendto`` to a name runs a
    blocking ``getaddrinfo`` on the event loop: a slow DNS would freeze every call's timers);
    callers fall back to the address the dialog's INVITE came from.
    """
    parsed = parse_address(uri).uri if "<" in uri else parse_uri(uri)
    host = parsed.host.strip("[]")
    maddr = parsed.params.get("maddr")
    try:
        for address in (host, maddr) if maddr else (host,):
            ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return None
    return ((maddr or host).strip("[]"), parsed.port or 5060)
