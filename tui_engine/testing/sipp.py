"""Run SIPp (Debian ``sip-tester``) from tests: build the command, run it, read its statistics.

The scenario's log files (``-trace_err``, ``-trace_screen``, ``-trace_stat``) are written into a
work directory of the caller's choosing, so parallel test workers never share files.
"""

from __future__ import annotations

import asyncio
import csv
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[2] / "sipp_scenarios"


@dataclass(frozen=True, kw_only=True, slots=True)
class SippRun:
    """One SIPp invocation; ``command()`` renders it."""

    scenario: Path | str  #: a path, or a name in ``sipp_scenarios/`` (``"uac_options"``)
    target: tuple[str, int]  #: the SIP server under test
    local_port: int  #: ``-p``: SIPp's own SIP port
    media_port: int  #: ``-mp``: SIPp's RTP port (from ``free_port_block``)
    workdir: Path  #: where SIPp's log files go
    service: str = "100"  #: ``-s``: the user part of the Request-URI
    calls: int = 1  #: ``-m``
    rate: float | None = None  #: ``-r`` calls per second (None: SIPp's default)
    limit: int | None = None  #: ``-l`` concurrent calls
    timeout_s: float = 60.0  #: ``-timeout``: SIPp stops by itself after this
    recv_timeout_ms: int = 60000  #: ``-recv_timeout``: how long any ``<recv>`` (e.g. the BYE) may wait
    keys: Mapping[str, str] = field(default_factory=dict)  #: ``-key name value`` ([name] in messages)
    variables: Mapping[str, str] = field(default_factory=dict)  #: ``-set name value`` (Global variables)
    extra: Sequence[str] = ()  #: anything else, e.g. ``("-lost", "5")``
    host: str = "127.0.0.1"

    def scenario_path(self) -> Path:
        path = Path(self.scenario)
        if path.suffix != ".xml":
            path = SCENARIOS / f"{path}.xml"
        return path

    def command(self) -> list[str]:
        sipp = shutil.which("sipp") or "sipp"
        w = self.workdir
        cmd = [
            sipp, "-sf", str(self.scenario_path()), "-s", self.service, f"{self.target[0]}:{self.target[1]}",
            "-i", self.host, "-p", str(self.local_port), "-mp", str(self.media_port),
            "-m", str(self.calls), "-nostdin", "-timeout", f"{self.timeout_s:g}s", "-timeout_error",
            "-recv_timeout", str(self.recv_timeout_ms),
            "-trace_err", "-error_file", str(w / "errors.log"),
            "-trace_screen", "-screen_file", str(w / "screen.log"),
            "-trace_stat", "-stf", str(w / "stats.csv"), "-fd", "1",
        ]
        if self.rate is not None:
            cmd += ["-r", f"{self.rate:g}"]
        if self.limit is not None:
            cmd += ["-l", str(self.limit)]
        for name, value in self.keys.items():
            cmd += ["-key", name, value]
        for name, value in self.variables.items():
            cmd += ["-set", name, value]
        return [*cmd, *self.extra]


@dataclass(frozen=True, kw_only=True, slots=True)
class SippResult:
    returncode: int  #: 0 all calls succeeded, 1 some failed, 97/99 aborted or timed out
    stats: dict[str, str]  #: last row of SIPp's ``-trace_stat`` CSV (``SuccessfulCall(C)``, ...)
    screen: str  #: the final statistics screen (message table with Retrans column)
    errors: str  #: unexpected messages (``-trace_err``)
    stdout: str
    stderr: str

    @property
    def successful(self) -> int:
        return int(self.stats.get("SuccessfulCall(C)", "0") or 0)

    @property
    def failed(self) -> int:
        return int(self.stats.get("FailedCall(C)", "0") or 0)

    def message_counts(self, label: str) -> list[tuple[int, int]]:
        """``(messages, retransmissions)`` for each screen row naming ``label`` (``"BYE"``, ``"200"``)."""
        rows = []
        pattern = re.compile(rf"^\s*(?:{re.escape(label)}\s+(?:<-+|-+>)|(?:<-+|-+>)\s+{re.escape(label)})"
                             rf"(?:\s+[A-Za-z][\w-]*)?\s+(\d+)\s+(\d+)", re.MULTILINE)
        for match in pattern.finditer(self.screen):
            rows.append((int(match.group(1)), int(match.group(2))))
        return rows


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _last_stats(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


async def run_sipp(run: SippRun) -> SippResult:
    """Run SIPp to completion (it stops by itself: ``-m`` calls or ``-timeout``)."""
    run.workdir.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        *run.command(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL, cwd=run.workdir,
    )
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    w = run.workdir
    return SippResult(
        returncode=proc.returncode if proc.returncode is not None else -1,
        stats=_last_stats(w / "stats.csv"), screen=_read(w / "screen.log"), errors=_read(w / "errors.log"),
        stdout=out.decode(errors="replace"), stderr=err.decode(errors="replace"),
    )
