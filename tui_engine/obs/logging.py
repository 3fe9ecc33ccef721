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
    structlog.configure(
        processors=[
            *([_add_node(node)] if node else []),
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )


def _add_node(node: str) -> Any:
    def add(_logger: object, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("node", node)
        return event

    return add
