"""PNG plots from the ``plots`` data a benchmark returns (matplotlib, the ``bench`` extra).

A benchmark's result may carry ``"plots": {kind: data}``; each known kind has a renderer here:

* ``lateness_cdf`` / ``lock_lateness_cdf``: ``{series name: sorted lateness in ms}`` → a CDF;
* ``engine_over_time``: ``{series name: {"t_s", "cpu_percent", "rss_mib"}}`` → CPU and RSS vs time;
* ``call_setup``: ``{target: [step, ...]}`` → completed vs offered rate and p99 setup time.

Without matplotlib the run still writes its JSON and Markdown; the report says plots were skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def render_plots(document: dict[str, Any], out_dir: Path) -> dict[str, list[str]]:
    """Write ``<stamp>-<benchmark>-<kind>.png`` files; returns their names by benchmark."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
    except ImportError:
        return {}
    written: dict[str, list[str]] = {}
    for name, result in document["results"].items():
        for kind, data in (result.get("plots") or {}).items():
            renderer = _RENDERERS.get(kind)
            if renderer is None or not data:
                continue
            path = out_dir / f"{document['stamp']}-{name}-{kind}.png"
            renderer(data, path)
            written.setdefault(name, []).append(path.name)
    return written


def _cdf(data: dict[str, list[float]], path: Path, title: str) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in data.items():
        if values:
            n = len(values)
            ax.step(values, [(i + 1) / n for i in range(n)], where="post", label=f"{label} (n={n})")
    ax.set_xlabel("lateness (ms)")
    ax.set_ylabel("fraction of calls/sessions")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _hangup_cdf(data: dict[str, list[float]], path: Path) -> None:
    _cdf(data, path, "Hang-up lateness (caller-measured ACK→BYE minus expected)")


def _lock_cdf(data: dict[str, list[float]], path: Path) -> None:
    _cdf(data, path, "Portal lock lateness (server audit.lock)")


def _over_time(data: dict[str, dict[str, list[float]]], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, (cpu, rss) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for label, series in data.items():
        cpu.plot(series["t_s"], series["cpu_percent"], label=label)
        rss.plot(series["t_s"], series["rss_mib"], label=label)
    cpu.set_ylabel("engine CPU (% of one core)")
    rss.set_ylabel("engine RSS (MiB)")
    rss.set_xlabel("seconds since the run started")
    cpu.legend(fontsize="small")
    for ax in (cpu, rss):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _call_setup(data: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, (ok, p99) = plt.subplots(1, 2, figsize=(10, 4))
    for target, steps in data.items():
        rates = [s["rate"] for s in steps]
        ok.plot(rates, [s["successful"] / max(1, s["calls"]) * 100 for s in steps], "o-", label=target)
        p99.plot(rates, [s["setup_p99_ms"] or 0 for s in steps], "o-", label=target)
    ok.set_xlabel("offered calls/s")
    ok.set_ylabel("successful calls (%)")
    p99.set_xlabel("offered calls/s")
    p99.set_ylabel("INVITE→200 p99 (ms)")
    for ax in (ok, p99):
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


_RENDERERS: dict[str, Callable[[Any, Path], None]] = {
    "lateness_cdf": _hangup_cdf,
    "lock_lateness_cdf": _lock_cdf,
    "engine_over_time": _over_time,
    "call_setup": _call_setup,
}
