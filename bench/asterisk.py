"""tui-engine side by side with Asterisk (chan_sip), the same SIPp loads, alternating in one run.

Needs ``ASTERISK=/path`` (an Asterisk 20 install with chan_sip, its ``--prefix``); without it
the benchmark reports that it was skipped. The Asterisk side is configured by
:mod:`bench._asterisk` as the equivalent IVR of the bench dialplan.

* **concurrency**: for each size N, tui-engine then Asterisk, each with the callers of
  :mod:`bench.concurrency` (silent, talking with RTP, 10 % RFC 2833 digit callers), the same
  prompts and scaled timeout; each engine measured from where its own menu clock starts
  (tui-engine: the ACK; Asterisk: its 200 OK). Then the sizes for tui-engine alone.
* **call setup**: the stepped 100 ms calls of :mod:`bench.call_setup`, tui-engine's steps then
  Asterisk's, each until a step fails.

Reported: each engine's figures and the ratios tui-engine / Asterisk (hang-up lateness
p50/p99/max, CPU per concurrent call and per call set up, memory per call, the highest call rate
set up within T1), and issue 11's targets, met or not and by how much. CPU is the whole
process (every thread) from ``/proc/PID/stat``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench import call_setup, concurrency
from bench._asterisk import (
    AsteriskProcess,
    IvrConfig,
    asterisk_home,
    scenario_from_200,
    sip_port,
    ulaw_prompts,
)
from bench._load import GOODBYE_PROMPT_S, MENU_PROMPT_S, metric, write_bench_dialplan

TITLE = "tui-engine side by side with Asterisk 20 (chan_sip), same SIPp loads, one run"
#: Sizes both engines run (concurrent calls), then sizes for tui-engine alone.
SIZES = (500, 1000, 2000, 5000)
ENGINE_ONLY_SIZES = (7500, 10000)
SETUP_RATES = (50, 100, 200, 300, 400, 600, 800, 1000, 1200)
RATE = 200.0  #: new calls per second while a size ramps up (as bench.concurrency)
TALKING_CAP = 200
#: Asterisk's RTP ports for the concurrency runs: below the range the bench's SIPp and
#: tui-engine's ports come from (20000 and up), two ports (RTP, RTCP) per call.
CONCURRENCY_RTP = (2000, 19998)
#: For call setup chan_sip keeps each dialog with its RTP and RTCP sockets 32 s after the BYE,
#: so at R calls/s it holds about 64·R ports: the whole unprivileged range.
SETUP_RTP = (2000, 65000)
#: asterisk.conf maxfiles: 4 descriptors per call, so 20 000 (this machine's default) would end
#: it near 4 900 calls. tui-engine (one RTP socket per call) runs with the inherited limit.
MAX_FILES = 65536
#: Targets of issue 11 (tui-engine's side).
TARGET_P99_MS = 10.0
TARGET_CPU_RATIO = 0.5
TARGET_SETUP_RATIO = 2.0
TARGET_KIB_PER_CALL = 15.0
CPU = "engine CPU (average over the run)"  #: the metric of bench.concurrency: % of one core


def _env_ints(name: str, default: Sequence[int]) -> tuple[int, ...]:
    """``NAME=500,1000`` overrides a list of sizes or rates (empty: none)."""
    value = os.environ.get(name)
    if value is None:
        return tuple(default)
    return tuple(int(x) for x in value.replace(" ", "").split(",") if x)


async def run_asterisk_size(
    n: int, *, rate: float, talking_cap: int, workdir: Path, home: Path, nice: int = concurrency.ENGINE_NICE
) -> dict[str, Any]:
    """One size against Asterisk: the callers of ``bench.concurrency``, measured from the 200."""
    shape = concurrency.shape_for(n, rate=rate, talking_cap=talking_cap)
    sounds = ulaw_prompts(write_bench_dialplan(workdir / "dialplans"), workdir / "sounds")
    first, last = CONCURRENCY_RTP
    cfg = IvrConfig(home=home, sip_port=sip_port(), rtp=(first, max(last, first + 3 * n)), max_calls=n + 100,
                    timeout_s=shape.timeout_s, attempts=concurrency.MAX_ATTEMPTS, sounds=sounds,
                    max_files=MAX_FILES)
    scenarios = {kind: scenario_from_200(f"load_{kind}", workdir / "scenarios")
                 for kind in ("no_input", "no_input_rtp", "digit")}
    async with AsteriskProcess(cfg, workdir / "asterisk", nice=nice) as ast:
        seen = await concurrency.observe(
            ast.pid or 0, lambda: concurrency.callers(ast.sip_port, shape, workdir, scenarios.__getitem__))
        threads = _threads(ast.pid or 0)
    # No BYE allowance: Asterisk's Hangup() follows the goodbye's playback at once.
    expected = concurrency.MAX_ATTEMPTS * (MENU_PROMPT_S + shape.timeout_s) + GOODBYE_PROMPT_S
    out = concurrency.summarise(shape, seen, None, expected_s=expected)
    out["name"] = f"Asterisk, {out['name']}"
    out["params"]["engine_nice"] = nice
    metrics = out["metrics"]
    metrics["hang-up lateness p50"]["note"] = f"expected {expected * 1000:.0f} ms 200 OK→BYE (its clock)"
    metrics["digits counted by the engine"]["note"] = "Asterisk exports no digit count"
    metrics["threads at the end"] = metric(threads, "threads", "one per call while calls are up")
    metrics.pop("engine waiting for a CPU")  # schedstat of the main thread says nothing of a thread per call
    return out


def _threads(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None


@asynccontextmanager
async def asterisk_target(
    workdir: Path, max_rate: float, *, home: Path
) -> AsyncIterator[tuple[int, int | None]]:
    """Asterisk for ``bench.call_setup.stepped``: (SIP port, pid)."""
    concurrent = int(max_rate * (call_setup.CALL_MS / 1000 + 1.0)) + 100
    sounds = ulaw_prompts(write_bench_dialplan(workdir / "dialplans"), workdir / "sounds")
    cfg = IvrConfig(home=home, sip_port=sip_port(), rtp=SETUP_RTP, max_calls=concurrent, timeout_s=10.0,
                    attempts=concurrency.MAX_ATTEMPTS, sounds=sounds, max_files=MAX_FILES)
    async with AsteriskProcess(cfg, workdir / "asterisk") as ast:
        yield ast.sip_port, ast.pid


# -- the ratio math (pure: tested without Asterisk) ------------------------------------------------
def ratio(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs; None when either is missing or theirs is not above 0 (no meaningful ratio)."""
    if ours is None or theirs is None or theirs <= 0:
        return None
    return ours / theirs


