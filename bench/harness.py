"""The benchmark harness: discovery, running, JSON + Markdown reports.

A benchmark is any module ``bench/<name>.py`` (not starting with ``_``, not this harness or
the report renderer) that defines ``run(quick: bool) -> dict``. The dict it returns is
free-form, with a few keys the Markdown report understands (see :mod:`bench.report`):

* ``title`` (str) and ``summary`` (str, a sentence or two);
* ``sections``: a list of ``{"name", "params"?, "metrics": {key: {"value", "unit", "note"?}}}``;
* ``notes``: a list of strings (caveats: what the figure does and does not include);
* ``tables``: a list of ``{"name", "columns": [...], "rows": [[cell, ...], ...]}`` (side-by-side figures).

Anything else is kept in the JSON. Nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import pkgutil
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from bench._plots import render_plots
from bench.report import render_markdown

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
_NOT_BENCHMARKS = {"harness", "report"}

Benchmark = Callable[[bool], dict[str, Any]]


def discover() -> dict[str, Benchmark]:
    """Every ``bench/<name>.py`` with a ``run`` function, by name."""
    found: dict[str, Benchmark] = {}
    for info in pkgutil.iter_modules([str(BENCH_DIR)]):
        if info.name.startswith("_") or info.name in _NOT_BENCHMARKS or info.ispkg:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        run = getattr(module, "run", None)
        if callable(run):
            found[info.name] = cast(Benchmark, run)
    return dict(sorted(found.items()))


def environment() -> dict[str, Any]:
    """Where the figures come from: they mean little without it."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": _load_average(),
        "cpu_model": _cpu_model(),
        "git_commit": _git_commit(),
        "git_dirty": _git_dirty(),
    }


def _load_average() -> list[float] | None:
    """1/5/15-minute load: a shared, busy machine inflates wall-clock figures."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _git(*args: str) -> str | None:
    """Read-only git queries; the figures are tied to the code they measured."""
    try:
        out = subprocess.run(["git", *args], cwd=BENCH_DIR.parent, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def _git_commit() -> str | None:
    return _git("rev-parse", "--short", "HEAD")


def _git_dirty() -> bool | None:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def run_benchmarks(selected: dict[str, Benchmark], quick: bool) -> dict[str, Any]:
    """Run each benchmark; a failing one is reported with its traceback, the rest go on."""
    results: dict[str, Any] = {}
    for name, run in selected.items():
        print(f"bench: {name} ({'quick' if quick else 'full'}) ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            result: dict[str, Any] = run(quick)
        except Exception:
            result = {"title": name, "error": traceback.format_exc()}
        result["elapsed_s"] = round(time.perf_counter() - started, 3)
        results[name] = result
    return results


def write_reports(document: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``<stamp>.json``, ``<stamp>.md`` and ``latest.md``; written via temp files (no torn reads)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = document["stamp"]
    json_path, md_path = out_dir / f"{stamp}.json", out_dir / f"{stamp}.md"
    document["plot_files"] = render_plots(document, out_dir)
    markdown = render_markdown(document)
    _atomic_write(json_path, json.dumps(document, indent=2, sort_keys=False) + "\n")
    _atomic_write(md_path, markdown)
    _atomic_write(out_dir / "latest.md", markdown)
    return json_path, md_path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in seconds")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only NAME (repeatable or a,b)"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help=f"results directory ({RESULTS_DIR})")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    wanted = [n for item in args.only for n in item.split(",") if n]
    unknown = [n for n in wanted if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(available)}", file=sys.stderr)
        return 2
    selected = {n: available[n] for n in wanted} if wanted else available
    now = dt.datetime.now(dt.UTC)
    document = {
        "stamp": now.strftime("%Y%m%dT%H%M%SZ"),
        "started_at": now.isoformat(timespec="seconds"),
        "quick": args.quick,
        "environment": environment(),
        "results": run_benchmarks(selected, args.quick),
    }
    json_path, md_path = write_reports(document, args.out)
    print(md_path.read_text(encoding="utf-8"))
    print(f"bench: wrote {json_path} and {md_path}", file=sys.stderr)
    return 1 if any("error" in r for r in document["results"].values()) else 0
