"""Sans-I/O DTMF detectors: RFC 4733 telephone-events, SIP INFO bodies, in-band Goertzel.

Each takes data (and nothing else: no clock, no socket) and returns the digits it recognises.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from aiortp.dtmf import EVENT_TO_DIGIT, DtmfEvent

from tui_engine.media.errors import DtmfError

DIGITS = "0123456789*#ABCD"
_MAX_DURATION = 0xFFFF  # RFC 4733 §2.5.1.5: longer events are cut into segments of this duration


def _serial_lt(a: int, b: int, bits: int) -> bool:
    """``a`` is before ``b`` in modular (serial-number) order: how RTP seq and timestamps wrap."""
    half = 1 << (bits - 1)
    return a != b and ((b - a) & ((1 << bits) - 1)) < half


@dataclass(slots=True)
class _Segment:
    timestamp: int
    event: int
    duration: int
    ended: bool


class Rfc4733Detector:
    """One digit per RFC 4733 event, reported on the first packet seen of it.

    aiortp's ``DtmfReceiver`` waits for an end packet; the three end packets are the only
    redundancy in RFC 4733 §2.5.1.4, so losing them loses the digit. Here an event is identified
    by its RTP timestamp and event code (§2.5.1.2: every packet of one event carries the
    timestamp of its start), so the first packet of any kind reports it and every later packet
    with the same key (updates, the retransmitted end packets) is a repeat.

    Edge cases:
    - a new timestamp with the same digit is a new key press;
    - §2.5.1.5 long events: a segment that starts exactly where an unended segment of the same
      event reached the maximum duration continues the same press;
    - timestamps and sequence numbers wrap (32/16 bits): ordering uses serial arithmetic, and a
      packet older than the newest event and not remembered is a straggler, never a new digit;
    - replaying the same capture twice (SIPp ``play_pcap_audio``) repeats the same timestamp, so
      it looks like one long event: indistinguishable by design of the protocol.
    """

    def __init__(self, *, history: int = 32) -> None:
        self._history = history
        self._seen: OrderedDict[tuple[int, int], _Segment] = OrderedDict()
        self._newest: _Segment | None = None
        self._ssrc: int | None = None

    def feed(self, *, ssrc: int, timestamp: int, payload: bytes) -> str | None:
        """Feed one telephone-event packet; return its digit if it starts a new event."""
        try:
            event = DtmfEvent.parse(payload)
        except ValueError:
            return None
        if ssrc != self._ssrc:  # a new source (RFC 3550 §8.2) starts a fresh history
            self._ssrc, self._newest = ssrc, None
            self._seen.clear()
        known = self._seen.get((timestamp, event.event))
        if known is not None:
            known.duration = max(known.duration, event.duration)
            known.ended = known.ended or event.end
            return None
        if self._newest is not None and _serial_lt(timestamp, self._newest.timestamp, 32):
            return None
        segment = _Segment(timestamp=timestamp, event=event.event, duration=event.duration, ended=event.end)
        continues = self._continues(segment)
        self._remember(segment)
        if continues or event.event not in EVENT_TO_DIGIT:
            return None
        return EVENT_TO_DIGIT[event.event]

    def _continues(self, segment: _Segment) -> bool:
        previous = self._newest
        return (
            previous is not None
            and not previous.ended
            and previous.event == segment.event
            and previous.duration >= _MAX_DURATION - 160
            and (segment.timestamp - previous.timestamp) & 0xFFFFFFFF <= _MAX_DURATION + 160
        )

    def _remember(self, segment: _Segment) -> None:
        self._seen[(segment.timestamp, segment.event)] = segment
        self._newest = segment
        while len(self._seen) > self._history:
            self._seen.popitem(last=False)


# --- one digit per key press, whatever the phone sends ---------------------------------------

DTMF_METHODS = ("rfc4733", "info", "inband")  #: the default preference order
#: How close in time two methods' reports of the same digit must be to be one key press. Only
#: consulted when a more preferred method is heard for the first time (at most twice a call):
#: the copies of one press arrive within tens of ms (INFO lags RTP a little); a person pressing
#: the same key again takes longer than this.
SAME_PRESS_WINDOW = 0.5


class DtmfArbiter:
    """Which of a call's DTMF methods counts: one digit per key press (after Asterisk's
    ``dtmf_mode``, which listens to one method per call).

    Phones set to "INFO + RTP" send every key twice, SIP INFO and RFC 4733; with in-band
    detection on, a tone and its RFC 4733 event both arrive. ``methods`` lists the methods that
    may count, most preferred first (the ``dtmf-methods`` option). A call starts unlocked; the
    first method that delivers a digit locks it. A more preferred method heard later takes over
    for the rest of the call (so a phone that negotiated telephone-event but sends INFO still
    works, and one that sends both ends on the preferred one); its first digit is the same key
    press as the locked method's latest report when it is the same digit within
    :data:`SAME_PRESS_WINDOW`, and is then not counted again. Digits from a less preferred
    method than the locked one never count. RFC 4733's own repeats are removed earlier, by
    :class:`Rfc4733Detector`'s timestamps.
    """

    __slots__ = ("_last", "_locked", "_rank")

    def __init__(self, methods: Sequence[str] = DTMF_METHODS) -> None:
        self._rank = {method: i for i, method in enumerate(methods)}
        self._locked: str | None = None
        self._last: tuple[str, float] | None = None  #: the locked method's latest digit and when

    @property
    def method(self) -> str | None:
        """The method that counts now (None until the first digit)."""
        return self._locked

    def admit(self, digit: str, method: str, now: float) -> bool:
        """Whether this report is a new key press to count (``now``: loop clock, seconds)."""
        rank = self._rank.get(method)
        if rank is None:
            return False  # a method the configuration does not count
        locked = self._locked
        if locked is not None and rank > self._rank[locked]:
            return False  # the other copy of a press the locked method already counted
        same_press = (
            locked is not None
            and method != locked
            and self._last is not None
            and self._last[0] == digit
            and now - self._last[1] <= SAME_PRESS_WINDOW
        )
        self._locked, self._last = method, (digit, now)
        return not same_press


# --- SIP INFO ---------------------------------------------------------------------------------

_INFO_NUMERIC = {"10": "*", "11": "#", "12": "A", "13": "B", "14": "C", "15": "D"}


def parse_info_body(content_type: str, body: bytes) -> str:
    """The digit of a SIP INFO (RFC 6086) DTMF body; ``DtmfError`` when there is none.

    Two de-facto formats (neither has an RFC): ``application/dtmf-relay`` with ``Signal=5`` and
    ``Duration=160`` lines, and ``application/dtmf`` with the bare digit. ``10``/``11`` are the
    event codes of ``*``/``#`` (RFC 4733 §3.2) that some phones send.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise DtmfError(f"{media_type} body is not ASCII") from exc
    if media_type == "application/dtmf-relay":
        return _signal(_relay_signal(text))
    if media_type == "application/dtmf":
        return _signal(text)
    raise DtmfError(f"INFO content type {content_type!r} carries no DTMF", status=415)


