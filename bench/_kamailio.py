"""Kamailio for the benchmarks: the C reference responder, and a dispatcher in front of several engines.

``StatelessResponder`` — a stateless SIP responder written in C (``sl_send_reply``): the
physical-limit reference.

It answers every request but ACK with ``200 OK`` without keeping any state (RFC 3261 §8.2.6:
a stateless UAS answers from the request alone), so what limits its call rate is the kernel,
the loopback and SIPp, not call handling. The engine's call-setup rate is stated as a ratio
to it, measured in the same run on the same machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from pathlib import Path
from types import TracebackType

from tui_engine.testing import free_port

KAMAILIO = "/usr/sbin/kamailio"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"

_HEADER = """\
#!KAMAILIO
debug=0
log_stderror=yes
fork=yes
children={children}
listen=udp:127.0.0.1:{port}
auto_aliases=no
mpath="{mpath}"
loadmodule "sl.so"
loadmodule "pv.so"
"""

_CONFIG = _HEADER + """\
loadmodule "textops.so"
request_route {{
    if (is_method("ACK")) exit;
    sl_send_reply("200", "OK");
    exit;
}}
"""


#: Several engines behind one address: Kamailio's ``dispatcher`` picks an engine by a hash of
#: the Call-ID (algorithm 0), so every request of a dialog (INVITE, ACK, BYE) reaches the same
#: engine, and forwards statelessly; replies go back through it by their Via. No probing: the
#: engines are known to be up for the run.
_DISPATCHER = _HEADER + """\
loadmodule "tm.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "list_file", "{listfile}")
modparam("dispatcher", "ds_ping_interval", 0)
request_route {{
    if (!ds_select_dst("1", "0")) {{
        sl_send_reply("503", "No engine");
        exit;
    }}
    forward();
    exit;
}}
"""


def kamailio_path() -> str | None:
    return shutil.which("kamailio") or (KAMAILIO if Path(KAMAILIO).exists() else None)


class StatelessResponder:
    """``async with StatelessResponder(dir) as k:`` Kamailio in the foreground on ``k.port`` (UDP)."""

    def __init__(self, directory: Path, *, children: int = 2) -> None:
        self.directory = directory
        self.port = free_port(socket.SOCK_DGRAM)
        self.children = children
        self._proc: asyncio.subprocess.Process | None = None

    def config(self) -> str:
        return _CONFIG.format(children=self.children, port=self.port, mpath=MODULES)

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    async def __aenter__(self) -> StatelessResponder:
        exe = kamailio_path()
        if exe is None:
            raise RuntimeError("kamailio is not installed (WITH_KAMAILIO=1 scripts/install-peers.sh)")
        self.directory.mkdir(parents=True, exist_ok=True)
        cfg = self.directory / "kamailio.cfg"
        cfg.write_text(self.config())
        # -DD: stay in the foreground (we own the process and stop it); -E: log to stderr.
        self._proc = await asyncio.create_subprocess_exec(
            exe, "-f", str(cfg), "-DD", "-E", "-m", "64", "-M", "8", "-Y", str(self.directory),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=self.directory,
        )
        try:
            await self._wait_listening()
        except BaseException:
            await self.__aexit__(None, None, None)  # __aexit__ is not called when __aenter__ raises
            raise
        return self

    async def _wait_listening(self) -> None:
        """Ready when an OPTIONS gets an answer (bounded: 10 s)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            me = s.getsockname()[1]  # the answer goes to the Via (RFC 3261 §18.2.2)
            probe = (
                f"OPTIONS sip:ping@127.0.0.1:{self.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKprobe\r\n"
                "From: <sip:bench@127.0.0.1>;tag=1\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: probe\r\n"
                "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            ).encode()
            s.setblocking(False)
            loop = asyncio.get_running_loop()
            for _ in range(100):
                if self._proc is not None and self._proc.returncode is not None:
                    raise RuntimeError(f"kamailio exited with status {self._proc.returncode}")
                s.sendto(probe, ("127.0.0.1", self.port))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await loop.sock_recv(s, 4096)
                        return
        raise RuntimeError("kamailio did not answer OPTIONS within 10 s")

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


class Dispatcher(StatelessResponder):
    """``async with Dispatcher(dir, [port, ...]) as k:`` Kamailio on ``k.port`` spreading calls over engines.

    Readiness: the OPTIONS probe is forwarded to an engine, whose answer comes back through it.
    One child by default: with two, the engine's ``100 Trying`` and ``200 OK`` (sent back to
    back) were now and then forwarded by different processes in the wrong order, and SIPp
    fails a call on a 100 after the 200 (measured: 1–5 calls per step).
    """

    def __init__(self, directory: Path, targets: list[int], *, children: int = 1) -> None:
        super().__init__(directory, children=children)
        self.targets = targets

    def config(self) -> str:
        listfile = self.directory / "dispatcher.list"
        listfile.write_text("".join(f"1 sip:127.0.0.1:{port}\n" for port in self.targets))
        return _DISPATCHER.format(children=self.children, port=self.port, mpath=MODULES, listfile=listfile)
