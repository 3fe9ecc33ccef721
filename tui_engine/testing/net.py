"""Free loopback ports for tests that start real servers (xdist workers run in parallel).

A port that was free when it was probed is not reserved: the server that gets it binds it
later (an engine binds an RTP port only when a call needs one). So probing alone cannot stop two
picks from colliding; where the ports come from must. Two rules make that so:

- **No port of the kernel's ephemeral range** (``net.ipv4.ip_local_port_range``, 32768–60999 by
  default). Every socket bound to port 0 — a test's raw UDP caller, an HTTP client, a SIPp
  socket, Chromium — gets one from there at any moment; a block picked inside it was taken by
  such a socket now and then (an engine's RTP port "already in use", a SIPp media port taken).
- **Each xdist worker has a slice of its own** of the area left (``PYTEST_XDIST_WORKER`` gw0,
  gw1, … of ``PYTEST_XDIST_WORKER_COUNT``), and hands it out in order, wrapping round, from a
  random start (other test runs on the same machine start elsewhere): two workers, or two
  picks of one worker, never get the same port while the slice has not come round again.

The area is 20000 up to the ephemeral range: below 20000 is where Asterisk (the bench's peer,
``rtpstart`` 2000–19998) and other telephony software keep their RTP. When a program holds
that (a bench of another session), the ports above the ephemeral range are used instead.
Each port handed out is still probed (UDP, and TCP too for single ports: SIP listens on both),
so a port another program holds is skipped.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path

AREA_FIRST = 20000  #: the lowest port handed out
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_DEFAULT_EPHEMERAL = (32768, 60999)  #: Linux's default, when /proc does not say


def ephemeral_range(text: str | None = None) -> tuple[int, int]:
    """The kernel's ephemeral port range (``text``: the contents of ``ip_local_port_range``)."""
    if text is None:
        try:
            text = _EPHEMERAL.read_text()
        except OSError:
            return _DEFAULT_EPHEMERAL
    low, high = (int(part) for part in text.split())
    return low, high


def areas(ephemeral: tuple[int, int]) -> list[tuple[int, int]]:
    """``(first, last)`` ranges tests may use, best first: 20000 up to the ephemeral range, then
    above it (where a program holding the first one, e.g. another session's bench, leaves room)."""
    low, high = ephemeral
    found = [(AREA_FIRST, low - 1), (high + 1, 65535)]
    found = [(first, last) for first, last in found if last - first + 1 >= 2000]
    if not found:
        raise RuntimeError(f"no port area for tests outside the ephemeral range {low}-{high}")
    return found


def worker_slice(first: int, last: int, worker: str | None, count: str | None) -> tuple[int, int]:
    """The part of ``first..last`` of xdist worker ``worker`` ("gw3") of ``count`` workers."""
    index = int(worker[2:]) if worker and worker.startswith("gw") and worker[2:].isdigit() else 0
    workers = max(1, int(count)) if count and count.isdigit() else 1
    size = (last - first + 1) // workers
    if index >= workers:
        raise RuntimeError(f"xdist worker {worker} of {workers}")
    start = (first + index * size + 1) & ~1  # even: RTP ports of a block start even
    return start, first + (index + 1) * size - 1


class PortPool:
    """Hands out the ports of ``first..last`` in order, wrapping round, each probed free."""

    def __init__(self, first: int, last: int, *, start: int | None = None) -> None:
        self.first, self.last = first, last
        self._next = first if start is None else start
        self._lock = threading.Lock()  # the web tests call from Playwright's and a pool's threads

    def take(self, size: int, *, host: str, both: bool, align: int = 1) -> int:
        """The first port of ``size`` consecutive ports, all free just now (UDP; and TCP if ``both``)."""
        span = self.last - self.first + 1
        if size > span:
            raise RuntimeError(f"a block of {size} ports does not fit in {self.first}-{self.last}")
        with self._lock:
            for _ in range(span + 2):  # each turn moves on by a port at least: a round, and more
                first = -(-self._next // align) * align
                if first + size - 1 > self.last:  # round again from the start
                    self._next = self.first
                    continue
                busy = _first_busy(range(first, first + size), host, both)
                self._next = first + size if busy is None else busy + 1
                if busy is None:
                    return first
            raise RuntimeError(f"no free block of {size} ports in {self.first}-{self.last}")


def _first_busy(ports: range, host: str, both: bool) -> int | None:
    """The first port of ``ports`` another socket holds, or None (each is bound, then released)."""
    kinds = (socket.SOCK_DGRAM, socket.SOCK_STREAM) if both else (socket.SOCK_DGRAM,)
    socks: list[socket.socket] = []
    try:
        for port in ports:
            for kind in kinds:
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                try:
                    s.bind((host, port))
                except OSError:
                    return port
        return None
    finally:
        for s in socks:
            s.close()


_pools: list[PortPool] = []
_pools_lock = threading.Lock()


def _take(size: int, *, host: str, both: bool, align: int = 1) -> int:
    """From this worker's slice of the first area with room (see :func:`areas`)."""
    with _pools_lock:
        if not _pools:
            worker, count = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("PYTEST_XDIST_WORKER_COUNT")
            for first, last in areas(ephemeral_range()):
                first, last = worker_slice(first, last, worker, count)
                _pools.append(PortPool(first, last, start=random.randrange(first, last + 1)))
    for pool in _pools[:-1]:
        try:
            return pool.take(size, host=host, both=both, align=align)
        except RuntimeError:
            continue
    return _pools[-1].take(size, host=host, both=both, align=align)


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    """A port free for UDP *and* TCP (SIP listens on both); ``kind`` is kept for the callers' sake."""
    del kind  # both are probed whatever the caller needs
    return _take(1, host=host, both=True)


def free_port_block(
    size: int = 200, host: str = "127.0.0.1", *, avoid: tuple[int, ...] = ()
) -> tuple[int, int]:
    """An even-aligned range ``(first, last)`` of UDP ports that were all free just now.

    ``avoid``: ports picked for something else (an engine's SIP port) that must not fall inside;
    ports of this worker's slice are handed out once per round, so they never do, but a caller's
    port from elsewhere might.
    """
    for _ in range(100):
        first = _take(size, host=host, both=False, align=2)
        if not any(first <= port < first + size for port in avoid):
            return first, first + size - 1
    raise RuntimeError("no free port block found")
