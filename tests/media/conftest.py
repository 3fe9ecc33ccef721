"""Fixtures of the media tests: a media engine on a free port block, and a fake phone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping

import pytest
import uvloop
from media_helpers import Capture, open_capture

from tui_engine.media.engine import MediaEngine
from tui_engine.testing import free_port_block

#: Test modules whose async tests run on both loops: the engine runs on uvloop (``cli.py``), and
#: the RTP poller and the loop-watched sockets lean on the loop's reader and timer behaviour.
BOTH_LOOPS = frozenset({"test_media_poller.py"})


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.path.name not in BOTH_LOOPS:
        return {"asyncio": asyncio.new_event_loop}  # the standard loop only (one factory: no test id)
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture
async def engine() -> AsyncIterator[MediaEngine]:
    first, last = free_port_block(40)
    media = MediaEngine(host="127.0.0.1", port_range=(first, last))
    yield media
    await media.close()


@pytest.fixture
async def phone() -> AsyncIterator[Capture]:
    """A UDP socket on loopback that records the RTP the engine sends it."""
    capture = await open_capture()
    yield capture
    assert capture.transport is not None
    capture.transport.close()
