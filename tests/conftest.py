"""Fixtures shared by every test area."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tui_engine.testing.engine import EngineFactory, EngineProcess

#: the real peers the suite drives (installed by scripts/install-peers.sh)
PEERS = ("sipp", "redis-server", "chromium", "sox", "espeak-ng", "openssl", "kamailio", "kamcmd")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI a missing peer fails the run at once: no test may be skipped for want of one.

    On a developer's machine without them, the tests that need a peer say so and skip.
    """
    if not os.environ.get("CI"):
        return
    missing = [peer for peer in PEERS if shutil.which(peer) is None]
    if os.geteuid() != 0:
        missing.append("root (SIPp's play_pcap_audio replays RFC 2833 digits)")
    if missing:
        raise pytest.UsageError(
            f"CI without the test peers: {', '.join(missing)} (run scripts/install-peers.sh)"
        )


@pytest.fixture
async def engine_factory(tmp_path: Path) -> AsyncIterator[EngineFactory]:
    """``await engine_factory({"portal.security.inactivity-timeout": "3s"}, args=[...])``.

    Each call starts a real engine process (free ports, its own directory under ``tmp_path``)
    and waits for ``engine.ready``; every engine gets SIGTERM at the end of the test.
    """
    async with contextlib.AsyncExitStack() as stack:
        count = 0

        async def start(options: dict[str, object] | None = None, **kwargs: Any) -> EngineProcess:
            nonlocal count
            count += 1
            engine = EngineProcess(tmp_path / f"engine{count}", options, **kwargs)
            return await stack.enter_async_context(engine)

        yield start
