"""Buffered randomness (:mod:`tui_engine.core.entropy`): every byte handed out once, sizes and
bit ranges as ``secrets`` gives them, a forked child never repeats its parent's values."""

from __future__ import annotations

import os

import pytest

from tui_engine.core import entropy
from tui_engine.core.entropy import random_bits, random_bytes, random_hex


def test_sizes_and_ranges() -> None:
    assert [len(random_bytes(n)) for n in (0, 1, 8, 4096, 5000)] == [0, 1, 8, 4096, 5000]
    assert len(random_hex(8)) == 16 and int(random_hex(8), 16) >= 0
    for k in (1, 2, 7, 16, 31, 32):
        values = {random_bits(k) for _ in range(200)}
        assert all(0 <= v < 2**k for v in values)
        assert len(values) > 1  # not stuck
    assert max(random_bits(32) for _ in range(200)) >= 2**31  # the top bit is used too
    with pytest.raises(ValueError):
        random_bits(0)


def test_no_value_is_handed_out_twice_across_refills() -> None:
    tags = [random_hex(8) for _ in range(3 * entropy._SIZE // 8)]  # several buffers' worth
    assert len(set(tags)) == len(tags)


def test_a_forked_child_does_not_repeat_the_parent() -> None:
    random_bytes(1)  # a buffer is held
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next values, to the parent
        os.close(read)
        os.write(write, random_bytes(64))
        os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 64 and child != random_bytes(64)
