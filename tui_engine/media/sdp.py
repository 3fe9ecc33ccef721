"""SDP offer/answer for one audio stream of G.711 plus RFC 4733 telephone-events (RFC 3264).

Reading uses aiosipua's parser; the answer is written here because its rules are the point:
- the answer has one ``m=`` line per offered one, in order; streams we do not take get port 0 (§6);
- the voice codec is the first PCMU/PCMA in the offer's preference order (§6.1), with the offer's
  payload type (a dynamic number mapped to PCMU is still PCMU);
- telephone-event uses the OFFER's payload type (aiosipua always answers 101, which breaks
  peers such as SIPp's pcaps that offer 96): RFC 3264 §6.1 says the answerer must use the
  offerer's numbers for what it sends;
- the ``t=`` line equals the offer's (§6), and the direction mirrors the offer's (§6.1):
  sendonly → recvonly, recvonly → sendonly, inactive → inactive. Hold (§8.4) is an offer of
  sendonly/inactive, or the legacy ``c=0.0.0.0``: we then send nothing.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass
from enum import Enum

from aiosipua.sdp import MediaDescription, SdpMessage, parse_sdp

from tui_engine.media.errors import NoCommonCodec, SdpError, UnusableMediaAddress

_VOICE_CODECS = ("PCMU", "PCMA")
_STATIC_VOICE = {0: "PCMU", 8: "PCMA"}  # RFC 3551 §6, table 4


class Direction(Enum):
    """Media direction attribute of RFC 3264 §5.1, from the answerer's (our) point of view."""

    SENDRECV = "sendrecv"  #: both ways (the default when absent)
    SENDONLY = "sendonly"  #: we send, the peer only listens
    RECVONLY = "recvonly"  #: we only receive (the peer put us on hold with sendonly)
    INACTIVE = "inactive"  #: nothing either way (hold with inactive)

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)