def info_status(content_type: str, body: bytes) -> int:
    """The answer an INFO deserves by its body: 200 for a digit, else ``DtmfError.status``.

    An INFO with neither body nor Content-Type is a keep-alive (several SBCs and PBXs send them
    to probe a dialog): 200, and no digit.
    """
    if not body and not content_type.strip():
        return 200
    try:
        parse_info_body(content_type, body)
    except DtmfError as exc:
        return exc.status
    return 200


def _relay_signal(text: str) -> str:
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() == "signal":
            return value.strip()
    raise DtmfError(f"application/dtmf-relay body without Signal=: {text[:40]!r}")


def _signal(value: str) -> str:
    value = value.strip().upper()
    if len(value) == 1 and value in DIGITS:
        return value
    if value in _INFO_NUMERIC:
        return _INFO_NUMERIC[value]
    raise DtmfError(f"not a DTMF signal: {value[:20]!r}")


# --- In-band (Goertzel) ------------------------------------------------------------------------

ROWS = (697.0, 770.0, 852.0, 941.0)  #: ITU-T Q.23 low group, Hz
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)  #: high group, Hz
_KEYPAD = ("123A", "456B", "789C", "*0#D")


@dataclass(frozen=True, kw_only=True, slots=True)
class GoertzelSettings:
    """Thresholds of the in-band detector (ITU-T Q.24 ranges, after Asterisk's ``dsp.c``)."""

    block: int = 102  #: samples per analysis block (12.75 ms): two blocks fit in any 40 ms tone
    min_amplitude: float = 400.0  #: per tone, on the 16-bit scale (about -35 dBm0)
    normal_twist: float = 6.3  #: low group may be up to 8 dB stronger than high (power ratio)
    reverse_twist: float = 2.5  #: high group may be up to 4 dB stronger than low
    relative_peak: float = 6.3  #: the chosen tone beats the others of its group by 8 dB
    tone_share: float = 0.6  #: the two tones hold this share of the block's energy
    blocks_to_start: int = 2  #: minimum duration: 2 × 12.75 ms ≥ 25 ms of steady tone
    blocks_to_end: int = 2  #: debounce: a held tone stays one digit across a single bad block


