"""structlog set-up: JSON lines when stdout is not a terminal, console output when it is.

``call_id`` / ``session_id`` are bound with ``structlog.contextvars.bind_contextvars`` by the
code that owns a call or a web request, and merged into every event logged under it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def configure_logging(level: str = "info", fmt: str = "auto", *, node: str | None = None) -> None:
    """``fmt``: ``auto`` (console on a terminal, JSON otherwise), ``json`` or ``console``.

    ``node`` (``engine.node-name``) goes into every line, so the logs of a cluster's engines
    can be merged and still tell which engine wrote each line.
    """
    use_console = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        *([_add_node(node)] if node else []),
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
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


def _add_node(node: str) -> Any:
    def add(_logger: object, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("node", node)
        return event

    return add
