"""The idle-policy core at scale: 100 000 concurrent sessions in one process.

Two layers, measured separately so each figure says what it includes:

* **core** - bare :class:`IdleSession` objects (sans-I/O): memory per idle session, the cost
  of an ``Activity`` event (with and without building the event object), of ``poll`` when
  nothing is due (an early wake) and when a decision is due, of ``next_deadline``.
* **driver** - :class:`IdleTimer` on a real event loop (asyncio, and uvloop when installed
  and not ``--quick``): memory per session *including* its armed ``TimerHandle`` and
  context, the cost of ``activity()`` through the driver and the number of ``call_at``
  calls it made (the lazy re-arm promises none), and a burst where every timer wakes early
  once after activity, re-arms, and fires: lateness percentiles of the whole burst.

RSS deltas come from a fresh child process per layer (``python -m bench.idle_core --rss``),
because freed memory of an earlier measurement would otherwise be reused and hide growth.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from tui_engine.core import Activity, Decision, FinalAction, IdlePolicy, IdleSession, Started
from tui_engine.runtime import IdleTimer, LazyTimer

TUI = IdlePolicy(timeout=10.0, max_attempts=3, final=FinalAction.DISCONNECT)
LONG = IdlePolicy(timeout=3600.0, max_attempts=3)  # armed, never fires during a measurement

Metric = dict[str, Any]


def metric(value: float | int | bool, unit: str, note: str = "") -> Metric:
    out: Metric = {"value": value, "unit": unit}
    if note:
        out["note"] = note
    return out


def rss_bytes() -> int | None:
    """Resident set size from ``/proc/self/statm`` (Linux); ``None`` elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            resident_pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    import resource

    return resident_pages * resource.getpagesize()


