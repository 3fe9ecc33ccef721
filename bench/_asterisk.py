"""Asterisk (chan_sip) as the side-by-side peer of the bench: its configuration and its process.

Asterisk is not built or shipped here: the bench takes an existing install through
``ASTERISK=/path`` (its ``--prefix``: ``sbin/asterisk``, ``lib/asterisk/modules``,
``var/lib/asterisk/documentation``). Everything else is generated per run in a temp directory:

* ``asterisk.conf``: every directory in the run's directory except the modules and
  ``astdatadir`` (the install's, where Stasis finds its ``documentation/``); ``maxcalls`` like
  our ``max-calls``, no ``maxload``, no ``highpriority``; ``maxfiles`` (Asterisk's own
  open-files limit: one thread and 4 descriptors per call, RTP, RTCP, timerfd, eventfd);
* ``modules.conf`` with ``autoload=no`` and the few modules the IVR needs;
* ``sip.conf``: chan_sip on a loopback UDP port, guests into one context, µ-law/A-law,
  RFC 2833, media through Asterisk, no RTP timeout;
* ``extensions.conf``: the same no-input cycle as the bench dialplan (``bench/_load.py``):
  ``Answer(,i)`` (a plain ``Answer()`` waits up to 500 ms for the caller's first RTP frame),
  then ``attempts`` times ``Background(menu)`` + ``WaitExten(timeout)``, then goodbye and
  ``Hangup()``; digit 1 plays ``ok`` and hangs up (the menu has its own context, so 1 is an
  exact match and Asterisk does not wait for more digits); any other digit gets goodbye;
* ``rtp.conf`` with the port range given; ``logger.conf`` at warning; CDR and CEL off.

Asterisk's menu clock starts at its own 200 OK (tui-engine's at the ACK), so its callers
measure from the 200: :func:`scenario_from_200` rewrites a bench scenario that way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench._load import sox
from tui_engine.testing import free_port
from tui_engine.testing.sipp import SCENARIOS

ENV = "ASTERISK"
#: Modules the IVR needs (``autoload=no``): SIP, RTP, the timer behind playback, raw µ-law files,
#: Playback, the dialplan from extensions.conf, and µ-law/A-law transcoding for A-law callers.
MODULES = (
    "res_timing_timerfd.so", "res_rtp_asterisk.so", "chan_sip.so", "format_pcm.so", "app_playback.so",
    "pbx_config.so", "codec_ulaw.so", "codec_alaw.so",
)
#: The three bench prompts, by the name the dialplan plays.
PROMPTS = ("menu", "goodbye", "ok")


class AsteriskNotFound(RuntimeError):
    """``ASTERISK`` names no usable install."""


def asterisk_home(environ: Mapping[str, str] | None = None) -> Path | None:
    """The install named by ``ASTERISK``, or None when unset (the bench then skips Asterisk).

    Set but wrong is an error that says what is missing, not a silent skip.
    """
    value = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not value:
        return None
    home = Path(value)
    missing = [p for p in (binary(home), modules_dir(home), data_dir(home) / "documentation")
               if not p.exists()]
    if missing:
        raise AsteriskNotFound(
            f"{ENV}={value}: not an Asterisk install (missing {', '.join(map(str, missing))}); "
            "expected the --prefix of an Asterisk 20 build with chan_sip")
    if not (modules_dir(home) / "chan_sip.so").exists():
        raise AsteriskNotFound(f"{ENV}={value}: built without chan_sip (no chan_sip.so in its modules)")
    return home


def binary(home: Path) -> Path:
    return home / "sbin" / "asterisk"


def modules_dir(home: Path) -> Path:
    return home / "lib" / "asterisk" / "modules"


def data_dir(home: Path) -> Path:
    return home / "var" / "lib" / "asterisk"


@dataclass(frozen=True, kw_only=True, slots=True)
class IvrConfig:
    """What one Asterisk run is configured with."""

    home: Path
    sip_port: int
    rtp: tuple[int, int]  #: rtpstart, rtpend
    max_calls: int
    timeout_s: float  #: WaitExten after each menu prompt
    attempts: int
    sounds: Path  #: directory of menu.ulaw, goodbye.ulaw, ok.ulaw
    service: str = "200"  #: the dialled number
    max_files: int = 65536


def render(cfg: IvrConfig, root: Path) -> dict[str, str]:
    """Every configuration file, by name, for a run whose directory is ``root``."""
    dirs = {
        "astetcdir": root / "etc", "astmoddir": modules_dir(cfg.home), "astvarlibdir": root / "var",
        "astdbdir": root / "var", "astkeydir": root / "var", "astdatadir": data_dir(cfg.home),
        "astagidir": root / "agi", "astspooldir": root / "spool", "astrundir": root / "run",
        "astlogdir": root / "log", "astsbindir": cfg.home / "sbin",
    }
    sound = {name: cfg.sounds / name for name in PROMPTS}  # no extension: Asterisk picks the format
    timeout = f"{cfg.timeout_s:g}"
    return {
        "asterisk.conf": _ini({
            "directories": dirs,
            "options": {"maxcalls": cfg.max_calls, "maxfiles": cfg.max_files, "verbose": 0, "debug": 0,
                        "documentation_language": "en_US", "hideconnect": "yes", "transmit_silence": "no"},
        }),
        "modules.conf": "[modules]\nautoload=no\n" + "".join(f"load => {m}\n" for m in MODULES),
        "sip.conf": _ini({"general": {
            "context": "bench", "allowguest": "yes", "udpbindaddr": f"127.0.0.1:{cfg.sip_port}",
            "transport": "udp", "tcpenable": "no", "srvlookup": "no", "disallow": "all",
            "allow": ["ulaw", "alaw"], "dtmfmode": "rfc2833", "directmedia": "no", "rtptimeout": 0,
            "rtpholdtimeout": 0, "session-timers": "refuse", "alwaysauthreject": "no",
            "useragent": "Asterisk bench peer",
        }}),
        "extensions.conf": "\n".join([
            "[general]", "static=yes", "writeprotect=yes", "",
            "[bench]",
            f"exten => {cfg.service},1,Answer(,i)",
            " same => n,Set(ATTEMPT=0)",
            " same => n,Goto(bench-menu,s,1)", "",
            "[bench-menu]",
            "exten => s,1,Set(ATTEMPT=$[${ATTEMPT} + 1])",
            f" same => n,Background({sound['menu']})",
            f" same => n,WaitExten({timeout})",
            f"exten => t,1,GotoIf($[${{ATTEMPT}} < {cfg.attempts}]?s,1)",
            f" same => n,Playback({sound['goodbye']})",
            " same => n,Hangup()",
            f"exten => 1,1,Playback({sound['ok']})",
            " same => n,Hangup()",
            f"exten => i,1,Playback({sound['goodbye']})",
            " same => n,Hangup()", "",
        ]),
        "rtp.conf": _ini({"general": {"rtpstart": cfg.rtp[0], "rtpend": cfg.rtp[1], "rtpchecksums": "no",
                                      "strictrtp": "no", "icesupport": "no", "stunaddr": ""}}),
        "logger.conf": _ini({"general": {"dateformat": "%F %T.%3q"},
                             "logfiles": {"messages.log": "warning,error"}}),
        "cdr.conf": _ini({"general": {"enable": "no"}}),
        "cel.conf": _ini({"general": {"enable": "no"}}),
        # read at start-up by the core whatever the modules; empty, so it says nothing about them
        **{name: "" for name in ("acl.conf", "ccss.conf", "features.conf", "indications.conf", "udptl.conf")},
    }


def _ini(sections: Mapping[str, Mapping[str, object]]) -> str:
    """Asterisk's ``[section]`` / ``key = value`` files; a list value repeats its key (``allow``)."""
    out: list[str] = []
    for name, items in sections.items():
        out.append(f"[{name}]")
        for key, value in items.items():
            out += [f"{key} = {v}".rstrip() for v in (value if isinstance(value, list) else [value])]
        out.append("")
    return "\n".join(out)


