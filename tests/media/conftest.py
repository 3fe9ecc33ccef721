"""Fixtures of the media tests: a media engine on a free port block, and a fake phone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from media_helpers import Capture, open_capture

from tui_engine.media.engine import MediaEngine
from tui_engine.testing import free_port_block


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