def per_call(cpu_percent: float | None, calls: float) -> float | None:
    """CPU % of one core per 1 000 calls (concurrent, or set up per second)."""
    return None if cpu_percent is None or calls <= 0 else cpu_percent / calls * 1000


def _value(section: dict[str, Any], key: str) -> Any:
    return section["metrics"].get(key, {}).get("value")


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _pair(a: float | None, b: float | None, digits: int = 1) -> str:
    return f"{_fmt(a, digits)} / {_fmt(b, digits)}"


def concurrency_rows(pairs: Sequence[tuple[dict[str, Any], dict[str, Any] | None]]) -> list[list[str]]:
    """The side-by-side table: one row per size, tui-engine / Asterisk and the ratio."""
    rows = []
    for ours, theirs in pairs:
        n = ours["params"]["calls"]
        t = theirs or {"metrics": {}}
        cpu_o, cpu_t = per_call(_value(ours, CPU), n), per_call(_value(t, CPU), n)
        row = [f"{n:,}"]
        for key in ("hang-up lateness p50", "hang-up lateness p99", "hang-up lateness max"):
            row.append(_pair(_value(ours, key), _value(t, key), 0))
        row += [
            _pair(_value(ours, "failed calls"), _value(t, "failed calls"), 0),
            _pair(_value(ours, CPU), _value(t, CPU)),
            _pair(cpu_o, cpu_t, 2) + f" ({_fmt(ratio(cpu_o, cpu_t), 2)}×)",
            _pair(_value(ours, "memory per call"), _value(t, "memory per call")) + (
                f" ({_fmt(ratio(_value(ours, 'memory per call'), _value(t, 'memory per call')), 2)}×)"),
        ]
        rows.append(row)
    return rows


CONCURRENCY_COLUMNS = [
    "N concurrent", "hang-up lateness p50 (ms)", "p99 (ms)", "max (ms)", "failed calls",
    "CPU (% of one core)", "CPU per 1 000 calls (%, ratio)", "KiB per call (ratio)",
]


