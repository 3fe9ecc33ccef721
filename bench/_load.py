"""Shared pieces of the load benchmarks: a bench engine, a bench dialplan, /proc sampling, SIPp runs.

Why a subclass of :class:`EngineProcess`: load runs set ``logging.level = "warning"`` (an
info line per call event costs more than the call), and ``engine.ready`` is an info event, so
readiness is taken from ``GET /healthz`` instead of the log.
"""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from tui_engine.testing import free_port, free_port_block
from tui_engine.testing.engine import EngineExited, EngineProcess
from tui_engine.testing.net import ephemeral_range
from tui_engine.testing.sipp import SippResult, SippRun, run_sipp

Metric = dict[str, Any]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

#: Prompt lengths of the bench dialplan (seconds): short, so a no-input cycle is mostly silence.
MENU_PROMPT_S = 0.2
GOODBYE_PROMPT_S = 0.1
OK_PROMPT_S = 0.1

_DIALPLAN = """\
name: bench
description: tui-engine benchmark menu (short prompts; digit 1 ends the call at once)
numbers: ["200"]
start: main
goodbye: goodbye
invalid: goodbye
prompts:
  menu: {file: prompts/menu.wav}
  goodbye: {file: prompts/goodbye.wav}
  ok: {file: prompts/ok.wav}
menus:
  main:
    prompts: [menu]
    choices:
      "1": {play: ok, hangup: completed}
"""


def metric(value: float | int | bool | None, unit: str, note: str = "") -> Metric:
    out: Metric = {"value": value, "unit": unit}
    if note:
        out["note"] = note
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every figure is a measured value)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def write_bench_dialplan(directory: Path) -> Path:
    """``DIR/bench.yaml`` and three µ-law prompts made with sox (tones: the content is irrelevant)."""
    prompts = directory / "prompts"
    prompts.mkdir(parents=True, exist_ok=True)
    for name, seconds, freq in (("menu", MENU_PROMPT_S, 440), ("goodbye", GOODBYE_PROMPT_S, 330),
                                ("ok", OK_PROMPT_S, 550)):
        sox(["-n", "-r", "8000", "-c", "1", "-e", "mu-law", str(prompts / f"{name}.wav"),
             "synth", f"{seconds}", "sine", str(freq)])
    (directory / "bench.yaml").write_text(_DIALPLAN, encoding="utf-8")
    return directory


def caller_audio(path: Path, seconds: float = 2.0) -> Path:
    """Raw µ-law (no header) for SIPp's ``rtp_stream`` action: what a caller's microphone sends."""
    sox(["-n", "-t", "raw", "-r", "8000", "-c", "1", "-e", "mu-law", str(path), "synth", f"{seconds}",
         "brownnoise", "vol", "0.05"])
    return path


def sox(args: list[str]) -> None:
    exe = shutil.which("sox")
    if exe is None:
        raise RuntimeError("sox is not installed (apt-get install -y sox)")
    subprocess.run([exe, *args], check=True, capture_output=True)


