"""Fixtures for end-to-end tests of the whole engine over real SIP (loopback only).

``tui`` starts real ``tui-engine serve`` processes (by default on a copy of the bundled main
dialplan with short prompts and a 1 s no-input timeout); after the test it checks that every
engine it started holds no call any more (``tui_active_calls`` 0 in ``/metrics``) and no RTP
socket (no UDP port of its private RTP range still bound).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tui_engine.config import bundled_dialplans
from tui_engine.testing.engine import EngineFactory, EngineProcess

from .helpers import bound_udp_ports, wait_no_calls

#: Prompt lengths (seconds) of the short copy of the main dialplan; every other prompt is 0.3 s.
#: The main options stay long enough for a digit sent 300 ms (INFO) or 800 ms (RFC 4733) after
#: the ACK to barge in.
SHORT_PROMPTS = {"main-options.wav": 1.5}
SHORT_DEFAULT = 0.3
ULAW_8K = ("-r", "8000", "-c", "1", "-e", "mu-law")  #: sox output options: the bundled prompts' format

#: What the short engine runs with: one no-input period is 1 s.
FAST_OPTIONS: dict[str, object] = {"phone.tui.no-input-timeout": "1s"}

StartEngine = Callable[..., Awaitable[EngineProcess]]


def _needs(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")


@pytest.fixture(scope="session")
def short_dialplans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled main dialplan with its prompts replaced by short sox tones (8 kHz µ-law)."""
    _needs("sox")
    source = bundled_dialplans()
    target = tmp_path_factory.mktemp("dialplans")
    shutil.copy(source / "main.yaml", target / "main.yaml")
    for wav in sorted((source / "prompts").rglob("*.wav")):
        out = target / wav.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        seconds = SHORT_PROMPTS.get(wav.name, SHORT_DEFAULT)
        subprocess.run(
            ["sox", "-n", *ULAW_8K, str(out), "synth", f"{seconds}", "sine", "440"],
            check=True,
            capture_output=True,
        )
    return target


@pytest.fixture
async def tui(engine_factory: EngineFactory, short_dialplans: Path) -> AsyncIterator[StartEngine]:
    """``await tui()``: an engine on the short dialplan, 1 s no-input; ``await tui(real=True)``: defaults.

    Extra ``options`` go on top. At teardown (engines still running) every engine must have
    ``tui_active_calls`` back at 0: no scenario may leave a call behind.
    """
    _needs("sipp")
    started: list[EngineProcess] = []

    async def start(
        options: dict[str, object] | None = None, *, real: bool = False, **kw: Any
    ) -> EngineProcess:
        base: dict[str, object] = (
            {} if real else {**FAST_OPTIONS, "phone.tui.dialplans": str(short_dialplans)}
        )
        engine = await engine_factory({**base, **(options or {})}, **kw)
        started.append(engine)
        return engine

    yield start
    for engine in started:
        await wait_no_calls(engine)
        pid = int((await engine.wait_event("engine.ready"))["pid"])
        assert bound_udp_ports(pid, *engine.rtp_ports) == [], "RTP sockets left open after every call ended"
