"""Call setup: SIPp at stepped rates with short calls, against the engine and a C reference.

Every call is INVITE → 200 → ACK → (``-d`` ms) → BYE → 200 (``load_call_setup``). A rate step
*holds* when every call succeeded (0 failed); the report also gives the highest step whose 99th
percentile INVITE→200 stayed under the 500 ms of SIP's first retransmission (RFC 3261
§17.1.1.2, T1), beyond which callers retransmit and the load grows by itself. The highest step
that held is the figure, for the engine and
for Kamailio answering statelessly (:mod:`bench._kamailio`), measured in the same run; the
engine's figure is given as a ratio to the reference's.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench._kamailio import Dispatcher, StatelessResponder, kamailio_path
from bench._load import (
    BenchEngine,
    Metric,
    ProcSampler,
    engine_options,
    failure_excerpt,
    metric,
    percentile,
    rtp_range,
    run_sipp_rtt,
    sipp_ports,
    write_bench_dialplan,
)
from tui_engine.testing.sipp import SippRun

CALL_MS = 100  #: how long each call stays up before the caller's BYE
T1_MS = 500.0
ENGINES = 2  #: engine processes behind the Kamailio dispatcher (one per core of the 2-core machine)


@asynccontextmanager
async def engine_target(workdir: Path, max_rate: float) -> AsyncIterator[tuple[int, int | None]]:
    concurrent = int(max_rate * (CALL_MS / 1000 + 1.0)) + 100
    options = engine_options(
        write_bench_dialplan(workdir / "dialplans"), rtp=rtp_range(2 * concurrent + 100),
        max_calls=concurrent,
    )
    async with BenchEngine(workdir / "engine", options, ready_timeout=60, stop_grace=30) as engine:
        yield engine.sip_port, engine.pid


@asynccontextmanager
async def dispatched_target(workdir: Path, max_rate: float) -> AsyncIterator[tuple[int, list[int]]]:
    """``ENGINES`` engines (own SIP ports, disjoint RTP ranges) behind a Kamailio dispatcher."""
    concurrent = int(max_rate * (CALL_MS / 1000 + 1.0)) + 100
    first, last = rtp_range(ENGINES * (2 * concurrent + 100))
    share = (last - first + 1) // ENGINES & ~1
    async with contextlib.AsyncExitStack() as stack:
        ports, pids = [], []
        for i in range(ENGINES):
            options = engine_options(
                write_bench_dialplan(workdir / f"dialplans{i}"),
                rtp=(first + i * share, first + (i + 1) * share - 1), max_calls=concurrent,
            )
            engine = await stack.enter_async_context(
                BenchEngine(workdir / f"engine{i}", options, ready_timeout=60, stop_grace=30))
            ports.append(engine.sip_port)
            pids.append(engine.pid or 0)
        dispatcher = await stack.enter_async_context(Dispatcher(workdir / "kamailio", ports))
        yield dispatcher.port, pids


@asynccontextmanager
async def kamailio_target(workdir: Path, max_rate: float) -> AsyncIterator[tuple[int, int | None]]:
    async with StatelessResponder(workdir / "kamailio") as k:
        yield k.port, None  # CPU of a forking server is spread over children: not sampled


async def step(
    port: int, pid: int | list[int] | None, rate: float, seconds: float, workdir: Path
) -> dict[str, Any]:
    calls = max(1, int(rate * seconds))
    sipp_port, media = sipp_ports()
    run = SippRun(
        scenario="load_call_setup", target=("127.0.0.1", port), local_port=sipp_port, media_port=media[0],
        workdir=workdir, service="200", calls=calls, rate=rate, timeout_s=seconds * 3 + 20,
        recv_timeout_ms=10000, extra=("-d", str(CALL_MS), "-max_socket", "4096"),
    )
    pids = pid if isinstance(pid, list) else [pid] if pid else []
    samplers = [ProcSampler(p, period=0.25) for p in pids]
    for sampler in samplers:
        sampler.start()
    started = time.monotonic()
    result, rtt = await run_sipp_rtt(run)
    elapsed = time.monotonic() - started
    for sampler in samplers:
        await sampler.stop()
    cpu = [s.cpu_percent() for s in samplers]
    p99 = percentile(rtt, 99)
    holds = result.failed == 0 and result.successful == calls
    return {
        "rate": rate, "calls": calls, "successful": result.successful, "failed": result.failed,
        "setup_p50_ms": percentile(rtt, 50), "setup_p99_ms": p99, "elapsed_s": round(elapsed, 2),
        "cpu_percent": sum(c for c in cpu if c is not None) if samplers else None,  # all engines
        "rss_mib": sum(s.peak_rss() for s in samplers) / 2**20 if samplers else None, "holds": holds,
        "within_t1": holds and p99 is not None and p99 < T1_MS,
        "errors": "" if holds else failure_excerpt(result),
    }


async def stepped(
    name: str, target: Any, rates: Sequence[float], seconds: float, workdir: Path
) -> list[dict[str, Any]]:
    """Run the rates in order until one does not hold (the steps above it would not either)."""
    steps: list[dict[str, Any]] = []
    async with target(workdir / name, max(rates)) as (port, pid):
        for rate in rates:
            result = await step(port, pid, rate, seconds, workdir / name / f"r{rate:g}")
            steps.append(result)
            if not result["holds"]:
                break
            await asyncio.sleep(1.0)  # let the previous step's calls end
    return steps


def best(steps: list[dict[str, Any]], key: str = "holds") -> dict[str, Any] | None:
    held = [s for s in steps if s[key]]
    return held[-1] if held else None


def section(name: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    top, fast = best(steps), best(steps, "within_t1")
    metrics: dict[str, Metric] = {
        "highest rate with 0 failed calls": metric(top["rate"] if top else None, "calls/s"),
        "highest rate with 0 failed and p99 INVITE→200 < 500 ms": metric(
            fast["rate"] if fast else None, "calls/s", "no caller needed to retransmit (T1)"),
    }
    for s in steps:
        note = (f"{s['successful']}/{s['calls']} ok, {s['failed']} failed, setup p50 {s['setup_p50_ms']} ms, "
                f"p99 {s['setup_p99_ms']} ms" + ("" if s["holds"] else " — did not hold")
                + (f"; SIPp: {s['errors']}" if s.get("errors") else "")
                + (f"; a second try (the first had {s['first_try_failed']} calls not completed)"
                   if s.get("first_try_failed") else ""))
        metrics[f"{s['rate']:g} calls/s"] = metric(s["cpu_percent"], "% CPU" if s["cpu_percent"] is not None
                                                   else "", note)
        if s["rss_mib"] is not None:
            metrics[f"{s['rate']:g} calls/s RSS"] = metric(s["rss_mib"], "MiB", "engine peak")
    return {"name": name, "params": {"call_ms": CALL_MS, "steps": len(steps)}, "metrics": metrics}


async def _run(quick: bool) -> dict[str, Any]:
    seconds = 2.0 if quick else 8.0
    engine_rates = [25, 50] if quick else [50, 100, 200, 300, 400, 600, 800, 1000, 1200, 1600, 2000]
    ref_rates = [50, 200] if quick else [500, 1000, 2000, 4000, 6000, 8000, 12000]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tui-bench-setup-") as tmp:
        out["engine"] = await stepped("engine", engine_target, engine_rates, seconds, Path(tmp))
        if kamailio_path() is not None:
            out["kamailio"] = await stepped("kamailio", kamailio_target, ref_rates, seconds, Path(tmp))
            out["dispatched"] = await stepped(
                "dispatched", dispatched_target, engine_rates, seconds, Path(tmp))
    return out


def run(quick: bool) -> dict[str, Any]:
    steps = asyncio.run(_run(quick))
    sections = [section("tui-engine", steps["engine"])]
    eng, ref = best(steps["engine"]), None
    if "kamailio" in steps:
        sections.append(section("Kamailio, stateless sl_send_reply (C reference)", steps["kamailio"]))
        ref = best(steps["kamailio"])
    ratio = eng["rate"] / ref["rate"] if eng and ref else None
    ref_capped = bool(ref) and all(s["holds"] for s in steps.get("kamailio", []))
    eng_capped = bool(eng) and all(s["holds"] for s in steps["engine"])
    caveat = ("; the reference held its top step, so its limit was not reached: the ratio is an upper bound"
              if ref_capped else "") + ("; the engine held its top step: its figure is a lower bound"
                                        if eng_capped else "")
    ratios = {"engine / C reference": metric(ratio, "", "target ≥ 0.5" + caveat)}
    if "dispatched" in steps:
        sections.insert(1, section(f"{ENGINES} engines behind a Kamailio dispatcher (hash of Call-ID)",
                                   steps["dispatched"]))
        many = best(steps["dispatched"])
        ratios[f"{ENGINES} engines / C reference"] = metric(
            many["rate"] / ref["rate"] if many and ref else None, "", "the same SIPp, one address")
        ratios[f"{ENGINES} engines / one engine"] = metric(
            many["rate"] / eng["rate"] if many and eng else None, "", "scaling on these 2 shared cores")
    sections.append({"name": "ratio", "metrics": ratios})
    return {
        "title": "Call setup rate (SIPp, short calls), engine vs a stateless C responder",
        "summary": (f"Stepped SIPp rates, {CALL_MS} ms calls (INVITE, 200, ACK, BYE, 200); the highest "
                    "rate with 0 failed calls, and the highest that also kept p99 INVITE→200 under T1 "
                    "(500 ms)."),
        "sections": sections,
        "steps": steps,
        "plots": {"call_setup": steps},
        "notes": [
            "The engine answers each call with the bench dialplan (a 0.2 s prompt starts playing), so "
            "every call also sets up an RTP session; the C reference only answers SIP.",
            "SIPp runs on the same 2 cores; at the reference's top steps SIPp is the limit.",
            "The dispatched run puts Kamailio's dispatcher (stateless, hash of Call-ID) in front of "
            f"{ENGINES} engines: the same SIPp load, one address, every dialog on one engine; its CPU % "
            "is the engines' sum. Kamailio and SIPp share the same 2 cores.",
            "Steps stop at the first that does not hold.",
        ],
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