def traced_bytes(build: Callable[[], object]) -> tuple[object, int]:
    """Bytes still allocated (tracemalloc) after ``build()``, with its result kept alive."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return kept, after - before


def timed(body: Callable[[], object], ops: int) -> tuple[float, float]:
    """``(wall ns, CPU ns)`` per operation of ``body()``, with the cyclic GC off (as ``timeit``).

    CPU time is the figure to compare when the machine is shared: it leaves out the time
    this process spent waiting for a CPU.
    """
    gc.collect()
    gc.disable()
    try:
        w0, c0 = time.perf_counter_ns(), time.process_time_ns()
        body()
        w1, c1 = time.perf_counter_ns(), time.process_time_ns()
    finally:
        gc.enable()
    return (w1 - w0) / ops, (c1 - c0) / ops


def cost(label: str, wall_cpu: tuple[float, float], unit: str, note: str = "") -> dict[str, Metric]:
    """Two rows: CPU time per operation (the one to compare) and wall time."""
    wall, cpu = wall_cpu
    return {label: metric(cpu, f"CPU {unit}", note), f"{label} (wall)": metric(wall, unit)}


# -- the sans-I/O core ------------------------------------------------------------------------
def build_sessions(n: int, policy: IdlePolicy = TUI) -> list[IdleSession]:
    sessions = [IdleSession(policy) for _ in range(n)]
    for i, s in enumerate(sessions):
        s.send(Started(now=float(i) * 1e-6))  # distinct anchors, as real sessions have
    return sessions


def core_section(n: int, events: int) -> dict[str, Any]:
    kept, traced = traced_bytes(lambda: build_sessions(n))
    sessions: list[IdleSession] = kept  # type: ignore[assignment]
    del kept
    rounds = max(1, events // n)
    now = 5.0
    event = Activity(now=now)

    def activity() -> None:
        for _ in range(rounds):
            for s in sessions:
                s.send(Activity(now=now))

    def send_prebuilt() -> None:
        for _ in range(rounds):
            for s in sessions:
                s.send(event)

    def empty() -> None:
        for _ in range(rounds):
            for _s in sessions:
                pass

    act = timed(activity, rounds * n)
    metrics: dict[str, Metric] = {
        "memory per idle session (tracemalloc)": metric(
            traced / n, "bytes", "IdleSession + its anchor float + its list slot"
        ),
        **cost("Activity, event built per call", act, "ns/event"),
        "Activity, events per second (CPU)": metric(1e9 / act[1], "events/s", "one core, one thread"),
        **cost("Activity, send() of a prebuilt event", timed(send_prebuilt, rounds * n), "ns/event"),
        **cost("loop overhead (empty for-loop)", timed(empty, rounds * n), "ns/iteration", "in all figures"),
        **cost("next_deadline()", timed(lambda: [s.next_deadline() for s in sessions], n), "ns/call"),
        # nothing due: what an early wake costs
        **cost("poll(), nothing due", timed(lambda: [s.poll(now + 1.0) for s in sessions], n), "ns/poll"),
    }
    fired: list[int] = []

    def poll_at(at: float) -> Callable[[], None]:
        return lambda: fired.append(sum(len(s.poll(at)) for s in sessions))

    metrics |= cost("poll(), a Reprompt due", timed(poll_at(now + 10.0), n), "ns/poll")
    timed(poll_at(now + 20.0), n)  # the second reprompt
    metrics |= cost("poll(), the final Disconnect due", timed(poll_at(now + 30.0), n), "ns/poll")
    metrics["decisions returned by the due polls"] = metric(sum(fired), "decisions", f"expected {3 * n:,}")
    return {
        "name": f"core: {n:,} IdleSession objects (sans-I/O)",
        "params": {"sessions": n, "activity_events": rounds * n, "policy": "10 s x 3, disconnect"},
        "metrics": metrics,
    }


# -- the asyncio driver -----------------------------------------------------------------------
class CallAtCounter:
    """Counts ``call_at`` calls made by IdleTimers (not by the loop's other users)."""

    def __init__(self) -> None:
        self.count = 0


def counting_loop(base: type[asyncio.AbstractEventLoop], counter: CallAtCounter) -> asyncio.AbstractEventLoop:
    """A loop subclass whose ``call_at`` counts IdleTimer handles; works for uvloop's Loop too."""

    class Counting(base):  # type: ignore[valid-type, misc]
        def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
            # IdleTimer schedules through its LazyTimer: the handle's callback is LazyTimer._fire.
            # (Matching IdleTimer._fire, as this did before, counted nothing: every figure read 0.)
            if getattr(callback, "__func__", None) is LazyTimer._fire:
                counter.count += 1
            return super().call_at(when, callback, *args, context=context)

    loop: asyncio.AbstractEventLoop = Counting()
    return loop


def run_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _ignore(decision: Decision, lateness: float) -> None:
    """A decision handler that does nothing: the figures are the driver's own cost."""


async def driver_steady(n: int, events: int, counter: CallAtCounter, kind: str) -> dict[str, Any]:
    def build() -> list[IdleTimer]:
        timers = [IdleTimer(LONG, _ignore) for _ in range(n)]
        for t in timers:
            t.start()
        return timers

    kept, traced = traced_bytes(build)
    timers: list[IdleTimer] = kept  # type: ignore[assignment]
    del kept
    armed = counter.count
    handles = [t.timer.handle for t in timers]
    rounds = max(1, events // n)

    def activity() -> None:
        for _ in range(rounds):
            for t in timers:
                t.activity()

    act = timed(activity, rounds * n)
    made = counter.count - armed
    same = sum(1 for t, h in zip(timers, handles, strict=True) if t.timer.handle is h)
    left = timed(lambda: [t.seconds_left() for t in timers], n)
    def stop_all() -> None:
        for t in timers:
            t.stop()

    stop = timed(stop_all, n)
    return {
        "name": f"driver ({kind}): {n:,} IdleTimers armed on one loop",
        "params": {"timers": n, "activity_events": rounds * n, "policy": "3600 s x 3 (armed, not firing)"},
        "metrics": {
            "memory per idle session (tracemalloc)": metric(
                traced / n, "bytes", "IdleTimer + IdleSession + Context + TimerHandle + heap entry"
            ),
            **cost("activity() through the driver", act, "ns/event", "loop.time() + core + re-arm check"),
            "activity(), events per second (CPU)": metric(1e9 / act[1], "events/s"),
            "call_at calls to arm the timers": metric(armed, "calls", f"one per timer ({n:,})"),
            "call_at calls made by activity()": metric(made, "calls", "lazy re-arm: expected 0"),
            "timers still on their first handle": metric(same, "timers", f"of {n:,}"),
            **cost("seconds_left()", left, "ns/call"),
            **cost("stop() (cancels the handle)", stop, "ns/call"),
        },
    }


async def driver_burst(n: int, counter: CallAtCounter, kind: str, idle_timeout: float) -> dict[str, Any]:
    """All timers start together, get activity ``timeout / 2`` later, so each wakes early once at
    its first deadline, re-arms, and fires half a timeout later: lateness of the whole burst.

    Half a timeout of slack lets the burst of early wakes finish before the moved deadlines
    even on a busy machine; a wake that is already past its moved deadline fires at once.
    """
    timeout = idle_timeout
    policy = IdlePolicy(timeout=timeout, max_attempts=1)
    lateness: list[float] = []
    done = asyncio.Event()

    def record(decision: Decision, late: float) -> None:
        lateness.append(late)
        if len(lateness) == n:
            done.set()

    loop = asyncio.get_running_loop()
    timers = [IdleTimer(policy, record) for _ in range(n)]
    base = counter.count
    for t in timers:
        t.start()
    await asyncio.sleep(timeout / 2)
    before_activity = len(lateness)
    for t in timers:
        t.activity()
    first = loop.time()
    async with asyncio.timeout(60 + 2 * timeout + n / 1000):
        await done.wait()
    span = loop.time() - first
    made = counter.count - base
    ms = sorted(x * 1000 for x in lateness)
    pct = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "name": f"driver ({kind}): {n:,} timers that each wake early, re-arm and fire together",
        "params": {"timers": n, "timeout_s": timeout, "activity_after_s": timeout / 2},
        "metrics": {
            "decisions delivered": metric(len(lateness), "decisions", f"expected {n:,}"),
            "decisions before the activity": metric(before_activity, "decisions", "setup too slow if > 0"),
            "call_at calls in total": metric(made, "calls", "start + one re-arm per early wake"),
            "early wakes that re-armed": metric(
                made - n, "wakes", f"at most {n:,}; a wake already past the moved deadline fires at once"
            ),
            "lateness p50": metric(pct[49], "ms"),
            "lateness p99": metric(pct[98], "ms"),
            "lateness max": metric(ms[-1], "ms", "the last timer of the burst waits for all before it"),
            "negative lateness": metric(sum(1 for x in ms if x < 0), "decisions", "never fires early: 0"),
            "time from activity to the last decision": metric(span, "s", f"last deadline ~{timeout} s after"),
        },
    }


def loop_kinds(quick: bool) -> dict[str, type[asyncio.AbstractEventLoop]]:
    kinds: dict[str, type[asyncio.AbstractEventLoop]] = {"asyncio": asyncio.SelectorEventLoop}
    if not quick:
        try:
            import uvloop
        except ImportError:
            return kinds
        kinds["uvloop"] = uvloop.Loop
    return kinds


# -- RSS, measured in a fresh child process -------------------------------------------------
def _rss_child(layer: str, n: int) -> dict[str, int | None]:
    gc.collect()
    before = rss_bytes()
    if layer == "core":
        kept: object = build_sessions(n)
    else:
        loop = asyncio.new_event_loop()
        timers = [IdleTimer(LONG, _ignore, loop=loop) for _ in range(n)]
        for t in timers:
            t.start()
        kept = (loop, timers)
    gc.collect()
    after = rss_bytes()
    del kept
    return {"before": before, "after": after}


def rss_delta(layer: str, n: int) -> float | None:
    cmd = [sys.executable, "-m", "bench.idle_core", "--rss", layer, str(n)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    if data["before"] is None or data["after"] is None:
        return None
    return float(data["after"] - data["before"])


def rss_section(n: int) -> dict[str, Any]:
    metrics: dict[str, Metric] = {}
    for layer, what in (("core", "IdleSession"), ("driver", "IdleTimer, armed on an asyncio loop")):
        delta = rss_delta(layer, n)
        if delta is not None:
            metrics[f"RSS growth, {layer}"] = metric(delta / 2**20, "MiB", f"{n:,} x {what}")
            metrics[f"RSS per session, {layer}"] = metric(delta / n, "bytes", "allocator overhead included")
    name = "resident memory (fresh child process per layer)"
    return {"name": name, "params": {"sessions": n}, "metrics": metrics}


def run(quick: bool) -> dict[str, Any]:
    saved = structlog.get_config()
    # idle.* decisions log at info; the figures are the timer's, so logs are filtered out.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        return _run(quick)
    finally:
        structlog.configure(**saved)


def _run(quick: bool) -> dict[str, Any]:
    n = 10_000 if quick else 100_000
    events = 200_000 if quick else 1_000_000
    sections = [core_section(n, events), rss_section(n)]
    for kind, base in loop_kinds(quick).items():
        counter = CallAtCounter()
        sections.append(run_on(counting_loop(base, counter), driver_steady(n, events, counter, kind)))
        counter = CallAtCounter()
        burst = driver_burst(n, counter, kind, idle_timeout=2.0 if quick else 5.0)
        sections.append(run_on(counting_loop(base, counter), burst))
        gc.collect()
    return {
        "title": "Idle-policy core and driver at 100 000 sessions",
        "summary": (
            f"{n:,} concurrent sessions in one process: memory per idle session, the cost of an "
            "Activity event and of poll in the sans-I/O core, and the same through IdleTimer on a "
            "real event loop (one lazily re-armed TimerHandle per session)."
        ),
        "sections": sections,
        "notes": [
            "ns figures are per operation on one thread, including the Python for-loop (its empty "
            "cost is listed): CPU time (process_time) and wall time; on a shared machine compare "
            "the CPU figures, and only between runs on the same machine.",
            "tracemalloc counts Python allocations still alive after building the sessions; RSS adds "
            "allocator and interpreter overhead and is measured in a fresh child process.",
            "The burst's lateness is how long one loop takes to reach each callback after its "
            "deadline when all timers are due within the time the activity loop took; the handler "
            "does no work. It is not the lateness of a lone timer.",
            "call_at counts include only handles scheduled by IdleTimer (counted in a loop subclass).",
            "Timed loops run with the cyclic GC disabled (as timeit does); idle.* logging is filtered "
            "out, so the driver figures exclude log rendering.",
            "uvloop: loop.time() is libuv's clock at millisecond resolution, so its lateness figures "
            "are coarser; each uvloop timer also holds a UVTimer object and a libuv uv_timer_t, "
            "hence more memory per session than on asyncio.",
        ],
    }


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--rss":
        print(json.dumps(_rss_child(sys.argv[2], int(sys.argv[3]))))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