def write_config(cfg: IvrConfig, root: Path) -> Path:
    """Write the run's configuration and directories under ``root``; returns ``asterisk.conf``."""
    for sub in ("etc", "var", "agi", "spool", "run", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, text in render(cfg, root).items():
        (root / "etc" / name).write_text(text, encoding="utf-8")
    return root / "etc" / "asterisk.conf"


def ulaw_prompts(dialplans: Path, sounds: Path) -> Path:
    """Our bench prompts (µ-law WAV) as raw ``.ulaw``: Asterisk's WAV reader takes 16-bit PCM only."""
    sounds.mkdir(parents=True, exist_ok=True)
    for name in PROMPTS:
        sox([str(dialplans / "prompts" / f"{name}.wav"), "-t", "raw", "-r", "8000", "-c", "1", "-e", "mu-law",
             str(sounds / f"{name}.ulaw")])
    return sounds


def scenario_from_200(name: str, directory: Path) -> Path:
    """A copy of ``sipp_scenarios/<name>.xml`` whose response time 1 starts at the 200, not the ACK.

    Asterisk starts its menu when it sends its 200 OK; tui-engine when the ACK arrives. Each is
    measured from where its own clock starts.
    """
    text = (SCENARIOS / f"{name}.xml").read_text(encoding="utf-8")
    moved = text.replace('<send start_rtd="1">', "<send>", 1).replace(
        '<recv response="200"/>', '<recv response="200" start_rtd="1"/>', 1)
    if moved.count('start_rtd="1"') != 1 or '<recv response="200" start_rtd="1"/>' not in moved:
        raise ValueError(f"{name}.xml: expected one <recv response=\"200\"/> then <send start_rtd=\"1\">")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}_from_200.xml"
    path.write_text(moved, encoding="utf-8")
    return path


