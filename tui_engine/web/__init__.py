"""The web portal: login, admin console, server-enforced inactivity lock, user store.

See docs/web-api.md (HTTP contract) and docs/web-security.md (threat model, clocks).
"""

from tui_engine.web.component import WebComponent
from tui_engine.web.console import ConsoleSource, StaticConsoleSource
from tui_engine.web.settings import PortalSettings, parse_duration

__all__ = ["ConsoleSource", "PortalSettings", "StaticConsoleSource", "WebComponent", "parse_duration"]
