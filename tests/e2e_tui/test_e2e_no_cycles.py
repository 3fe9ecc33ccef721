"""A finished call leaves no reference cycle: reference counting frees it, no full GC needed.

Why it matters: the engine turns CPython's automatic full collections off
(``tui_engine.runtime.gc_policy``) because, with thousands of calls, each one stopped the loop
for 65–200 ms. That is only safe while calls do not leave cyclic garbage behind: it would pile
up until the scheduled collection. So the engine runs in this process, real SIPp callers go
through the paths that end a call (the engine's hang-up after no input, a caller's BYE mid-prompt,
SIP INFO and RFC 4733 digits), and then the collector, asked with ``DEBUG_SAVEALL``, must find
no engine object among the unreachable ones.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import socket
from pathlib import Path

import pytest

from tui_engine.app import load_and_check
from tui_engine.testing import free_port, free_port_block
from tui_engine.testing.sipp import SippRun, run_sipp
from tui_engine.wiring import build_engine

from .helpers import assert_sipp_ok

pytestmark = pytest.mark.e2e

SCENARIOS: list[tuple[str, dict[str, object]]] = [
    ("uac_basic_bye_from_uas", {}),  # no input: reprompts, goodbye, the engine's BYE
    ("uac_caller_hangup", {"variables": {"hold_ms": "500"}}),  # BYE while the greeting plays
    ("uac_info_digits", {"keys": {"first": "3", "second": "9"}}),
]
if os.geteuid() == 0:  # SIPp's play_pcap_audio needs root (CI runs as root)
    SCENARIOS.append(("uac_rfc2833_submenu", {}))


async def test_finished_calls_leave_no_cyclic_garbage(short_dialplans: Path, tmp_path: Path) -> None:
    sip, http = free_port(socket.SOCK_DGRAM), free_port()
    first, last = free_port_block(16)
    options = {
        "engine.sip-listen": f"127.0.0.1:{sip}",
        "engine.http-listen": f"127.0.0.1:{http}",
        "engine.data-dir": str(tmp_path / "data"),
        "engine.rtp-ports": f"{first}-{last}",
        "engine.max-calls": 8,
        "engine.overload-lag": "0s",  # no loop-lag 503s on a loaded machine (as testing/engine.py)
        "logging.level": "warning",
        "phone.tui.dialplans": str(short_dialplans),
        "phone.tui.no-input-timeout": "1s",
    }
    config, _ = load_and_check(None, [f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
                                      for k, v in options.items()])
    engine = build_engine(config, watch=False)
    await engine.start()
    try:
        gc.collect()
        gc.disable()  # from here on only reference counting frees anything
        for scenario, extra in SCENARIOS:
            media, _ = free_port_block(4)
            run = SippRun(
                scenario=scenario, target=("127.0.0.1", sip), local_port=free_port(socket.SOCK_DGRAM),
                media_port=media, workdir=tmp_path / scenario, timeout_s=60.0, **extra,  # type: ignore[arg-type]
            )
            assert_sipp_ok(await run_sipp(run))
        component = next(c for c in engine.components if type(c).__name__ == "TuiComponent")
        assert component.active_calls == 0  # type: ignore[attr-defined]
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        ours = collections.Counter(
            type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("tui_engine")
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        await engine.stop()
    assert ours == {}, f"finished calls left reference cycles: {dict(ours)}"