class AsteriskProcess:
    """``asterisk -f`` (foreground, no console) on a generated configuration; stopped on exit.

    Ready when ``asterisk -rx "core waitfullybooted"`` returns through the run's control socket.
    ``nice``: the whole process (every call's thread inherits it) runs at this nice value, as
    the bench runs tui-engine's loop; it needs root, else it runs at equal priority.
    """

    def __init__(self, cfg: IvrConfig, root: Path, *, nice: int = 0, ready_timeout: float = 60.0) -> None:
        self.cfg, self.root, self.nice, self.ready_timeout = cfg, root, nice, ready_timeout
        self.conf = write_config(cfg, root)
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def sip_port(self) -> int:
        return self.cfg.sip_port

    def _command(self, *args: str) -> list[str]:
        return [str(binary(self.cfg.home)), "-C", str(self.conf), *args]

    async def __aenter__(self) -> AsteriskProcess:
        out = open(self.root / "log" / "stdout.log", "wb")  # noqa: ASYNC230 (before it starts)
        nice = self.nice

        def lower() -> None:  # in the child, before exec: every thread it starts inherits it
            if nice:
                with contextlib.suppress(PermissionError):
                    os.nice(nice)

        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._command("-f", "-n", "-q"), stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=asyncio.subprocess.STDOUT, preexec_fn=lower, start_new_session=True)
        finally:
            out.close()
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _wait_ready(self) -> None:
        async with asyncio.timeout(self.ready_timeout):
            while True:
                if self._proc is None or self._proc.returncode is not None:
                    raise RuntimeError(f"asterisk exited at start-up:\n{self.output()}")
                if (self.root / "run" / "asterisk.ctl").exists():
                    rx = await asyncio.create_subprocess_exec(
                        *self._command("-rx", "core waitfullybooted"), stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL)
                    if await rx.wait() == 0:
                        return
                await asyncio.sleep(0.2)

    def output(self, lines: int = 30) -> str:
        texts = []
        for name in ("stdout.log", "messages.log"):
            path = self.root / "log" / name
            if path.exists():
                texts += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(texts)

    async def stop(self, grace: float = 20.0) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def sip_port() -> int:
    """A loopback UDP port for chan_sip."""
    return free_port(socket.SOCK_DGRAM)
