"""Free loopback ports for tests that start real servers (xdist workers run in parallel)."""

from __future__ import annotations

import random
import socket


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    """A port free for ``kind`` *and* for the other of UDP/TCP (SIP listens on both)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port: int = s.getsockname()[1]
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        try:
            with socket.socket(socket.AF_INET, other) as s2:
                s2.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port found")


def free_port_block(
    size: int = 200, host: str = "127.0.0.1", *, avoid: tuple[int, ...] = ()
) -> tuple[int, int]:
    """An even-aligned range ``(first, last)`` of UDP ports that were all free just now.

    ``avoid``: ports picked for something else (an engine's SIP port) that must not fall inside.
    """
    rng = random.Random()
    for _ in range(100):
        first = rng.randrange(20000, 60000 - size) & ~1
        if any(first <= port < first + size for port in avoid):
            continue
        socks: list[socket.socket] = []
        try:
            for port in range(first, first + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((host, port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return first, first + size - 1
    raise RuntimeError("no free port block found")
