"""What changed between two configurations (logged by ``config.reloaded``)."""

from __future__ import annotations

from typing import Any

from tui_engine.config.models import EngineConfig


def _flatten(data: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(data, dict) and data:
        for key, value in data.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = data
    return out


def config_changes(old: EngineConfig, new: EngineConfig) -> dict[str, tuple[Any, Any]]:
    """``{"applications.portal.security.inactivity-timeout": (600.0, 90.0), ...}`` (seconds)."""
    before = _flatten(old.model_dump(mode="json", by_alias=True), "", {})
    after = _flatten(new.model_dump(mode="json", by_alias=True), "", {})
    return {
        key: (before.get(key), after.get(key))
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    }