class GoertzelDetector:
    """In-band DTMF on 8 kHz linear samples, for peers that send tones inside the audio.

    Goertzel evaluates only the 8 DTMF frequencies per block, far cheaper than an FFT. A digit is
    reported once, when the same key has been seen in ``blocks_to_start`` consecutive blocks; it
    may repeat only after ``blocks_to_end`` blocks without it (the key was released).
    """

    def __init__(self, settings: GoertzelSettings | None = None) -> None:
        self.settings = settings or GoertzelSettings()
        n = self.settings.block
        self._coefficients = tuple(2.0 * math.cos(2.0 * math.pi * f / 8000.0) for f in ROWS + COLUMNS)
        self._scale = 2.0 / n  # |X| → amplitude of a sine
        self._buffer: list[int] = []
        self._candidate: str | None = None
        self._hits = 0
        self._misses = 0
        self._reported: str | None = None

    def feed(self, samples: Sequence[int]) -> list[str]:
        """Feed linear samples; return the digits that started in them (usually none)."""
        self._buffer.extend(samples)
        digits: list[str] = []
        n = self.settings.block
        while len(self._buffer) >= n:
            block, self._buffer = self._buffer[:n], self._buffer[n:]
            digit = self._step(self.classify(block))
            if digit is not None:
                digits.append(digit)
        return digits

    def classify(self, block: Sequence[int]) -> str | None:
        """The key whose two tones dominate ``block``, or None."""
        amplitudes = [self._amplitude(block, c) for c in self._coefficients]
        rows, cols = amplitudes[:4], amplitudes[4:]
        row = max(range(4), key=rows.__getitem__)
        col = max(range(4), key=cols.__getitem__)
        if self._accept(rows, cols, row, col, block):
            return _KEYPAD[row][col]
        return None

    def _accept(self, rows: list[float], cols: list[float], row: int, col: int, block: Sequence[int]) -> bool:
        s = self.settings
        low, high = rows[row] ** 2, cols[col] ** 2  # powers
        if min(rows[row], cols[col]) < s.min_amplitude:
            return False
        if high > low * s.reverse_twist or low > high * s.normal_twist:
            return False
        if any(i != row and r**2 * s.relative_peak > low for i, r in enumerate(rows)):
            return False
        if any(i != col and c**2 * s.relative_peak > high for i, c in enumerate(cols)):
            return False
        mean_power = sum(x * x for x in block) / len(block)  # a sine of amplitude A has mean power A²/2
        return (low + high) / 2 >= s.tone_share * mean_power

    def _amplitude(self, block: Sequence[int], coefficient: float) -> float:
        s1 = s2 = 0.0
        for x in block:
            s1, s2 = x + coefficient * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coefficient * s1 * s2
        return math.sqrt(max(power, 0.0)) * self._scale

    def _step(self, digit: str | None) -> str | None:
        """Debounce: report a key after ``blocks_to_start`` hits, forget it after ``blocks_to_end`` misses."""
        s = self.settings
        if digit is not None and digit == self._candidate:
            self._hits += 1
        else:
            self._candidate, self._hits = digit, (0 if digit is None else 1)
        if digit is not None and digit == self._reported:
            self._misses = 0
            return None
        self._misses += 1
        if self._misses >= s.blocks_to_end:
            self._reported = None
        if digit is not None and self._hits >= s.blocks_to_start:
            self._reported, self._misses = digit, 0
            return digit
        return None
