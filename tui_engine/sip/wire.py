"""SIP text in and out, the plain way: what aiosipua's parser and serializer produce, for less.

Why our own code next to aiosipua's: with the call set-up measured instruction by instruction
(``bench/_cpu_counts.py calls``), aiosipua's ``SipMessage.parse`` (two ``replace`` passes, the
unfolding loop, a character-by-character split of every Via/Contact value, a checked
``CaseInsensitiveDict.append`` per header) and ``bytes(SipResponse(...))`` were the largest share
of the SIP work per call. They are written for any input; almost every message we get is
*plain*: CRLF line endings only, no folded line, a blank line ending the header block.

* :func:`parse_plain` reads a plain message into the very ``SipRequest``/``SipResponse``
  ``SipMessage.parse`` returns (same header store, original names, order, body); for anything
  else it returns ``None`` and the caller uses aiosipua's parser, unchanged. Property tests
  (``tests/sip/test_sip_wire.py``) compare the two on the RFC 4475 set and on generated messages.
* :func:`serialize_response` writes the bytes ``bytes(SipResponse(headers=...))`` writes for a
  list of headers (same grouping of repeated names, same casing, same ``Content-Length``), and
  raises the same ``ValueError`` for a name or value that would inject a line.
* :func:`tag_of` is ``parse_address(value).params.get("tag")`` without building the URI, and
  :func:`via_of` is ``parse_via`` with its character loop replaced by two ``find``.

The reading relies on aiosipua 0.7.1's header store (``CaseInsensitiveDict._store`` and
``_original``), filled directly: the version is pinned and the tests compare the stores.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from operator import ne

from aiosipua.headers import (
    _PRETTY_NAMES,
    COMPACT_HEADERS,
    MULTI_INSTANCE_HEADERS,
    CaseInsensitiveDict,
    Via,
    parse_params,
    prettify_header_name,
)
from aiosipua.message import MAX_HEADERS, SipMessage, SipRequest, SipResponse, _split_multi_value

_aiosipua_log = logging.getLogger("aiosipua.message")  # its body-length warnings, as its parser logs them


def header_store(msg: SipMessage) -> dict[str, list[str]]:
    """The message's headers by lower-case name (``msg.headers.get(name)`` without a method call
    and a ``lower()`` per look-up: the validation of a request reads some twenty)."""
    return msg.headers._store


def parse_plain(data: bytes) -> SipRequest | SipResponse | None:
    """``SipMessage.parse(data)`` for a plain message (see the module doc), else ``None``.

    ``None`` also for what aiosipua would refuse (a request line of fewer than three parts, too
    many headers): its parser then raises its own error, as before.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = data[:end]
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf or head.count(b"\n") != crlf:
        return None  # a bare CR or LF: aiosipua's line-ending normalisation decides
    if b"\n " in head or b"\n\t" in head:
        return None  # a folded line (RFC 3261 §7.3.1)
    lines = head.decode("utf-8", "replace").split("\r\n")
    start = lines[0].strip()
    if not start or len(lines) - 1 > MAX_HEADERS:
        return None
    headers = CaseInsensitiveDict()
    store = headers._store
    original = headers._original
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        name = name.strip()
        value = value.strip()
        lower = name.lower()
        if len(lower) == 1:
            full = COMPACT_HEADERS.get(lower)
            if full is not None:
                name = lower = full
        if lower in MULTI_INSTANCE_HEADERS:
            values = _split_values(value)
            if not values:
                continue
        else:
            values = [value]
        have = store.get(lower)
        if have is None:
            store[lower] = values
            original[lower] = name
        else:
            have.extend(values)
    body = _reconciled(headers, data[end + 4 :])
    parts = start.split(None, 2)
    if start.startswith("SIP/"):
        status = int(parts[1]) if len(parts) > 1 else 0  # a ValueError, as aiosipua's
        return SipResponse(headers=headers, body=body, status_code=status,
                           reason_phrase=parts[2] if len(parts) > 2 else "")
    if len(parts) < 3:
        return None
    return SipRequest(headers=headers, body=body, method=parts[0], uri=parts[1])


def _split_values(value: str) -> list[str]:
    """aiosipua's comma split of a multi-valued header; its state machine only where a quote or
    an angle bracket can hide a comma."""
    if "," not in value:
        return [value] if value else []
    if '"' in value or "<" in value or ">" in value:
        return _split_multi_value(value)
    parts = [part.strip() for part in value.split(",")]
    if not parts[-1]:
        parts.pop()
    return parts


