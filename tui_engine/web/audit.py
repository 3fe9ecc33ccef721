"""Audit events (``audit.*``) with hashed session IDs only.

One function per event keeps the names fixed and greppable: ``audit.login``,
``audit.login_refused``, ``audit.lock``, ``audit.unlock_accepted``, ``audit.unlock_refused``,
``audit.close``, ``audit.password_change``, ``audit.user_created``, ``audit.pin_change``.
"""

from __future__ import annotations

import structlog

from tui_engine.web.security import log_id


def event(name: str, *, session: str | None = None, **fields: object) -> None:
    """Log ``audit.<name>``; ``session`` is the stored hash and is shortened further."""
    if session is not None:
        fields["session"] = log_id(session)
    # Looked up per event (audit events are rare) rather than cached at import, so a logging
    # configuration made later, or structlog.testing.capture_logs, always sees them.
    structlog.get_logger("tui_engine.audit").info(f"audit.{name}", **fields)