class BenchEngine(EngineProcess):
    """An engine tuned for load; ready when ``/healthz`` answers (its logs stay at warning)."""

    #: run the engine on asyncio's own loop even though uvloop (the ``fast`` extra) is installed.
    without_uvloop = False

    def base_options(self) -> dict[str, object]:
        """A test engine's, but with the engine's own ``overload-lag``: benchmarks measure it
        (test engines turn lag shedding off, see ``EngineProcess.base_options``)."""
        options = super().base_options()
        del options["engine.overload-lag"]
        return options

    async def __aenter__(self) -> BenchEngine:
        if not self.without_uvloop:
            await super().__aenter__()
            return self
        # The CLI picks uvloop when it imports; a module of that name that raises ImportError,
        # first on the child's path, makes it fall back to asyncio (only the child sees it).
        shim = self.directory / "no-uvloop"
        shim.mkdir(parents=True, exist_ok=True)
        (shim / "uvloop.py").write_text('raise ImportError("disabled by the benchmark")\n')
        saved = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(shim), saved) if p)
        try:
            await super().__aenter__()
        finally:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
        return self

    async def wait_event(
        self,
        name: str,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - same signature as the base class
        since: int = 0,
        **fields: object,
    ) -> dict[str, Any]:
        if name != "engine.ready":
            return await super().wait_event(name, timeout=timeout, since=since, **fields)
        async with asyncio.timeout(timeout):
            return await self._wait_healthz()

    async def _wait_healthz(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            while True:
                if self.pid is None or self._exited():
                    raise EngineExited("engine exited:\n" + "\n".join(self.other_output[-20:]))
                try:
                    async with http.get(f"{self.http_url}/healthz") as resp:
                        if resp.status == 200:
                            return {"event": "engine.ready"}
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    def _exited(self) -> bool:
        proc = self._proc
        return proc is not None and proc.returncode is not None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None else proc.pid

    async def metrics_text(self) -> str:
        async with aiohttp.ClientSession() as http, http.get(f"{self.http_url}/metrics") as resp:
            return await resp.text()


def engine_options(
    dialplans: Path, *, rtp: tuple[int, int], max_calls: int, **more: object
) -> dict[str, object]:
    """Options for a load run: bench dialplan as default, wide RTP range, warning-level logs."""
    return {
        "engine.rtp-ports": f"{rtp[0]}-{rtp[1]}",
        "engine.max-calls": max_calls,
        "logging.level": "warning",
        "phone.tui.dialplans": str(dialplans),
        "phone.tui.default-dialplan": "bench",
        **more,
    }


def metric_value(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """Sum of the Prometheus samples ``name{labels...}`` in an exposition text."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        sample, _, label_text = head.partition("{")
        if sample != name:
            continue
        if labels and not all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            continue
        total += float(value)
    return total


def histogram(text: str, name: str, labels: Mapping[str, str]) -> list[tuple[float, float]]:
    """Cumulative ``(le, count)`` buckets of a Prometheus histogram, ``+Inf`` last."""
    rows: list[tuple[float, float]] = []
    for line in text.splitlines():
        if not line.startswith(f"{name}_bucket{{"):
            continue
        head, _, value = line.rpartition(" ")
        if not all(f'{k}="{v}"' in head for k, v in labels.items()):
            continue
        le = head.split('le="', 1)[1].split('"', 1)[0]
        rows.append((float("inf") if le == "+Inf" else float(le), float(value)))
    return sorted(rows)


def bucket_quantile(
    before: list[tuple[float, float]], after: list[tuple[float, float]], q: float
) -> float | None:
    """Upper bucket bound below which ``q`` % of the observations made between two scrapes fall."""
    start = dict(before)
    deltas = [(le, count - start.get(le, 0.0)) for le, count in after]
    if not deltas or deltas[-1][1] <= 0:
        return None
    total = deltas[-1][1]
    return next(le for le, count in deltas if count >= q / 100 * total)


def rtp_range(size: int) -> tuple[int, int]:
    """An even RTP port range for the engine: checked free when small enough to check.

    ``free_port_block`` binds every port at once to check it, which needs one descriptor per
    port; beyond a few thousand that meets the open-files limit (20 000 here), so large ranges
    are taken as they are from the kernel's ephemeral range up: the engine skips ports it cannot
    bind. Not from 20000 up: that is where the tests' ports come from (``testing/net.py``), and
    a bench holding thousands of them made every test on the machine find no free block.
    """
    if size <= 4000:
        return free_port_block(size)
    first = ephemeral_range()[0] & ~1
    return first, min(65534, first + size - 1)


# -- /proc sampling -------------------------------------------------------------------------
@dataclass(slots=True)
class ProcSample:
    at: float  #: time.monotonic()
    cpu_s: float  #: utime + stime, seconds
    rss: int  #: bytes
    wait_s: float = 0.0  #: time runnable but waiting for a CPU (``/proc/PID/schedstat``, field 2)


def proc_sample(pid: int) -> ProcSample | None:
    """CPU seconds (``/proc/PID/stat`` fields 14+15) and RSS (``statm``) of a process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm") as f:
            rss_pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    try:  # the scheduler's run-queue delay of the main thread: how long others held the CPUs
        with open(f"/proc/{pid}/schedstat") as f:
            wait = int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        wait = 0.0
    return ProcSample(at=time.monotonic(), cpu_s=cpu, rss=rss_pages * PAGE, wait_s=wait)


@dataclass(slots=True)
class ProcSampler:
    """Samples a process every ``period`` seconds in a task, for CPU % and RSS over a run."""

    pid: int
    period: float = 0.5
    samples: list[ProcSample] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._take()

    async def _run(self) -> None:
        while True:
            self._take()
            await asyncio.sleep(self.period)

    def _take(self) -> None:
        sample = proc_sample(self.pid)
        if sample is not None:
            self.samples.append(sample)

    def cpu_percent(self, since: float = 0.0, until: float = float("inf")) -> float | None:
        """Average CPU % (100 = one core) between the first and last sample in the window."""
        window = [s for s in self.samples if since <= s.at <= until]
        if len(window) < 2 or window[-1].at <= window[0].at:
            return None
        return 100 * (window[-1].cpu_s - window[0].cpu_s) / (window[-1].at - window[0].at)

    def wait_percent(self) -> float | None:
        """Share of the run (%) the process was runnable but waited for a CPU held by others.

        On a machine shared with the load generators this is time the loop could not run:
        every timer due then is late by it, through no fault of the engine.
        """
        if len(self.samples) < 2 or self.samples[-1].at <= self.samples[0].at:
            return None
        first, last = self.samples[0], self.samples[-1]
        return 100 * (last.wait_s - first.wait_s) / (last.at - first.at)

    def peak_rss(self) -> int:
        return max((s.rss for s in self.samples), default=0)

    def series(self, t0: float) -> dict[str, list[float]]:
        """Time (s since t0), CPU % between consecutive samples, RSS MiB: for the plots."""
        t, cpu, rss = [], [], []
        for a, b in zip(self.samples, self.samples[1:], strict=False):
            if b.at > a.at:
                t.append(round(b.at - t0, 3))
                cpu.append(round(100 * (b.cpu_s - a.cpu_s) / (b.at - a.at), 1))
                rss.append(round(b.rss / 2**20, 2))
        return {"t_s": t, "cpu_percent": cpu, "rss_mib": rss}


# -- SIPp -------------------------------------------------------------------------------------
#: SIPp binds ``-mp`` (audio) and ``-mp`` + 2 (video) at start, whatever the scenario: a block of
#: two left the video port outside it, on the port the next pick handed out (ports come in order),
#: and the next SIPp instance then failed with "Unable to bind main socket" — its calls never ran.
SIPP_MEDIA_PORTS = 4


def sipp_ports(media_block: int = SIPP_MEDIA_PORTS) -> tuple[int, tuple[int, int]]:
    """A SIP port for SIPp and an even block of media ports: ``-mp`` and ``-mp`` + 2, and the
    pairs ``rtp_stream`` binds per call in a larger block."""
    return free_port(socket.SOCK_DGRAM), free_port_block(max(SIPP_MEDIA_PORTS, media_block))


async def run_sipp_rtt(run: SippRun) -> tuple[SippResult, list[float]]:
    """Run SIPp with ``-trace_rtt`` (every call) and return its result and the rtd values in ms."""
    extra = [*run.extra, "-trace_rtt", "-rtt_freq", "1"]
    result = await run_sipp(_with_extra(run, extra))
    return result, read_rtt(run.workdir)


def _with_extra(run: SippRun, extra: list[str]) -> SippRun:
    return replace(run, extra=tuple(extra))


def failure_excerpt(result: SippResult, limit: int = 600) -> str:
    """The start of what SIPp logged as unexpected (``-trace_err``) or printed to stderr: why calls failed."""
    text = (result.errors.strip() or result.stderr.strip())
    return " ".join(text.split())[:limit]


def read_rtt(workdir: Path) -> list[float]:
    """``*_rtt.csv`` rows ``Date_ms;response_time_ms;rtd_no`` → response times in ms."""
    values: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        rows = csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";")
        for row in rows:
            if len(row) >= 2:
                try:
                    values.append(float(row[1]))
                except ValueError:
                    continue  # the header
    return values


# -- profiling (opt-in) -------------------------------------------------------------------------
async def start_profiler(pid: int, label: str) -> asyncio.subprocess.Process | None:
    """With ``BENCH_PYSPY=DIR``: ``py-spy record`` the engine into ``DIR/<label>.{svg,txt}``.

    Sampling is ``--nonblocking`` (the engine is not paused per sample), so the figures of a
    profiled run stay close to an unprofiled one. Off by default: the report's figures are
    taken without a profiler attached.
    """
    out = os.environ.get("BENCH_PYSPY")
    exe = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not out or exe is None:
        return None
    os.makedirs(out, exist_ok=True)
    return await asyncio.create_subprocess_exec(
        exe, "record", "--nonblocking", "--rate", "200", "--format", "raw", "-o", f"{out}/{label}.txt",
        "--pid", str(pid), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )


async def stop_profiler(proc: asyncio.subprocess.Process | None) -> None:
    """SIGINT makes py-spy write its file and exit."""
    if proc is None or proc.returncode is not None:
        return
    proc.send_signal(2)
    try:
        async with asyncio.timeout(30):
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
