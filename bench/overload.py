"""Overload: SIPp offers 1×, 2× and 4× a base call rate; goodput, refusals and failures.

Each call is ``load_overload`` (INVITE → 200 → ACK → 100 ms → BYE → 200, or INVITE → 503 →
ACK when the engine sheds load). The engine runs with its overload control at the defaults
(``overload-lag = "50ms"``, ``max-calls-in-setup = 500``), then, for the overloaded steps, with
it off (both 0): what collapse looks like without it. Per step: calls completed, refused
(503), failed (anything else: SIPp timed out or saw the unexpected), goodput (completed calls
per second of the run) as a share of the base rate, SIPp's INVITE retransmissions, the
engine's refusals by reason (``tui_sip_refused_total``) and calls left in the engine
afterwards (none may be stuck).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._load import (
    BenchEngine,
    Metric,
    ProcSampler,
    engine_options,
    metric,
    metric_value,
    rtp_range,
    sipp_ports,
    write_bench_dialplan,
)
from tui_engine.core.overload import Refusal
from tui_engine.testing.sipp import SippResult, SippRun, run_sipp

CALL_MS = 100  #: how long each completed call stays up before the caller's BYE
MULTIPLES = (1, 2, 4)
REASONS = tuple(r.value for r in Refusal)
#: overload control off: what the engine did before issue 11
CONTROL_OFF = {"engine.overload-lag": "0s", "engine.max-calls-in-setup": 0}


def base_rate(quick: bool) -> float:
    """``OVERLOAD_BASE`` (calls/s), else a rate one engine holds with 0 failed on a quiet 2-core box."""
    return float(os.environ.get("OVERLOAD_BASE", "40" if quick else "300"))


def step_seconds(quick: bool) -> float:
    return float(os.environ.get("OVERLOAD_SECONDS", "2" if quick else "8"))


def multiples() -> tuple[int, ...]:
    """``OVERLOAD_MULTIPLES`` (e.g. ``"4"`` or ``"1,2,4"``), else 1, 2, 4."""
    text = os.environ.get("OVERLOAD_MULTIPLES", "")
    return tuple(int(k) for k in text.split(",")) if text else MULTIPLES


def refusals(text: str) -> dict[str, float]:
    return {r: metric_value(text, "tui_sip_refused_total", {"reason": r}) for r in REASONS}


def counted(result: SippResult, label: str) -> tuple[int, int]:
    """(messages, retransmissions) of ``label`` summed over SIPp's screen rows."""
    rows = result.message_counts(label)
    return sum(m for m, _ in rows), sum(r for _, r in rows)


def udp_drops(port: int) -> int | None:
    """Datagrams the kernel dropped at the engine's SIP socket (its receive queue was full), from
    ``/proc/net/udp``; None where that is not there."""
    try:
        rows = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return None
    for row in rows:
        fields = row.split()
        if fields[1].endswith(f":{port:04X}"):
            return int(fields[-1])
    return None


async def wait_drained(engine: BenchEngine, within: float = 70.0) -> float:
    """Calls still in the engine after up to ``within`` s: a call whose caller is gone ends by its
    2xx retransmissions (64*T1 = 32 s) and then its BYE's Timer F (32 s more), so one still there
    after 70 s is stuck."""
    deadline = time.monotonic() + within
    left = metric_value(await engine.metrics_text(), "tui_active_calls")
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        left = metric_value(await engine.metrics_text(), "tui_active_calls")
    return left


async def step(engine: BenchEngine, rate: float, seconds: float, workdir: Path) -> dict[str, Any]:
    calls = max(1, int(rate * seconds))
    sipp_port, media = sipp_ports()
    run = SippRun(
        scenario="load_overload", target=("127.0.0.1", engine.sip_port), local_port=sipp_port,
        media_port=media[0], workdir=workdir, service="200", calls=calls, rate=rate,
        timeout_s=seconds * 3 + 40, recv_timeout_ms=10000,
        extra=("-d", str(CALL_MS), "-max_socket", "4096"),
    )
    before = refusals(await engine.metrics_text())
    drops_before = udp_drops(engine.sip_port)
    sampler = ProcSampler(engine.pid or 0, period=0.25)
    sampler.start()
    started = time.monotonic()
    result = await run_sipp(run)
    elapsed = time.monotonic() - started
    await sampler.stop()
    after = refusals(await engine.metrics_text())
    drops_after = udp_drops(engine.sip_port)
    refused, _ = counted(result, "503")
    _, invite_retrans = counted(result, "INVITE")
    completed = result.successful - refused
    return {
        "rate": rate, "offered": calls, "completed": completed, "refused": refused,
        "failed": calls - completed - refused, "elapsed_s": round(elapsed, 2),
        "goodput": round(completed / elapsed, 1), "invite_retransmissions": invite_retrans,
        "refused_by_reason": {r: int(after[r] - before[r]) for r in REASONS if after[r] > before[r]},
        "cpu_percent": sampler.cpu_percent(), "left_in_engine": await wait_drained(engine),
        "udp_drops": None if drops_before is None or drops_after is None else drops_after - drops_before,
    }


