"""The portal's settings, a plain value the Engine maps its TOML config onto.

Kept as a small frozen dataclass (rather than importing ``tui_engine.config``) so the web
package can run standalone (``python -m tui_engine.web``) and in tests; the config names
are in docs/architecture.md (``[applications.portal.security]`` / ``[...web]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tui_engine.core import FinalAction, IdlePolicy


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
        warn = self.warning if self.warning and self.warning > 0 else None
        return IdlePolicy(
            timeout=self.inactivity_timeout, max_attempts=1, final=FinalAction.LOCK, warn_before=warn
        )


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object, *, bare_unit: float = 1.0) -> float:
    """``"90s"``, ``"10m"``, ``"12h"``, ``"250ms"`` or a bare number times ``bare_unit``.

    Hand-written (a dozen lines) so the web package and its standalone server need no config
    package; ``tui_engine.config`` parses the TOML file itself. ``inactivity-timeout`` takes
    bare numbers as minutes (``bare_unit=60``), per docs/architecture.md.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        return float(value) * bare_unit
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            number = text.removesuffix(unit).strip()
            try:
                return float(number) * _UNITS[unit]
            except ValueError:
                break
    try:
        return float(text) * bare_unit
    except ValueError:
        raise ValueError(f"not a duration: {value!r} (examples: 90s, 10m, 12h)") from None
