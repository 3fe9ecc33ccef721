"""Memory per call in flight, counted rather than sampled: what N answered calls hold.

``bench.concurrency`` measures (peak RSS − idle RSS) / calls under SIPp: the figure of issue 11's
≤ 15 KiB target, but it moves with timing, the allocator's arenas and SIPp's pace. This counts
the Python heap instead (``tracemalloc``, every allocation the interpreter and the C extensions
that use its allocators make: uvloop's handles included), in this process, with the engine's real
code (``wiring.build_engine``, the bench dialplan) and the minimal caller of ``bench._cpu_counts``:

1. a few calls set up and ended first (caches, pools, the first-call imports);
2. N calls set up one after the other (INVITE, 200, ACK) and left in flight, past their first
   prompt, waiting for input: the state a call keeps for most of its life;
3. the heap compared with before 2: bytes per call in flight, the top allocation sites and the
   objects per call by type; then every call ended by a BYE, and what is left (a leak would show).

    .venv/bin/python -m bench._mem_counts            # 500 calls
    .venv/bin/python -m bench._mem_counts 2000 --top 30

The report is the indented JSON block printed last (the engine's warning lines, if any, come
before it: ``| sed -n '/^{$/,$p'`` keeps the block). The same N gives the same figures from run
to run to within ~1 % (hash seeds are fixed; dict resizes and the heap's growth depend a little on
N and timing). 1 000 calls take about a minute. Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import re
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

from bench._cpu_counts import _OFFER, _request, engine_and_caller

WARM = 20
SETTLE_S = 0.6  # past the bench's 0.2 s menu prompt: every call is waiting for input


def _types() -> collections.Counter[str]:
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


async def held(n: int, work: Path, *, top: int) -> dict[str, Any]:
    # a no-input timeout longer than the run: every call is still in its first wait when counted
    # (tracemalloc slows set-up several times; at the default 10 s the first calls would reprompt)
    quiet = {"phone.tui.no-input-timeout": "600s"}
    async with engine_and_caller(work, max_calls=n + WARM + 8, ports=2 * n + 128, options=quiet) as (
        _engine, transport, caller, sip, me
    ):
        offer = _OFFER.format(port=me + 2)
        target = ("127.0.0.1", sip)

        async def set_up(i: int) -> str:
            ok = caller.expect(i, "INVITE", 200)
            transport.sendto(_request("INVITE", i, 1, engine=sip, me=me, body=offer), target)
            answer = (await asyncio.wait_for(ok, 30)).decode()
            tag = re.search(r"(?mi)^To:.*(;tag=[^;\s]+)", answer)
            to_tag = tag.group(1) if tag else ""
            transport.sendto(_request("ACK", i, 1, engine=sip, me=me, to_tag=to_tag), target)
            return to_tag

        async def end(i: int, to_tag: str) -> None:
            bye_ok = caller.expect(i, "BYE", 200)
            transport.sendto(_request("BYE", i, 2, engine=sip, me=me, to_tag=to_tag), target)
            await asyncio.wait_for(bye_ok, 30)

        for i in range(WARM):
            tag = await set_up(i)
            await asyncio.sleep(SETTLE_S / 4)
            await end(i, tag)
        await asyncio.sleep(SETTLE_S)
        gc.collect()
        types0 = _types()
        tracemalloc.start(8)
        before = tracemalloc.take_snapshot()
        tags = [await set_up(WARM + i) for i in range(n)]
        await asyncio.sleep(SETTLE_S)
        gc.collect()
        during = tracemalloc.take_snapshot()
        types1 = _types()
        for i, tag in enumerate(tags):
            await end(WARM + i, tag)
        await asyncio.sleep(SETTLE_S)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()

    def per_call(stats: list[tracemalloc.StatisticDiff]) -> float:
        return round(sum(s.size_diff for s in stats) / n, 1)

    held_by_line = during.compare_to(before, "lineno")
    left_by_line = after.compare_to(before, "lineno")
    held_by_trace = during.compare_to(before, "traceback")
    objects = {k: round((types1[k] - types0[k]) / n, 2) for k in types1 if types1[k] - types0[k] >= n // 2}
    return {
        "calls": n,
        "bytes_per_call_in_flight": per_call(held_by_line),
        "bytes_per_call_left_after_bye": per_call(left_by_line),
        "objects_per_call": dict(sorted(objects.items(), key=lambda kv: -kv[1])),
        "objects_per_call_total": round(sum((types1 - types0).values()) / n, 1),
        "top_lines": [
            {"bytes_per_call": round(s.size_diff / n, 1), "count_per_call": round(s.count_diff / n, 2),
             "at": f"{_short(s.traceback[0].filename)}:{s.traceback[0].lineno}"}
            for s in held_by_line[:top]
        ],
        "top_lines_left_after_bye": [
            {"bytes_per_call": round(s.size_diff / n, 1),
             "at": f"{_short(s.traceback[0].filename)}:{s.traceback[0].lineno}"}
            for s in left_by_line[: top // 2]
        ],
        "top_tracebacks": [
            {"bytes_per_call": round(s.size_diff / n, 1),
             "stack": [f"{_short(f.filename)}:{f.lineno}" for f in s.traceback][-5:]}
            for s in held_by_trace[: top // 2]
        ],
    }


def _short(filename: str) -> str:
    for mark in ("/tui_engine/", "/site-packages/", "/lib/python"):
        if mark in filename:
            return filename[filename.index(mark) + 1:]
    return filename


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._mem_counts", description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    import uvloop

    async def run() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="mem-counts-") as tmp:
            return await held(args.n, Path(tmp), top=args.top)

    print(json.dumps(uvloop.run(run()), indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
