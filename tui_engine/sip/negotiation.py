"""Content negotiation of an incoming INVITE (RFC 3261 §8.2.3, §20.1, §21.4.7, §21.4.13).

Our only session description is SDP, in the offer and in our answer. An INVITE whose body is
of another type (RFC 4475 ``invut``) or content-coded gets 415 with the Accept /
Accept-Encoding we do take; one whose Accept excludes SDP (RFC 4475 ``sdp01``) gets 406: every
2xx we could send would carry SDP the caller said it cannot read. Without Accept, §20.1 says
to assume ``application/sdp``. Both are decided before the application sees a call.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiosipua.message import SipRequest

SDP = "application/sdp"
_SDP_RANGES = frozenset({SDP, "application/*", "*/*"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Refusal:
    """The final response an INVITE gets instead of a call."""

    status: int
    headers: list[tuple[str, str]]


def media_type(value: str) -> str:
    """``Application/SDP; charset=x`` → ``application/sdp`` (types are case-insensitive, RFC 2045)."""
    return value.split(";", 1)[0].strip().lower()


def offer_refusal(msg: SipRequest) -> Refusal | None:
    """415 or 406 for an INVITE we cannot negotiate, ``None`` when SDP works both ways."""
    if msg.body:
        # A body without Content-Type breaks §7.4.1; old gateways send SDP that way, so it is
        # read as SDP (the media layer still refuses it, 488, if it is not).
        if media_type(msg.headers.get_first("content-type") or SDP) != SDP:
            return Refusal(status=415, headers=[("Accept", SDP)])
        encoding = (msg.headers.get_first("content-encoding") or "identity").strip().lower()
        if encoding != "identity":
            return Refusal(status=415, headers=[("Accept-Encoding", "identity")])
    accept = msg.headers.get("accept")
    if accept and not accepts_sdp(accept):
        return Refusal(status=406, headers=[])
    return None


def accepts_sdp(accept: list[str]) -> bool:
    """Whether ``Accept`` values (comma lists, several lines) take SDP (else 406, §21.4.7)."""
    ranges = {media_type(item) for value in accept for item in value.split(",")}
    return not ranges.isdisjoint(_SDP_RANGES)