_MIRROR = {
    Direction.SENDRECV: Direction.SENDRECV,
    Direction.SENDONLY: Direction.RECVONLY,
    Direction.RECVONLY: Direction.SENDONLY,
    Direction.INACTIVE: Direction.INACTIVE,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class SdpAnswer:
    """The negotiated stream: what to send, where, and the answer text to put in the 200 OK."""

    sdp: str
    codec: str  #: "PCMU" or "PCMA"
    payload_type: int  #: the offer's number for ``codec`` (normally 0 or 8)
    telephone_event_pt: int | None  #: the offer's telephone-event number; None when not offered
    remote_address: tuple[str, int] | None  #: None on legacy hold (c=0.0.0.0)
    direction: Direction  #: our direction in the answer

    @property
    def sends(self) -> bool:
        """Whether we may send RTP (not on hold, and a remote address known)."""
        return self.direction.sends and self.remote_address is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Choice:
    index: int
    codec: str
    payload_type: int
    telephone_event_pt: int | None


def negotiate(
    offer_sdp: str, *, local_ip: str, local_port: int, session_id: int, session_version: int = 0
) -> SdpAnswer:
    """Answer ``offer_sdp``; raise ``NoCommonCodec`` (→ 488) when no audio stream offers PCMU/PCMA.

    ``session_version`` must grow by one for each new answer in the same dialog (RFC 3264 §8).
    """
    return read_offer(offer_sdp, local_ip=local_ip).answer(
        local_port=local_port, session_id=session_id, session_version=session_version
    )


@dataclass(frozen=True, slots=True)
class Offer:
    """An offer read and judged (:func:`read_offer`), before we know our port: at call set-up the
    offer is checked before a port is bound, then answered once the port is known, with one
    parse of the SDP instead of two."""

    offer: SdpMessage
    choice: _Choice
    remote: tuple[str, int] | None
    direction: Direction  #: ours, mirrored from the offer's
    local_ip: str

    def answer(self, *, local_port: int, session_id: int, session_version: int = 0) -> SdpAnswer:
        text = _answer_text(
            self.offer,
            self.choice,
            local_ip=self.local_ip,
            local_port=local_port,
            direction=self.direction,
            session_id=session_id,
            session_version=session_version,
        )
        return SdpAnswer(
            sdp=text,
            codec=self.choice.codec,
            payload_type=self.choice.payload_type,
            telephone_event_pt=self.choice.telephone_event_pt,
            remote_address=self.remote,
            direction=self.direction,
        )


def read_offer(offer_sdp: str, *, local_ip: str) -> Offer:
    """Parse and judge ``offer_sdp`` (``NoCommonCodec``, ``SdpError``, ``UnusableMediaAddress``)."""
    offer = _parse(offer_sdp)
    choice = _choose(offer)
    media = offer.media[choice.index]
    offered = _offered_direction(offer, media)
    remote = _remote_address(offer, media, local_ip)
    return Offer(offer=offer, choice=choice, remote=remote, direction=_MIRROR[offered], local_ip=local_ip)


def _parse(offer_sdp: str) -> SdpMessage:
    try:
        offer = parse_sdp(offer_sdp)
    except (ValueError, IndexError) as exc:
        raise SdpError(f"unparsable SDP offer: {exc}") from exc
    if not offer.media:
        raise SdpError("SDP offer has no m= line")
    return offer


def _choose(offer: SdpMessage) -> _Choice:
    """The first usable audio stream and, in it, the first voice codec we speak."""
    for index, media in enumerate(offer.media):
        if media.media != "audio" or media.port == 0 or media.proto.upper() != "RTP/AVP":
            continue
        for codec in media.codecs:
            name = _voice_name(codec.payload_type, codec.encoding_name, codec.clock_rate)
            if name is not None:
                return _Choice(
                    index=index,
                    codec=name,
                    payload_type=codec.payload_type,
                    telephone_event_pt=_telephone_event_pt(media),
                )
    offered = [" ".join(m.formats) for m in offer.media if m.media == "audio"]
    raise NoCommonCodec(f"no PCMU/PCMA in the offered audio formats {offered}")


def _voice_name(payload_type: int, encoding: str, clock_rate: int) -> str | None:
    if encoding:
        name = encoding.upper()
        return name if name in _VOICE_CODECS and clock_rate in (0, 8000) else None
    return _STATIC_VOICE.get(payload_type)


def _telephone_event_pt(media: MediaDescription) -> int | None:
    """RFC 4733 §7.1.1: ``a=rtpmap:<pt> telephone-event/8000``; an 8 kHz clock to match G.711."""
    for codec in media.codecs:
        if codec.encoding_name.lower() == "telephone-event" and codec.clock_rate == 8000:
            return codec.payload_type
    return None


#: Iterating an Enum class builds a generator over its member map on every call (7 µs of a 55 µs
#: negotiate() per INVITE, measured); the members never change, so list them once (2 µs), with
#: their values (``.value`` is a Python-level property call on each read).
_DIRECTIONS = tuple((direction.value, direction) for direction in Direction)


def _offered_direction(offer: SdpMessage, media: MediaDescription) -> Direction:
    """The media-level attribute, else the session-level one (RFC 4566 §6), else sendrecv."""
    for attributes in (media.attributes, offer.attributes):
        for value, direction in _DIRECTIONS:
            if value in attributes:
                return direction
    return Direction.SENDRECV


def _remote_address(offer: SdpMessage, media: MediaDescription, local_ip: str) -> tuple[str, int] | None:
    connection = media.connection or offer.connection
    if connection is None:
        raise SdpError("SDP offer has no c= line for its audio stream")
    if connection.address in ("0.0.0.0", "::"):
        return None  # RFC 3264 §8.4: legacy hold
    address = connection.address.split("/")[0]  # a multicast TTL / count suffix
    why = unusable_destination(address, media.port, ipv6=_address_type(local_ip) == "IP6")
    if why is not None:
        raise UnusableMediaAddress(f"cannot send RTP to {address}:{media.port}: {why}")
    return address, media.port


def unusable_destination(address: str, port: int, *, ipv6: bool) -> str | None:
    """Why RTP to ``address:port`` cannot be sent from our socket, or ``None`` when it can.

    ``0.0.0.0`` is not asked about: RFC 3264 §8.4 makes it hold (send nothing), not an error.
    A host name is legal SDP (RFC 4566 §5.7) but refused: resolving it would put a blocking or
    slow DNS query on the call-setup path, and a name that fails later leaves a call with no
    media. Multicast sessions (RFC 3264 §6.2) are not supported by an IVR; broadcast, reserved
    (240/4) and "this network" (0/8, RFC 1122 §3.2.1.3: a source, never a destination) addresses
    fail in ``sendto`` or reach no one.
    """
    if not 0 < port <= 0xFFFF:
        return "port out of range"
    packed = _packed_ip(address)  # inet_pton: 20x cheaper than ipaddress on the per-INVITE path
    if packed is None:
        return "a host name (not resolved at call set-up)"
    version = 6 if len(packed) == 16 else 4
    if (version == 6) != ipv6:
        return f"an IPv{version} address, but the RTP socket is IPv{6 if ipv6 else 4}"
    first = packed[0]
    if (version == 4 and 224 <= first < 240) or (version == 6 and first == 0xFF):
        return "a multicast address"
    if (version == 4 and (first == 0 or first >= 240)) or not any(packed):
        return "not a unicast destination"
    return None


def _packed_ip(address: str) -> bytes | None:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_pton(family, address)
        except OSError:
            continue
    return None


@functools.lru_cache(maxsize=64)
def _address_type(address: str) -> str:
    """``IP6`` for an IPv6 literal, else ``IP4`` (RFC 4566 §5.7 also allows a host name there).

    Cached: it is asked of our own media address (one value) twice per INVITE, and
    ``ipaddress.ip_address`` costs ~30 µs each time."""
    try:
        return "IP6" if ipaddress.ip_address(address).version == 6 else "IP4"
    except ValueError:
        return "IP4"


def _answer_text(
    offer: SdpMessage,
    choice: _Choice,
    *,
    local_ip: str,
    local_port: int,
    direction: Direction,
    session_id: int,
    session_version: int,
) -> str:
    addr_type = _address_type(local_ip)
    lines = [
        "v=0",
        f"o=tui-engine {session_id} {session_version} IN {addr_type} {local_ip}",
        "s=tui-engine",
        f"c=IN {addr_type} {local_ip}",
        f"t={offer.timing.start_time} {offer.timing.stop_time}",
    ]
    for index, media in enumerate(offer.media):
        if index == choice.index:
            lines += _audio_lines(choice, local_port, direction)
        else:  # RFC 3264 §6: a rejected stream keeps its place, port 0, the offered formats
            lines.append(f"m={media.media} 0 {media.proto} {' '.join(media.formats) or '0'}")
    return "\r\n".join(lines) + "\r\n"


def _audio_lines(choice: _Choice, local_port: int, direction: Direction) -> list[str]:
    formats = [str(choice.payload_type)]
    lines = [f"a=rtpmap:{choice.payload_type} {choice.codec}/8000"]
    if choice.telephone_event_pt is not None:
        pt = choice.telephone_event_pt
        formats.append(str(pt))
        lines += [f"a=rtpmap:{pt} telephone-event/8000", f"a=fmtp:{pt} 0-16"]
    lines += ["a=ptime:20", f"a={direction.value}"]
    return [f"m=audio {local_port} RTP/AVP {' '.join(formats)}", *lines]
