"""Random protocol values (SIP tags, branches, CSeq starts; RTP SSRC, sequence, timestamp; SDP
session ids) from one buffered read of the operating system's CSPRNG.

Why not ``os.urandom``/``secrets`` per value: a call set-up asked the kernel six times
(``getrandom`` ×6 per call in ``bench/_cpu_counts.py calls --strace``) for 2-8 bytes each. Here
one ``os.urandom`` read serves some hundreds of values; each byte is handed out once, so the
values are exactly as unpredictable as ``os.urandom``'s. A forked child drops the parent's
buffer (``os.register_at_fork``): the two would otherwise hand out the same values.
"""

from __future__ import annotations

import os
import threading

_SIZE = 4096

_lock = threading.Lock()
_pool = b""
_used = 0


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the OS's CSPRNG, as ``os.urandom(n)`` gives."""
    global _pool, _used
    with _lock:
        if _used + n > len(_pool):
            _pool = os.urandom(max(_SIZE, n))
            _used = 0
        start = _used
        _used += n
        return _pool[start : start + n]


def random_bits(k: int) -> int:
    """An integer of ``k`` random bits (``secrets.randbits(k)``), ``k`` >= 1."""
    if k < 1:
        raise ValueError("number of bits must be positive")
    size = (k + 7) // 8
    return int.from_bytes(random_bytes(size), "big") >> (size * 8 - k)


def random_hex(n: int) -> str:
    """``n`` random bytes as ``2 n`` hex digits (``secrets.token_hex(n)``)."""
    return random_bytes(n).hex()


def _forget() -> None:
    global _pool, _used, _lock
    _lock = threading.Lock()  # a lock held by another thread at the fork stays held in the child
    _pool, _used = b"", 0


os.register_at_fork(after_in_child=_forget)
