"""The whole set on one machine, for trying the cluster recipe: ``make cluster``.

Redis (the portal's shared store), N engines (``tui-engine serve``, one per core, each its own
SIP/HTTP port, RTP range, data directory and ``node-name``) and Kamailio in front, running
``deploy/kamailio/tui-engine.cfg`` - the file the systemd units run and
``tests/deploy/test_cluster.py`` tests. Everything stays in the foreground, the logs of all
engines on one terminal (each line names its ``node``); Ctrl-C stops Kamailio first, then the
engines gracefully (their calls get a BYE), then Redis.

    python -m deploy.cluster up [--engines 2] [--sip-port 5060] [--http-port 8081] [--dir cluster]

``Kamailio`` and ``dispatcher_states`` are also what the cluster test drives.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

DEPLOY = Path(__file__).resolve().parent
KAMAILIO_CFG = DEPLOY / "kamailio" / "tui-engine.cfg"
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
Address = tuple[str, int]


def kamailio_path() -> str | None:
    return shutil.which("kamailio") or next(
        (p for p in ("/usr/sbin/kamailio", "/usr/local/sbin/kamailio") if Path(p).exists()), None
    )


def dispatcher_list(engines: Sequence[Address]) -> str:
    """Set 1 of the dispatcher: one line per engine."""
    return "".join(f"1 sip:{host}:{port}\n" for host, port in engines)


class Kamailio:
    """``async with Kamailio(dir, listen, engines) as k:`` the shipped config in the foreground.

    Ready when its control socket lists the dispatcher set (bounded: 15 s). ``k.ctl`` is the
    socket path for ``kamcmd`` (kept short: a UNIX socket path has at most 107 bytes).
    """

    def __init__(
        self, directory: Path, listen: Address, engines: Sequence[Address], *, children: int = 2
    ) -> None:
        self.directory = directory
        self.listen = listen
        self.engines = list(engines)
        self.children = children
        self._ctl_dir = Path(tempfile.mkdtemp(prefix="kam-"))
        self.ctl = self._ctl_dir / "ctl"
        self._proc: asyncio.subprocess.Process | None = None

    def command(self) -> list[str]:
        exe = kamailio_path()
        if exe is None:
            raise RuntimeError("kamailio is not installed (scripts/install-peers.sh installs it)")
        listfile = self.directory / "dispatcher.list"
        listfile.write_text(dispatcher_list(self.engines))
        host, port = self.listen
        defines = {
            "LISTEN": f"udp:{host}:{port}",
            "DISPATCHER_LIST": f'"{listfile}"',
            "CTL_SOCKET": f'"unix:{self.ctl}"',
            "MPATH": f'"{KAMAILIO_MODULES}"',
            "CHILDREN": str(self.children),
        }
        # -DD: no daemon (we own the process); -E: log to stderr; -Y: runtime dir (no /run needed)
        cmd = [exe, "-f", str(KAMAILIO_CFG), "-DD", "-E", "-m", "64", "-M", "8", "-Y", str(self.directory)]
        for name, value in defines.items():
            cmd += ["-A", f"{name}={value}"]
        return cmd

    async def __aenter__(self) -> Kamailio:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "kamailio.log").open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            *self.command(), stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL, cwd=self.directory
        )
        log.close()
        try:
            async with asyncio.timeout(15):
                while len(await self.states()) < len(self.engines):
                    if self._proc.returncode is not None:
                        raise RuntimeError(f"kamailio exited ({self._proc.returncode}): {self.log_tail()}")
                    await asyncio.sleep(0.1)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    def log_tail(self) -> str:
        path = self.directory / "kamailio.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    async def states(self) -> dict[str, str]:
        """``{"sip:127.0.0.1:5061": "AP", ...}``: A active, I inactive, T trying; P probing."""
        return await dispatcher_states(self.ctl)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            await stop_process(self._proc, grace=10.0)
        shutil.rmtree(self._ctl_dir, ignore_errors=True)


async def dispatcher_states(ctl: Path) -> dict[str, str]:
    """The dispatcher's destinations and their flags, from ``kamcmd dispatcher.list``; {} if down."""
    kamcmd = shutil.which("kamcmd") or "/usr/sbin/kamcmd"
    if not os.path.exists(ctl):  # noqa: ASYNC240 (a stat, while polling every 50 ms)
        return {}
    proc = await asyncio.create_subprocess_exec(
        kamcmd, "-s", f"unix:{ctl}", "dispatcher.list",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await proc.communicate()
    states: dict[str, str] = {}
    uri: str | None = None
    for line in out.decode(errors="replace").splitlines():
        key, _, value = line.strip().partition(":")
        if key == "URI":
            uri = value.strip()
        elif key == "FLAGS" and uri is not None:
            states[uri] = value.strip()
            uri = None
    return states


# -- make cluster ------------------------------------------------------------------------------
def engine_command(index: int, sip: Address, http: Address, redis_url: str, workdir: Path) -> list[str]:
    """One engine of the set: the embedded default plus its own ports, directory and name."""
    first = 20000 + 2000 * index
    options = {
        "engine.node-name": f'"engine-{index}"',
        "engine.data-dir": f'"{workdir / f"engine-{index}"}"',
        "engine.rtp-ports": f'"{first}-{first + 1999}"',
        "engine.max-calls": "1000",  # one even port of the range per call (checked at load)
        "portal.web.store": f'"{redis_url}"',
    }
    cmd = [sys.executable, "-m", "tui_engine", "serve", "--no-watch"]
    cmd += ["--sip-listen", f"{sip[0]}:{sip[1]}", "--http-listen", f"{http[0]}:{http[1]}"]
    for key, value in options.items():
        cmd += ["--option", f"{key}={value}"]
    return cmd


async def stop_process(proc: asyncio.subprocess.Process, grace: float = 15.0) -> None:
    """SIGTERM (for an engine: the graceful stop), SIGKILL only after ``grace`` seconds."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _wait_http(url: str, proc: asyncio.subprocess.Process) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http, asyncio.timeout(30):
        while proc.returncode is None:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the engine behind {url} exited with status {proc.returncode}")


async def up(engines: int, sip_port: int, http_port: int, redis_port: int, workdir: Path) -> int:
    redis = shutil.which("redis-server")
    if redis is None or kamailio_path() is None:
        print("make cluster needs redis-server and kamailio: bash scripts/install-peers.sh", file=sys.stderr)
        return 1
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, before anything runs)
    host = "127.0.0.1"
    redis_url = f"redis://{host}:{redis_port}/0"
    procs: list[asyncio.subprocess.Process] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        procs.append(await asyncio.create_subprocess_exec(
            redis, "--bind", host, "--port", str(redis_port), "--save", "", "--appendonly", "no",
            "--dir", str(workdir), stdout=asyncio.subprocess.DEVNULL,
        ))  # fmt: skip
        sips = [(host, sip_port + 1 + i) for i in range(engines)]
        for i, sip in enumerate(sips, start=1):
            http = (host, http_port + i - 1)
            proc = await asyncio.create_subprocess_exec(*engine_command(i, sip, http, redis_url, workdir))
            procs.append(proc)
            await _wait_http(f"http://{http[0]}:{http[1]}/healthz", proc)
        async with Kamailio(workdir / "kamailio", (host, sip_port), sips) as kamailio:
            print(f"cluster up: SIP sip:100@{host}:{sip_port} (Kamailio) -> {len(sips)} engines", flush=True)
            states = await kamailio.states()
            for i, (ehost, eport) in enumerate(sips, start=1):
                uri, portal = f"sip:{ehost}:{eport}", f"http://{host}:{http_port + i - 1}"
                print(f"  engine-{i}: {uri} [{states.get(uri, '?')}], portal {portal}")
            print(f"  Redis {redis_url}; kamcmd -s unix:{kamailio.ctl} dispatcher.list; Ctrl-C stops all")
            await stop.wait()
    finally:
        for proc in reversed(procs):
            await stop_process(proc)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start Redis, the engines and Kamailio in the foreground")
    start.add_argument("--engines", type=int, default=os.cpu_count() or 2)
    start.add_argument("--sip-port", type=int, default=5060, help="Kamailio's; engines: the next ones")
    start.add_argument("--http-port", type=int, default=8081, help="first engine's portal; then +1 each")
    start.add_argument("--redis-port", type=int, default=6390)
    start.add_argument("--dir", type=Path, default=Path("cluster"), help="data and runtime files")
    args = parser.parse_args(argv)
    return asyncio.run(up(args.engines, args.sip_port, args.http_port, args.redis_port, args.dir.absolute()))


if __name__ == "__main__":
    sys.exit(main())
