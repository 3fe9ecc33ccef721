"""Refusals under overload: answered statelessly (RFC 3261 §8.2.7) and logged in summary.

Why stateless: under a flood most INVITEs are refused, and a refusal that costs a stateful INVITE
server transaction (an object, Timers G and H on the heap, the ACK read and matched, Timer I)
leaves that much less for the calls taken. §8.2.7 lets a UAS answer any request statelessly: it
MUST NOT retransmit its response, MUST ignore the ACK, MUST give the same To tag to the same
request, and answers a retransmission again as it answered the request. So a refusal is kept here
only as its ready 503, keyed by the INVITE's top ``Via:`` and ``Call-ID:`` lines as sent (the ACK
of a non-2xx repeats the INVITE's top Via, §17.1.1.3, and every retransmission and ACK repeats
the Call-ID): a retransmission (the same bytes) gets the same 503 from here, its ACK is absorbed
after four ``find`` and one dict lookup, nothing is parsed and no timer runs. An entry goes at the
ACK (after it the caller sends no more INVITEs: its client transaction is completed), after
:data:`LIFETIME` (64*T1, when the caller's Timer B has ended its retransmissions), or oldest
first beyond :data:`CAPACITY` or :data:`MAX_BYTES` (INVITEs that are never ACKed hold a bounded
amount of memory, whatever their size).
The To tag is a keyed hash of the key, so an INVITE refused again after its entry went gets the
same tag, as §8.2.7 asks. A request of another shape (compact or other-case header names) has no
key here and goes through a transaction as before.

Why a summary log: one ``sip.rejected`` line per refused INVITE costs more than the refusal
under a flood (thousands a second). The first refusal after a quiet second is logged in full (with
its call's context); the ones after it are counted, and one ``sip.rejected_summary`` line a
second gives their number by reason, as long as refusals go on. The refusal metric is counted
for each refusal, exactly, elsewhere.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from tui_engine.core.entropy import random_bytes
from tui_engine.sip.message import Addr

#: how long a refusal is remembered: 64*T1 with the default T1, the caller's Timer B
LIFETIME = 32.0
#: refusals remembered at most (each holds its INVITE and its 503: ~1.5 KiB, ~12 MiB in all)
CAPACITY = 8192
#: and the bytes they hold at most (INVITE, 503 and key): a datagram may be 64 KiB and its 503
#: echoes its Via, From and To, so the count alone let large INVITEs (sent through a trusted
#: proxy under a flood) hold a gigabyte
MAX_BYTES = 16 * 1024 * 1024
#: how often a flood of refusals is summed up in the log
SUMMARY_INTERVAL = 1.0

_VIA = b"\r\nVia: "
_CALL_ID = b"\r\nCall-ID: "


def refusal_key(data: bytes) -> bytes | None:
    """The top ``Via:`` and first ``Call-ID:`` values of the request ``data``, as sent; None when
    its header block lacks either line in that spelling, or has its top Via in another one (the
    full transaction handles it)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    via = data.find(_VIA, 0, end)
    call = data.find(_CALL_ID, 0, end)
    if via < 0 or call < 0:
        return None
    if data.find(b"\r\nv", 0, via) >= 0 or data.find(b"\r\nV", 0, via) >= 0:
        return None  # a Via in another spelling above it (``v:``, ``VIA``): that one is the top
    via += len(_VIA)
    call += len(_CALL_ID)
    return data[via : data.find(b"\r\n", via)] + b"\n" + data[call : data.find(b"\r\n", call)]


class Refused(NamedTuple):
    """One 503 sent statelessly."""

    invite: bytes  #: the INVITE as it came (a retransmission is these bytes again)
    response: bytes
    addr: Addr  #: where the 503 went
    transport: str
    expires: float
    repeated: bool = False  #: the caller has retransmitted it at least once