async def series(
    name: str, workdir: Path, base: float, multiples: tuple[int, ...], seconds: float,
    more: dict[str, object],
) -> list[dict[str, Any]]:
    top = base * max(multiples)
    concurrent = int(top * (CALL_MS / 1000 + 1.0)) + 100
    options = engine_options(write_bench_dialplan(workdir / name / "dialplans"),
                             rtp=rtp_range(2 * concurrent + 100), max_calls=concurrent, **more)
    steps = []
    async with BenchEngine(workdir / name / "engine", options, ready_timeout=60, stop_grace=30) as engine:
        for k in multiples:
            result = await step(engine, base * k, seconds, workdir / name / f"x{k}")
            steps.append({"multiple": k, **result})
    return steps


def section(name: str, base: float, steps: list[dict[str, Any]]) -> dict[str, Any]:
    metrics: dict[str, Metric] = {}
    for s in steps:
        reasons = ", ".join(f"{r} {n}" for r, n in s["refused_by_reason"].items()) or "none"
        note = (f"{s['offered']} offered: {s['completed']} completed, {s['refused']} refused "
                f"(503: {reasons}), {s['failed']} failed; "
                f"{s['invite_retransmissions']} INVITE retransmissions; "
                f"{s['udp_drops'] if s['udp_drops'] is not None else '?'} datagrams dropped by the kernel "
                f"(SIP socket full); CPU {s['cpu_percent'] or 0:.0f} %; "
                f"{s['left_in_engine']:g} calls left after")
        metrics[f"{s['multiple']}× ({s['rate']:g} calls/s) goodput"] = metric(
            s["goodput"], "calls/s", note)
        metrics[f"{s['multiple']}× goodput / base rate"] = metric(
            round(100 * s["goodput"] / base, 1), "%", "target ≥ 90 % (issue 11)")
    return {"name": name, "params": {"base_rate": base, "call_ms": CALL_MS}, "metrics": metrics}


async def _run(quick: bool) -> dict[str, Any]:
    base, seconds = base_rate(quick), step_seconds(quick)
    with tempfile.TemporaryDirectory(prefix="tui-bench-overload-") as tmp:
        ks = multiples()
        on = await series("control-on", Path(tmp), base, ks, seconds, {})
        overloaded = tuple(k for k in ks if k > 1)
        off = []
        if overloaded:
            off = await series("control-off", Path(tmp), base, overloaded, seconds, CONTROL_OFF)
    return {"base": base, "seconds": seconds, "multiples": list(ks), "on": on, "off": off}


def run(quick: bool) -> dict[str, Any]:
    steps = asyncio.run(_run(quick))
    base = steps["base"]
    return {
        "title": "Overload: goodput at 1×, 2×, 4× a base call rate, overload control on and off",
        "summary": (f"SIPp offers {base:g} calls/s × {', '.join(map(str, steps['multiples']))} for "
                    f"{steps['seconds']:g} s each "
                    f"({CALL_MS} ms calls); a 503 from overload control is an accepted outcome."),
        "sections": [
            section("overload control on (defaults)", base, steps["on"]),
            section("overload control off (overload-lag 0s, max-calls-in-setup 0)", base, steps["off"]),
        ],
        "steps": steps,
        "notes": [
            "Goodput is completed calls per second of the step's whole run (SIPp's drain included).",
            "SIPp, the engine and other work share the same 2 cores: figures are noisy; compare "
            "within one run. Set OVERLOAD_BASE (calls/s) and OVERLOAD_SECONDS to change the load.",
            "Failed = neither completed nor refused (SIPp's 10 s receive timeout or an unexpected "
            "message); 'calls left after' is tui_active_calls once SIPp is done (waited ≤ 70 s).",
        ],
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
