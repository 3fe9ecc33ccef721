"""The TOML configuration: per-application option sections, located errors, overrides.

Modelled on the Genesys "Inactivity Timeout" feature: options live per Application in
sections such as ``[security]`` (``inactivity-timeout``, minutes, 0 = disabled).
Imports nothing above ``core.policy``.
"""

from tui_engine.config.changes import config_changes
from tui_engine.config.errors import MISSING, ConfigError, ConfigIssue
from tui_engine.config.loader import (
    EMBEDDED,
    apply_overrides,
    bundled_dialplans,
    embedded_default,
    issue_at,
    load_config,
    load_config_text,
    load_with_overrides,
    options_of,
)
from tui_engine.config.models import (
    SECTIONS,
    Application,
    EngineConfig,
    EngineSection,
    LoggingSection,
    SecuritySection,
    TuiSection,
    WebSection,
)
from tui_engine.config.template import CONFIG_NAME, template_text, write_template
from tui_engine.config.values import parse_duration, parse_minutes_or_duration, split_host_port

__all__ = [
    "CONFIG_NAME",
    "EMBEDDED",
    "MISSING",
    "SECTIONS",
    "Application",
    "ConfigError",
    "ConfigIssue",
    "EngineConfig",
    "EngineSection",
    "LoggingSection",
    "SecuritySection",
    "TuiSection",
    "WebSection",
    "apply_overrides",
    "bundled_dialplans",
    "config_changes",
    "embedded_default",
    "issue_at",
    "load_config",
    "load_config_text",
    "load_with_overrides",
    "options_of",
    "parse_duration",
    "parse_minutes_or_duration",
    "split_host_port",
    "template_text",
    "write_template",
]