def setup_rows(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[list[str]]:
    """Call-setup steps side by side: the rates either engine ran."""
    by_rate = {s["rate"]: s for s in theirs}
    rows = []
    for step in ours + [s for s in theirs if s["rate"] not in {o["rate"] for o in ours}]:
        rate = step["rate"]
        o = next((s for s in ours if s["rate"] == rate), None)
        t = by_rate.get(rate)
        cpu_o = per_call(o["cpu_percent"], rate) if o else None
        cpu_t = per_call(t["cpu_percent"], rate) if t else None
        rows.append([
            f"{rate:g}",
            " / ".join(_held(s) for s in (o, t)),
            _pair(o["setup_p99_ms"] if o else None, t["setup_p99_ms"] if t else None, 0),
            _pair(o["cpu_percent"] if o else None, t["cpu_percent"] if t else None),
            _pair(cpu_o, cpu_t, 1) + f" ({_fmt(ratio(cpu_o, cpu_t), 2)}×)",
        ])
    return rows


SETUP_COLUMNS = ["calls/s", "held (failed)", "p99 INVITE→200 (ms)", "CPU (% of one core)",
                 "CPU per 1 000 calls/s (%, ratio)"]


def _held(step: dict[str, Any] | None) -> str:
    if step is None:
        return "not run"
    again = ", 2nd try" if step.get("first_try_failed") else ""
    return ("held" if step["holds"] else "failed") + f" ({step['failed']}{again})"


def targets(
    pairs: Sequence[tuple[dict[str, Any], dict[str, Any] | None]],
    alone: Sequence[dict[str, Any]],
    setup: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None,
) -> list[list[str]]:
    """Issue 11's targets: measured, met or not, by how much."""
    rows: list[list[str]] = []
    for s in [o for o, _ in pairs] + list(alone):
        n, p99, failed = s["params"]["calls"], _value(s, "hang-up lateness p99"), _value(s, "failed calls")
        sent, counted = _value(s, "digits sent"), _value(s, "digits counted by the engine")
        handled = _value(s, "digit calls ended by their digit")
        ok = p99 is not None and p99 <= TARGET_P99_MS and failed == 0 and counted == sent and handled == sent
        late = "" if p99 is None or p99 <= TARGET_P99_MS else f"{p99 - TARGET_P99_MS:+.0f} ms"
        rows.append([f"p99 hang-up lateness ≤ {TARGET_P99_MS:g} ms, 0 failed, digits exact ({n:,} calls)",
                     f"p99 {_fmt(p99, 0)} ms, {failed} failed, digits {_fmt(counted, 0)}/{sent} counted, "
                     f"{handled}/{sent} ended by the digit", _met(ok, late)])
        kib = _value(s, "memory per call")
        rows.append([f"memory per call ≤ {TARGET_KIB_PER_CALL:g} KiB ({n:,} calls)", f"{_fmt(kib)} KiB",
                     _at_most(kib, TARGET_KIB_PER_CALL)])
    for ours, theirs in pairs:
        if theirs is not None:
            r = ratio(_value(ours, CPU), _value(theirs, CPU))
            n = ours["params"]["calls"]
            what = f"CPU per concurrent call ≤ {TARGET_CPU_RATIO:g} × Asterisk's ({n:,} calls)"
            rows.append([what, f"{_fmt(r, 2)} ×", _at_most(r, TARGET_CPU_RATIO)])
    if setup is None:
        return rows
    ours_steps, theirs_steps = setup
    held = {s["rate"]: s for s in theirs_steps if s["holds"]}
    for step in (s for s in ours_steps if s["holds"] and s["rate"] in held):
        r = ratio(step["cpu_percent"], held[step["rate"]]["cpu_percent"])
        rows.append([f"CPU per call set up ≤ {TARGET_CPU_RATIO:g} × Asterisk's ({step['rate']:g} calls/s)",
                     f"{_fmt(r, 2)} ×", _at_most(r, TARGET_CPU_RATIO)])
    top_o, top_t = (call_setup.best(steps, "within_t1") for steps in (ours_steps, theirs_steps))
    rate_o, rate_t = (top["rate"] if top else None for top in (top_o, top_t))
    r = ratio(rate_o, rate_t)
    capped = bool(top_o) and all(s["within_t1"] for s in ours_steps)
    short = "" if r is None or r >= TARGET_SETUP_RATIO else f"{r / TARGET_SETUP_RATIO:.2f} of the target"
    rows.append([
        f"call setup within T1 ≥ {TARGET_SETUP_RATIO:g} × Asterisk's (one engine process)",
        f"{_fmt(rate_o, 0)} / {_fmt(rate_t, 0)} calls/s = {_fmt(r, 2)} ×"
        + (" (tui-engine held its top step: a lower bound)" if capped else ""),
        _met(r is not None and r >= TARGET_SETUP_RATIO, short),
    ])
    return rows


def _at_most(value: float | None, limit: float) -> str:
    return _met(value is not None and value <= limit,
                "" if value is None or value <= limit else f"{value / limit:.2f}× the target")


def _met(ok: bool, by: str) -> str:
    return "met" if ok else "**not met**" + (f" ({by})" if by else "")


# -- the run -------------------------------------------------------------------------------------------
async def _run(quick: bool, home: Path) -> dict[str, Any]:
    sizes = (60,) if quick else _env_ints("ASTERISK_SIZES", SIZES)
    alone_sizes = () if quick else _env_ints("ASTERISK_ENGINE_ONLY_SIZES", ENGINE_ONLY_SIZES)
    rates = (25, 50) if quick else _env_ints("ASTERISK_SETUP_RATES", SETUP_RATES)
    rate, cap = (100.0, 10) if quick else (RATE, TALKING_CAP)
    seconds = 2.0 if quick else 8.0
    pairs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    alone: list[dict[str, Any]] = []
    loads: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="tui-bench-asterisk-") as tmp:
        root = Path(tmp)
        for n in sizes:  # alternating: the machine's load drifts, so each pair shares a moment
            loads.append((f"{n} tui-engine", _load()))
            ours = await concurrency.run_size(n, rate=rate, talking_cap=cap, workdir=root / f"tui-{n}")
            loads.append((f"{n} Asterisk", _load()))
            theirs = await run_asterisk_size(
                n, rate=rate, talking_cap=cap, workdir=root / f"ast-{n}", home=home)
            pairs.append((ours, theirs))
        for n in alone_sizes:
            loads.append((f"{n} tui-engine", _load()))
            alone.append(await concurrency.run_size(n, rate=rate, talking_cap=cap, workdir=root / f"tui-{n}"))
        setup: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None
        if rates:
            loads.append(("call setup", _load()))
            setup = await alternating_steps(rates, seconds, root, home)
        loads.append(("end", _load()))
    return {"pairs": pairs, "alone": alone, "setup": setup, "loads": loads}