class StatelessRefusals:
    """The 503s sent without a transaction; see the module docstring."""

    __slots__ = ("_entries", "_secret", "capacity", "lifetime", "max_bytes", "nbytes")

    def __init__(
        self, *, capacity: int = CAPACITY, lifetime: float = LIFETIME, secret: bytes | None = None,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._entries: OrderedDict[bytes, Refused] = OrderedDict()  # oldest first: O(1) to drop
        self._secret = secret if secret is not None else random_bytes(16)
        self.capacity = capacity
        self.lifetime = lifetime
        self.max_bytes = max_bytes
        self.nbytes = 0  #: what the entries hold (:func:`_size`), at most :attr:`max_bytes`

    def __len__(self) -> int:
        return len(self._entries)

    def tag(self, key: bytes) -> str:
        """The To tag of the refusal of ``key``: the same for the same request (§8.2.7), 64 bits
        no outsider can predict (§19.3: a keyed hash with this process's secret)."""
        return hashlib.blake2b(key, digest_size=8, key=self._secret).hexdigest()

    def repeated(self, key: bytes, data: bytes, now: float) -> Refused | None:
        """The refusal ``data`` (an INVITE with ``key``) retransmits, or None: it must be the
        same bytes; anything else with that key is a new request for the usual path. Its
        ``repeated`` is False the first time only (late answers count a transaction once)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.invite != data or entry.expires <= now:
            # Gone, or another request with this key (a new CSeq on a reused branch, a proxy's
            # new branch above the same Via): it is decided anew and, if refused, remembered
            # anew. Kept, the entry would take the ACK of that request's 2xx for its own.
            self._forget(key)
            return None
        if not entry.repeated:
            self._entries[key] = entry._replace(repeated=True)
        return entry

    def acked(self, key: bytes, now: float) -> bool:
        """An ACK with ``key`` came at ``now``: True (and forgotten) if it is the ACK of a refusal
        here, one still within its lifetime (an older one is no longer ours to absorb)."""
        entry = self._forget(key)
        return entry is not None and entry.expires > now

    def remember(
        self, key: bytes, invite: bytes, response: bytes, addr: Addr, transport: str, now: float
    ) -> None:
        """The 503 ``response`` went to ``addr`` for ``invite`` (with ``key``) at ``now``."""
        entries = self._entries
        self._forget(key)
        entries[key] = entry = Refused(invite, response, addr, transport, now + self.lifetime)
        self.nbytes += _size(key, entry)
        while entries and (len(entries) > self.capacity or self.nbytes > self.max_bytes
                           or next(iter(entries.values())).expires <= now):
            old, gone = entries.popitem(last=False)
            self.nbytes -= _size(old, gone)

    def _forget(self, key: bytes) -> Refused | None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.nbytes -= _size(key, entry)
        return entry


def _size(key: bytes, entry: Refused) -> int:
    return len(key) + len(entry.invite) + len(entry.response)


class RefusalLog:
    """Which refusals get a log line of their own; the rest summed up once a second.

    A :class:`~tui_engine.sip.transaction.Timed` of the endpoint's heap: ``deadline`` is the
    end of the current second of refusals (None: none lately, the next is logged in full).
    """

    __slots__ = ("_counts", "_emit", "_schedule", "_since", "deadline", "interval")

    call_id: str | None = None  #: the summary belongs to no one call

    def __init__(
        self, emit: Callable[[dict[str, int], float], None], schedule: Callable[[RefusalLog], None], *,
        interval: float = SUMMARY_INTERVAL,
    ) -> None:
        self._emit = emit  #: ``(count by reason, seconds)``: the summary line
        self._schedule = schedule  #: onto the endpoint's heap, at :attr:`deadline`
        self._counts: dict[str, int] = {}
        self._since = 0.0
        self.deadline: float | None = None
        self.interval = interval

    def refused(self, reason: str, now: float) -> bool:
        """A refusal for ``reason`` at ``now``: True to log it in full, False when it is counted
        for the summary."""
        if self.deadline is None:
            self._since = now
            self.deadline = now + self.interval
            self._schedule(self)
            return True
        self._counts[reason] = self._counts.get(reason, 0) + 1
        return False

    def on_timer(self, now: float) -> None:
        """The second is over: its summary, if refusals were held back, and the next second."""
        if not self.flush(now):
            return
        self._since = now
        self.deadline = now + self.interval
        self._schedule(self)

    def flush(self, now: float) -> bool:
        """The summary of the refusals held back so far, now (the timer's, or the endpoint's at
        its end: its heap is dropped then, and with it this timer); True if there were any.
        After it, the next refusal is logged in full."""
        self.deadline = None
        if not self._counts:
            return False
        counts, self._counts = self._counts, {}
        self._emit(counts, round(now - self._since, 3))
        return True
