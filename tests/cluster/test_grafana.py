"""deploy/grafana/tui-engine.json: it parses as a dashboard and every query names metrics that a
live engine's ``/metrics`` really serves (a renamed metric would leave a panel silently empty)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tui_engine.testing.engine import EngineFactory

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "tui-engine.json"
#: a metric name in PromQL: an identifier right before its label matcher or range
_METRIC = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[)")
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def _served(text: str) -> set[str]:
    """Every series name ``/metrics`` can carry, also for families with no sample yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + s for s in _SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def test_the_dashboard_is_a_well_formed_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    source = variables["datasource"]
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid) and grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


async def test_every_query_names_metrics_the_engine_serves(engine_factory: EngineFactory) -> None:
    engine = await engine_factory()
    async with aiohttp.ClientSession() as http, http.get(f"{engine.http_url}/metrics") as response:
        assert response.status == 200
        served = _served(await response.text())
    dashboard = json.loads(DASHBOARD.read_text())
    used: set[str] = set()
    for expr in _queries(dashboard):
        names = set(_METRIC.findall(expr))
        assert names, f"no metric in {expr!r}"
        assert names <= served, f"{expr!r}: not served by /metrics: {sorted(names - served)}"
        used |= names
    # what the issue asks the dashboard to show
    wanted = {
        "tui_active_calls", "tui_calls_ended_total", "tui_timer_lateness_seconds_bucket",
        "tui_dtmf_digits_total", "web_sessions", "web_locks_total", "sip_messages_total",
    }  # fmt: skip
    assert wanted <= used, sorted(wanted - used)
