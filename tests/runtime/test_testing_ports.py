"""Where test ports come from: never the ephemeral range, one slice per xdist worker, in order.

Before, ``free_port`` bound port 0 (an ephemeral port) and ``free_port_block`` drew a random
block from 20000–60000: a block probed free could be handed to another worker's engine or SIPp
(or taken by any socket bound to port 0) before its own engine bound it, and a call then met
"address already in use" (the collisions seen in ``tests/cli/test_status.py``).
"""

from __future__ import annotations

import itertools
import socket

import pytest

from tui_engine.testing import free_port, free_port_block, net
from tui_engine.testing.net import PortPool, areas, ephemeral_range, worker_slice


def test_the_area_lies_outside_the_ephemeral_range() -> None:
    assert ephemeral_range("32768\t60999\n") == (32768, 60999)
    assert areas((32768, 60999)) == [(20000, 32767), (61000, 65535)]  # below first, then above
    assert areas((10000, 60999)) == [(61000, 65535)]  # no room below
    assert areas((32768, 65000)) == [(20000, 32767)]
    with pytest.raises(RuntimeError, match="ephemeral range 1024-65535"):
        areas((1024, 65535))


def test_each_worker_has_a_slice_of_its_own() -> None:
    slices = [worker_slice(20000, 32767, f"gw{i}", "3") for i in range(3)]
    assert slices[0][0] == 20000 and slices[-1][1] <= 32767
    for (_, last), (first, _) in itertools.pairwise(slices):
        assert last < first  # disjoint, in order
    assert all(first % 2 == 0 for first, _ in slices)  # RTP blocks start even
    assert worker_slice(20000, 32767, None, None) == (20000, 32767)  # not under xdist: all of it


def test_the_ports_handed_out_are_this_workers_and_outside_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    ports = [free_port() for _ in range(20)] + [free_port(socket.SOCK_STREAM) for _ in range(20)]
    blocks = [free_port_block(10) for _ in range(10)]
    taken = ports + [p for first, last in blocks for p in range(first, last + 1)]
    assert len(set(taken)) == len(taken)  # no port twice
    assert not [p for p in taken if low <= p <= high]
    assert all(first % 2 == 0 for first, _ in blocks)


def test_a_pool_skips_a_port_another_program_holds_and_wraps_round() -> None:
    start, last = free_port_block(10)  # this worker's: no other worker probes these
    pool = PortPool(start, last)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp_squatter,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp_squatter,
    ):
        tcp_squatter.bind(("127.0.0.1", start + 1))
        assert pool.take(1, host="127.0.0.1", both=False) == start
        assert pool.take(1, host="127.0.0.1", both=True) == start + 2  # start + 1 skipped: TCP held
        assert pool.take(4, host="127.0.0.1", both=False, align=2) == start + 4
        assert pool.take(4, host="127.0.0.1", both=False, align=2) == start  # round again
        udp_squatter.bind(("127.0.0.1", start + 5))
        with pytest.raises(RuntimeError, match="no free block of 6 ports"):
            pool.take(6, host="127.0.0.1", both=False, align=2)  # start..+5 and +6..+11 hold +5


def test_when_the_first_area_is_full_the_next_one_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    full, _ = free_port_block(2)
    spare, _ = free_port_block(2)
    monkeypatch.setattr(net, "_pools", [PortPool(full, full + 1), PortPool(spare, spare + 1)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", full))  # e.g. another session's bench
        assert free_port_block(2) == (spare, spare + 1)
