"""Fixtures shared by every test area."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tui_engine.testing.engine import EngineFactory, EngineProcess


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
