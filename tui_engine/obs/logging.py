"""structlog set-up: JSON lines when stdout is not a terminal, console output when it is.

``call_id`` / ``session_id`` are bound with ``structlog.contextvars.bind_contextvars`` by the
code that owns a call or a web request, and merged into every event logged under it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import structlog

#: the logging methods a module logger answers once structlog has cached its logger
_LOG_METHODS = frozenset({
    "debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "msg", "log",
})


class ModuleLogger:
    """``structlog.get_logger(name)`` for a module's ``log``, with its logging methods looked up
    once the logger is cached.

    Why: structlog's lazy proxy runs ``__getattr__`` and ``bind()`` for every ``log.info(...)``,
    several times the cost of the call itself when the level filters it out (most per-call lines
    at ``warning``). Once structlog has cached the proxy's logger (``configure_logging`` asks it
    to: the first use after configuration fixes it, as structlog does), the logger's own
    methods are kept here; before that, every call goes through the proxy as before.
    """

    def __init__(self, name: str) -> None:
        self._proxy = structlog.get_logger(name)

    def __getattr__(self, attr: str) -> Any:
        proxy = self._proxy
        value = getattr(proxy, attr)
        if attr in _LOG_METHODS and "bind" in vars(proxy):  # structlog cached its logger
            setattr(self, attr, value)
        return value


def get_logger(name: str) -> Any:
    """A module's logger: see :class:`ModuleLogger`."""
    return ModuleLogger(name)


def configure_logging(level: str = "info", fmt: str = "auto", *, node: str | None = None) -> None:
    """``fmt``: ``auto`` (console on a terminal, JSON otherwise), ``json`` or ``console``.

    ``node`` (``engine.node-name``) goes into every line, so the logs of a cluster's engines
    can be merged and still tell which engine wrote each line.
    """
    use_console = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if use_console
        else structlog.processors.JSONRenderer(serializer=_dumps)
    )
    shared: list[Any] = [
        *([_add_node(node)] if node else []),
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        stamp_utc_iso,
    ]
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        # JSON: the same chain folded into one processor (JsonLine), the same text
        processors=(
            [*shared, structlog.processors.format_exc_info, renderer] if use_console else [JsonLine(node)]
        ),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    _route_stdlib_logging(numeric, shared, renderer)


class _LibraryHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours on the root logger: found and replaced when the configuration is applied again."""


def _route_stdlib_logging(level: int, shared: list[Any], renderer: Any) -> None:
    """Libraries (aiosipua, aiortp, aiohttp, asyncio) log through the standard library; their
    records get the same processors and renderer as ours, so stdout stays one JSON object per
    line, with the ``call_id`` bound where they logged (otherwise Python's last-resort handler
    prints them as plain text)."""
    handler = _LibraryHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _LibraryHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiosipua warns about every body shorter or longer than its Content-Length; we answer those
    # ourselves (400, sip.malformed), so its line would only double each such datagram's log.
    logging.getLogger("aiosipua.message").setLevel(logging.ERROR)


# Why these two instead of structlog's ``TimeStamper(fmt="iso", utc=True)`` and ``json.dumps``:
# at ``info`` a call writes nine lines, and their rendering was a quarter of the engine's work
# per call (``CPU_COUNTS_LOG_LEVEL=info python -m bench._cpu_counts calls``). The text is the
# same: the tests compare both with what structlog and ``json.dumps`` write.


def utc_iso(ns: int) -> str:
    """``datetime.now(UTC).isoformat()`` with ``Z`` for ``+00:00`` (structlog's ISO UTC stamp) at
    ``ns`` nanoseconds since the epoch; the date and time of each second are formatted once."""
    global _second
    seconds, micro = divmod(ns // 1000, 1_000_000)
    last = _second  # one read: a thread logging meanwhile replaces the pair, never half of it
    if last[0] != seconds:
        last = _second = (seconds, datetime.fromtimestamp(seconds, UTC).isoformat()[:-6])
    return f"{last[1]}.{micro:06d}Z" if micro else f"{last[1]}Z"


_second: tuple[int | None, str] = (None, "")


def stamp_utc_iso(_logger: object, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog's ``TimeStamper(fmt="iso", utc=True)``: ``timestamp``, now (see :func:`utc_iso`)."""
    event["timestamp"] = utc_iso(time.time_ns())
    return event


_encoders: dict[Any, json.JSONEncoder] = {}


def _dumps(obj: Any, **options: Any) -> str:
    """``json.dumps(obj, **options)`` with the encoder made once (``dumps`` builds one per call
    whenever ``default`` is given, as structlog's ``JSONRenderer`` always gives it)."""
    default = options.pop("default", None)
    if options:
        return json.dumps(obj, default=default, **options)
    encoder = _encoders.get(default)
    if encoder is None:
        encoder = _encoders[default] = json.JSONEncoder(default=default)
    return encoder.encode(obj)


def _fallback(obj: Any) -> Any:
    """What structlog's JSONRenderer does with a value JSON cannot encode: ``__structlog__()``,
    else ``repr`` (written here: structlog keeps its own handler private, and it is unpinned)."""
    try:
        return obj.__structlog__()
    except AttributeError:
        return repr(obj)


_LEVEL_NAMES = {"warn": "warning", "exception": "error"}  #: structlog's ``add_log_level`` mapping


class JsonLine:
    """``[node?, merge_contextvars, add_log_level, stamp_utc_iso, format_exc_info,
    JSONRenderer(serializer=_dumps)]`` as one processor, with the same text (the tests compare).

    Why: at ``info`` each call still writes four lines, and one line cost ~63 000 instructions
    through the chain, 55 000 through this (callgrind, ``log.info`` under ``call_context`` to
    /dev/null). The console renderer keeps the chain (a terminal is not the hot path).
    """

    __slots__ = ("_encode", "_node", "_now_ns")

    def __init__(self, node: str | None = None, *, now_ns: Any = time.time_ns) -> None:
        self._node = node
        self._now_ns = now_ns
        self._encode = json.JSONEncoder(default=_fallback).encode

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
        if self._node:
            event.setdefault("node", self._node)
        context = contextvars.copy_context()
        for var in context:  # structlog.contextvars.merge_contextvars
            name = var.name
            if name.startswith("structlog_"):
                value = context[var]
                if value is not Ellipsis:
                    event.setdefault(name[10:], value)
        event["level"] = _LEVEL_NAMES.get(method, method)
        event["timestamp"] = utc_iso(self._now_ns())
        if "exc_info" in event:
            event = structlog.processors.format_exc_info(logger, method, event)
        try:
            return self._encode(event)
        except Exception as exc:  # a line is never lost, nor its caller failed by it
            return self._encode(self._salvaged(event, exc))

    def _salvaged(self, event: MutableMapping[str, Any], exc: Exception) -> dict[str, Any]:
        """``event`` with each value JSON cannot take even through :func:`_fallback` (a dict
        with keys that are not strings, a cycle, a ``repr`` or ``__structlog__`` that raises, an
        int too long for ``str``) replaced by its ``repr``, or by its type when that raises too;
        ``log_error`` says why. The chain raised into the caller for these (a log line inside
        ``except`` then lost the error it was to report)."""
        safe: dict[str, Any] = {}
        for key, value in event.items():
            try:
                self._encode(value)
            except Exception:
                value = _safe_repr(value)
            safe[key if isinstance(key, str) else _safe_repr(key)] = value
        safe["log_error"] = _safe_repr(exc)
        return safe


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}: repr failed>"


def _add_node(node: str) -> Any:
    def add(_logger: object, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("node", node)
        return event

    return add
