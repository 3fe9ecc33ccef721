"""The portal's settings, a plain value the Engine maps its TOML config onto.

Kept as a small frozen dataclass (rather than the configuration's model) so the web package
can run standalone (``python -m tui_engine.web``) and in tests; it shares only the engine's
one duration parser with ``tui_engine.config``. The config names are in docs/architecture.md
(``[applications.portal.security]`` / ``[...web]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tui_engine.config.values import parse_duration as _parse_duration
from tui_engine.core import IdlePolicy, portal_policy


@dataclass(frozen=True, kw_only=True, slots=True)
class PortalSettings:
    """Durations are seconds. ``inactivity_timeout == 0`` never locks; ``warning`` None = no warning."""

    inactivity_timeout: float = 600.0
    warning: float | None = 60.0
    max_unlock_failures: int = 5
    session_lifetime: float = 12 * 3600.0
    store: str = "sqlite"
    heartbeat_interval: float = 15.0
    data_dir: Path = field(default_factory=lambda: Path("data"))
    app_name: str = "portal"
    #: shortest new password (``[security] password-min-length``).
    password_min_length: int = 12
    #: networks of reverse proxies whose X-Forwarded-* headers are believed.
    trusted_proxies: tuple[str, ...] = ()

    def idle_policy(self) -> IdlePolicy:
        """One attempt, then LOCK: a web session has no re-prompt, only an optional warning."""
        return portal_policy(self.inactivity_timeout, self.warning)


def parse_duration(value: object, *, bare_unit: float = 1.0) -> float:
    """The engine's one duration parser (``tui_engine.config.values``) as the portal's console
    and command line use it: a bare number, written or typed, counts ``bare_unit`` seconds."""
    return _parse_duration(value, bare_unit=bare_unit, bare_text=True)