def _reconciled(headers: CaseInsensitiveDict, body: bytes) -> bytes:
    """The body cut to Content-Length as aiosipua's parser cuts it (RFC 3261 §18.3)."""
    values = headers._store.get("content-length")
    if not values:
        return body
    try:
        declared = int(values[0].strip())
    except ValueError:
        return body
    if declared < 0:
        return body
    if len(body) > declared:
        _aiosipua_log.warning("Body longer than Content-Length (%d > %d) — trimming", len(body), declared)
        return body[:declared]
    if len(body) < declared:
        _aiosipua_log.warning("Body shorter than Content-Length (%d < %d)", len(body), declared)
    return body


def serialize_response(
    status: int, reason: str, headers: Iterable[tuple[str, str]], body: bytes = b""
) -> bytes:
    """``bytes(SipResponse(...))`` of a response whose headers were appended in this order."""
    headers = list(headers)
    names = "".join(name for name, _ in headers)
    values = "".join(value for _, value in headers)
    if "\r" in names or "\n" in names or ":" in names or "\r" in values or "\n" in values:
        _refuse_unsafe(headers)
    spelled = [name for name, _ in headers]
    keys = [name.lower() for name in spelled]
    runs = 1 + sum(map(ne, spelled, spelled[1:]))
    if "content-length" in keys or not len(set(keys)) == len(set(spelled)) == runs:
        # a name repeated apart, or spelled two ways: the header store's grouping decides
        return _serialize_grouped(status, reason, headers, keys, body)
    pretty = _pretty
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"{pretty.get(name) or _prettify(name)}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "\r\n".join(lines).encode("utf-8") + body


def _refuse_unsafe(headers: list[tuple[str, str]]) -> None:
    """``CaseInsensitiveDict.append``'s checks, in its order: the first line breaker raises."""
    for name, value in headers:
        if "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"Invalid header name: {name!r}")
        if "\r" in value or "\n" in value:
            raise ValueError(f"Header value for {name} contains line breaks")


def _serialize_grouped(
    status: int, reason: str, headers: list[tuple[str, str]], keys: list[str], body: bytes
) -> bytes:
    """The general case: values of one name together where the name first came, as the header
    store groups them, and Content-Length (set last by the serializer) in its place."""
    groups: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for key, (name, value) in zip(keys, headers, strict=True):
        group = groups.get(key)
        if group is None:
            groups[key] = [value]
            names[key] = name
        else:
            group.append(value)
    groups["content-length"] = [str(len(body))]
    names.setdefault("content-length", "Content-Length")
    lines = [f"SIP/2.0 {status} {reason}"]
    for key, values in groups.items():
        pretty = _PRETTY_NAMES.get(key) or prettify_header_name(names[key])
        lines.extend(f"{pretty}: {value}" for value in values)
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8") + body


#: header name as written → as aiosipua writes it (``prettify_header_name``), for names seen
_pretty: dict[str, str] = {}


def _prettify(name: str) -> str:
    pretty = prettify_header_name(name)
    if len(_pretty) < 256:  # our own names, a few dozen: bounded anyway
        _pretty[name] = pretty
    return pretty


def tag_of(value: str) -> str | None:
    """``parse_address(value).params.get("tag")``: the tag of a From or To value."""
    s = value.strip()
    lt = s.find("<")
    gt = s.find(">")
    if lt != -1 and gt != -1 and gt > lt:
        after = s[gt + 1 :].strip()
        return parse_params(after[1:]).get("tag") if after.startswith(";") else None
    if ";" not in s:
        return None
    tags = [part.strip() for part in s.split(";")[1:]]
    tags = [part for part in tags if part.split("=", 1)[0].strip().lower() == "tag"]
    return parse_params(";".join(tags)).get("tag") if tags else None


def via_of(value: str) -> Via:
    """``parse_via(value)``: the same :class:`Via`, the sent-protocol found with ``str.find``."""
    s = value.strip()
    via = Via()
    first = s.find("/")
    second = s.find("/", first + 1) if first >= 0 else -1
    if second >= 0:
        space = s.find(" ", second)
        if space != -1:
            proto, rest = s[:space], s[space + 1 :].strip()
        else:
            proto, rest = s, ""
        parts = proto.split("/")
        if len(parts) >= 3:
            via.protocol = f"{parts[0]}/{parts[1]}"
            via.transport = parts[2].upper()
    else:
        rest = s
    if ";" in rest:
        sent_by, _, params = rest.partition(";")
        via.params = parse_params(params)
    else:
        sent_by = rest
    sent_by = sent_by.strip()
    if sent_by.startswith("["):
        end = sent_by.find("]")
        if end != -1:
            via.host = sent_by[: end + 1]
            after = sent_by[end + 1 :]
            if after.startswith(":"):
                try:
                    via.port = int(after[1:])
                except ValueError:
                    via.host = sent_by
        else:
            via.host = sent_by
    elif ":" in sent_by:
        host, _, port = sent_by.rpartition(":")
        via.host = host
        try:
            via.port = int(port)
        except ValueError:
            via.host = sent_by
    else:
        via.host = sent_by
    return via
