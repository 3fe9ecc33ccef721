"""``EngineProcess``: a real ``tui-engine serve`` in a subprocess, for end-to-end tests.

It writes a configuration from the template (free loopback ports for SIP and HTTP, an RTP
range, a private data dir, JSON logs), starts ``python -m tui_engine serve``, collects every
JSON log line into ``events`` and waits for ``engine.ready``. On exit it sends SIGTERM (the
graceful stop) and kills the process only if it outlives the grace period.

    async with EngineProcess(tmp_path, {"portal.security.inactivity-timeout": "3s"}) as engine:
        await engine.wait_event("engine.ready")
        ... talk to engine.sip_port / engine.http_url ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import tomlkit
from tomlkit.items import Table

from tui_engine.config import CONFIG_NAME, bundled_dialplans, template_text
from tui_engine.config.values import rtp_capacity
from tui_engine.testing.net import free_port, free_port_block

_TOP_LEVEL = ("engine", "logging", "applications")


class EngineExited(RuntimeError):
    """The engine process ended while a test was waiting for it."""


def set_option(doc: tomlkit.TOMLDocument, key: str, value: object) -> None:
    """Set ``APP.SECTION.OPTION`` (or ``engine.OPTION``) in a tomlkit document, keeping comments."""
    keys = key.split(".")
    if keys[0] not in _TOP_LEVEL:
        keys = ["applications", *keys]
    node: Any = doc
    for part in keys[:-1]:
        if part not in node:
            node[part] = tomlkit.table()
        node = node[part]
        if not isinstance(node, Table | tomlkit.TOMLDocument | dict):
            raise KeyError(f"{key}: {part} is not a section")
    node[keys[-1]] = str(value) if isinstance(value, Path) else value


class EngineProcess:
    """A running engine; ``events`` holds its JSON log lines as dicts, in order."""

    def __init__(
        self,
        directory: Path,
        options: Mapping[str, object] | None = None,
        *,
        args: Sequence[str] = (),
        ready_timeout: float = 30.0,
        stop_grace: float = 15.0,
        embedded: bool = False,
        command: Sequence[str] = (),
    ) -> None:
        self.directory = directory
        self.sip_port = free_port(socket.SOCK_DGRAM)
        self.http_port = free_port(socket.SOCK_STREAM)
        # the SIP socket inside the RTP range would look like a leaked media socket to tests
        self.rtp_ports = free_port_block(200, avoid=(self.sip_port, self.http_port))
        self.config_path = directory / CONFIG_NAME
        self.data_dir = directory / "data"
        self.events: list[dict[str, Any]] = []
        #: stdout lines that were not JSON, and stderr lines.
        self.other_output: list[str] = []
        self.returncode: int | None = None
        self._options = dict(options or {})
        self._args = tuple(args)
        self._ready_timeout = ready_timeout
        self._stop_grace = stop_grace
        #: run on the embedded default (no file; only the ports are passed, as flags).
        self.embedded = embedded
        #: what runs ``serve`` (default: this interpreter's ``-m tui_engine``; e.g. an installed script).
        self.command = tuple(command) or (sys.executable, "-m", "tui_engine")
        self._proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._changed = asyncio.Condition()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # -- the configuration file --------------------------------------------------------------
    def base_options(self) -> dict[str, object]:
        """What every test engine gets: its ports, its data dir, JSON logs, the bundled dialplans."""
        first, last = self.rtp_ports
        return {
            "engine.sip-listen": f"127.0.0.1:{self.sip_port}",
            "engine.http-listen": f"127.0.0.1:{self.http_port}",
            "engine.rtp-ports": f"{first}-{last}",
            "engine.max-calls": rtp_capacity(first, last),  # the most the range carries (checked at load)
            "engine.data-dir": str(self.data_dir),
            # Shedding on event-loop lag is off: on a loaded test machine (CI's 2 cores, two
            # xdist workers, SIPp, Chromium) an engine process that waits 170 ms for a CPU
            # rightly sheds the next INVITE with 503 (core/overload.py), which no scenario not
            # about overload expects. The lag signal is tested with an injected clock
            # (tests/core/test_overload_detector.py, tests/sip/test_sip_overload.py); overload
            # end to end is forced by configuration (tests/e2e_tui/test_e2e_overload.py). A test
            # that wants it passes ``engine.overload-lag`` itself.
            "engine.overload-lag": "0s",
            "logging.format": "json",
            "phone.tui.dialplans": str(bundled_dialplans()),
        }

    def config_text(self, options: Mapping[str, object] | None = None) -> str:
        """The template with the base options, the constructor's options, then ``options``."""
        doc = tomlkit.parse(template_text())
        for key, value in {**self.base_options(), **self._options, **(options or {})}.items():
            set_option(doc, key, value)
        return tomlkit.dumps(doc)

    def write_config(self, options: Mapping[str, object] | None = None) -> None:
        """Rewrite the file (a running engine reloads it) with ``options`` on top; they persist."""
        self._options.update(options or {})
        self.write_config_text(self.config_text())

    def write_config_text(self, text: str) -> None:
        """Replace the file with ``text`` as it is (for invalid files)."""
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.config_path)  # atomic, as editors and config tools do

    # -- the process -------------------------------------------------------------------------
    async def __aenter__(self) -> EngineProcess:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.embedded:
            sip, http = f"127.0.0.1:{self.sip_port}", f"127.0.0.1:{self.http_port}"
            where = ["--sip-listen", sip, "--http-listen", http]
        else:
            self.write_config()
            where = ["--config", str(self.config_path)]
        self._proc = await asyncio.create_subprocess_exec(
            *self.command, "serve", *where, *self._args,
            cwd=self.directory,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            limit=1 << 20,
        )  # fmt: skip
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self._proc.stdout, parse=True)),
            asyncio.create_task(self._read(self._proc.stderr, parse=False)),
        ]
        try:
            await self.wait_event("engine.ready", timeout=self._ready_timeout)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def send_signal(self, sig: int) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(sig)

    async def stop(self) -> int | None:
        """SIGTERM, wait up to the grace period, then SIGKILL; returns the exit status."""
        proc = self._proc
        if proc is None:
            return self.returncode
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(self._stop_grace):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.returncode = proc.returncode
        return self.returncode

    async def _read(self, stream: asyncio.StreamReader, *, parse: bool) -> None:
        while line := await stream.readline():
            text = line.decode("utf-8", "replace").rstrip("\n")
            event = _json_object(text) if parse else None
            async with self._changed:
                if event is not None:
                    self.events.append(event)
                else:
                    self.other_output.append(text)
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    # -- waiting on logs ---------------------------------------------------------------------
    def find_events(self, name: str, *, since: int = 0, **fields: object) -> list[dict[str, Any]]:
        """Logged events called ``name`` whose ``fields`` match, from index ``since`` on."""
        return [e for e in self.events[since:] if e.get("event") == name and _matches(e, fields)]

    # A test helper, so it owns a bounded wait: a missing event fails the test instead of hanging it.
    async def wait_event(
        self,
        name: str,
        *,
        timeout: float = 20.0,  # noqa: ASYNC109  (a bound for loaded CI machines, not a timing check)
        since: int = 0,
        **fields: object,
    ) -> dict[str, Any]:
        """The first event ``name`` (at index >= ``since``) with ``fields``; waits for it if needed."""
        try:
            async with asyncio.timeout(timeout):
                return await self._wait(name, since, fields)
        except TimeoutError:
            tail = [e.get("event") for e in self.events[-15:]]
            raise TimeoutError(f"no {name} {fields} within {timeout}s; last events: {tail}") from None

    async def _wait(self, name: str, since: int, fields: dict[str, object]) -> dict[str, Any]:
        async with self._changed:
            while True:
                if found := self.find_events(name, since=since, **fields):
                    return found[0]
                if all(t.done() for t in self._readers):
                    tail = "\n".join(self.other_output[-20:])
                    raise EngineExited(
                        f"engine exited (status {self._proc and self._proc.returncode}):\n{tail}"
                    )
                await self._changed.wait()


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _matches(event: Mapping[str, Any], fields: Mapping[str, object]) -> bool:
    return all(event.get(key) == value for key, value in fields.items())


EngineFactory = Callable[..., Awaitable[EngineProcess]]
"""The type of the ``engine_factory`` fixture: ``await engine_factory(options, **EngineProcess kwargs)``."""