async def alternating_steps(
    rates: Sequence[float], seconds: float, root: Path, home: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Call-setup steps of ``bench.call_setup``, tui-engine then Asterisk at each rate, both up.

    Each engine steps up until a step fails. A failed step is run once more after a pause and
    the second result counts (the first try's failures are kept in the step): on a machine
    shared with other work a passing stall would otherwise end an engine's series early; an
    engine at its limit fails twice.
    """
    async with contextlib.AsyncExitStack() as stack:
        live = {
            "tui-engine": await stack.enter_async_context(
                call_setup.engine_target(root / "setup-tui", max(rates))),
            "asterisk": await stack.enter_async_context(
                asterisk_target(root / "setup-asterisk", max(rates), home=home)),
        }
        steps: dict[str, list[dict[str, Any]]] = {name: [] for name in live}
        for rate in rates:
            for name, (port, pid) in live.items():
                if steps[name] and not steps[name][-1]["holds"]:
                    continue
                where = root / f"setup-{name}" / f"r{rate:g}"
                result = await call_setup.step(port, pid, rate, seconds, where)
                if not result["holds"]:
                    await asyncio.sleep(5.0)
                    first = result
                    result = await call_setup.step(port, pid, rate, seconds, where / "again")
                    result["first_try_failed"] = first["calls"] - first["successful"]
                    result["first_try_errors"] = first["errors"]
                steps[name].append(result)
                await asyncio.sleep(1.0)  # let the step's calls end
    return steps["tui-engine"], steps["asterisk"]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def skipped(reason: str) -> dict[str, Any]:
    return {"title": TITLE, "skipped": True, "summary": f"Skipped: {reason}", "sections": []}


def run(quick: bool) -> dict[str, Any]:
    home = asterisk_home()
    if home is None:
        return skipped("ASTERISK is not set (ASTERISK=/path/to/an Asterisk 20 install with chan_sip, "
                       "e.g. ASTERISK=/opt/asterisk make bench).")
    data = asyncio.run(_run(quick, home))
    return report(data, home)


def report(data: dict[str, Any], home: Path) -> dict[str, Any]:
    pairs, alone, setup = data["pairs"], data["alone"], data["setup"]
    rows = concurrency_rows(pairs) + concurrency_rows([(s, None) for s in alone])
    tables = [{"name": "Concurrent calls: tui-engine / Asterisk", "columns": CONCURRENCY_COLUMNS,
               "rows": rows}]
    plots: dict[str, Any] = {
        "lateness_cdf": {}, "engine_over_time": {},
    }
    sections: list[dict[str, Any]] = []
    for ours, theirs in pairs:
        sections += [_strip(ours, "tui-engine, "), _strip(theirs, "")]
    sections += [_strip(s, "tui-engine, ") for s in alone]
    for s in [x for pair in pairs for x in pair if x] + list(alone):
        label = s["name"] if s["name"].startswith("Asterisk") else f"tui-engine, {s['name']}"
        plots["lateness_cdf"][label] = s["lateness_ms"]
        plots["engine_over_time"][label] = s["series"]
    if setup is not None:
        ours_steps, theirs_steps = setup
        tables.append({"name": "Call setup (100 ms calls, 8 s steps): tui-engine / Asterisk",
                       "columns": SETUP_COLUMNS, "rows": setup_rows(ours_steps, theirs_steps)})
        sections += [call_setup.section("tui-engine call setup", ours_steps),
                     call_setup.section("Asterisk call setup", theirs_steps)]
        plots["call_setup"] = {"tui-engine": ours_steps, "Asterisk": theirs_steps}
    tables.append({"name": "Issue 11 targets (tui-engine)", "columns": ["target", "measured", "met?"],
                   "rows": targets(pairs, alone, setup)})
    tables.append({"name": "Machine load (uptime's 1/5/15-minute averages) as each part started",
                   "columns": ["part", "load average"],
                   "rows": [[part, " ".join(f"{x:g}" for x in avg)] for part, avg in data["loads"]]})
    return {
        "title": TITLE,
        "summary": (
            f"Asterisk from {home}. The same SIPp callers as `concurrency` (0.2 s menu, 0.1 s goodbye, "
            "3 attempts, scaled no-input timeout, 10 % RFC 2833 digit callers, ≤ 200 talking callers) and "
            "`call_setup` (100 ms calls, 8 s steps), tui-engine and Asterisk alternating. Figures are noisy "
            "(a shared 2-core machine, SIPp on the same cores): compare within this run only, as ratios."),
        "tables": tables,
        "sections": sections,
        "plots": plots,
        "notes": [
            "Each engine is measured from where its own menu clock starts: tui-engine's callers from the "
            "ACK they send (expected ACK→BYE includes its 200 ms BYE allowance), Asterisk's from the 200 OK "
            "they receive (its Answer() starts the dialplan; it drops frames written before the ACK).",
            "Asterisk answers with Answer(,i): a plain Answer() waits up to 500 ms for the caller's first "
            "RTP frame. It acts on an RFC 2833 digit at the event's end packet (about 140 ms into SIPp's "
            "pcap), tui-engine on the first: digit calls are counted as ended by their digit, not timed.",
            "Both engines run at nice −10 over the SIPp callers (Asterisk the whole process, as every call "
            "has its own thread; tui-engine its loop thread). CPU is the whole process from /proc/PID/stat.",
            f"Asterisk gets maxfiles={MAX_FILES} (one thread and 4 descriptors per call; at this machine's "
            "20 000 it stops near 4 900 calls) and RTP ports "
            f"{CONCURRENCY_RTP[0]}–{CONCURRENCY_RTP[1]} (concurrency) or {SETUP_RTP[0]}–{SETUP_RTP[1]} "
            "(call setup: chan_sip keeps each dialog and its RTP/RTCP sockets 32 s after the BYE).",
            "Asterisk's memory per call is RSS growth of the process (thread stacks that were touched "
            "included), as for tui-engine.",
        ],
    }


def _strip(section: dict[str, Any], prefix: str) -> dict[str, Any]:
    out = {k: v for k, v in section.items() if k not in ("lateness_ms", "series")}
    out["name"] = prefix + section["name"]
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
