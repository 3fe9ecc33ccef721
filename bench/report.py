"""Render a benchmark run (the harness's JSON document) as Markdown."""

from __future__ import annotations

import json
from typing import Any


def render_markdown(document: dict[str, Any]) -> str:
    env = document["environment"]
    lines = [
        f"# tui-engine benchmarks — {document['started_at']}{' (quick)' if document['quick'] else ''}",
        "",
        f"Python {env['python']} ({env['implementation']}) on {env['platform']}, "
        f"{env['cpus']} CPU(s) {env.get('cpu_model') or ''}; commit `{env['git_commit']}`"
        f"{' + local changes' if env.get('git_dirty') else ''}; load average {env.get('load_average')} "
        "at the start.",
        "",
        "Figures, not pass/fail: compare runs on the same machine only.",
        "",
    ]
    plot_files = document.get("plot_files", {})
    for name, result in document["results"].items():
        lines += _benchmark(name, result)
        lines += [f"![{name}: {file}]({file})" for file in plot_files.get(name, [])]
        if plot_files.get(name):
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _benchmark(name: str, result: dict[str, Any]) -> list[str]:
    lines = [f"## {result.get('title', name)} (`{name}`, {result.get('elapsed_s', '?')} s)", ""]
    if "error" in result:
        return [*lines, "**Failed:**", "", "```", result["error"].rstrip(), "```", ""]
    if result.get("summary"):
        lines += [result["summary"], ""]
    for table in result.get("tables", []):
        lines += _table(table)
    for section in result.get("sections", []):
        lines += _section(section)
    if result.get("notes"):
        lines += ["Notes:", ""] + [f"- {note}" for note in result["notes"]] + [""]
    return lines


def _table(table: dict[str, Any]) -> list[str]:
    """``{"name", "columns": [...], "rows": [[cell, ...], ...]}`` as a Markdown table."""
    columns = table["columns"]
    lines = [f"### {table['name']}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in table["rows"]]
    return [*lines, ""]


def _section(section: dict[str, Any]) -> list[str]:
    lines = [f"### {section['name']}", ""]
    if section.get("params"):
        lines += ["Parameters: " + ", ".join(f"{k}={_fmt(v)}" for k, v in section["params"].items()), ""]
    lines += ["| metric | value | unit | note |", "|---|---:|---|---|"]
    for key, metric in section.get("metrics", {}).items():
        value, unit, note = _fmt(metric.get("value")), metric.get("unit", ""), metric.get("note", "")
        lines.append(f"| {key} | {value} | {unit} | {note} |")
    return [*lines, ""]


def _fmt(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    if isinstance(value, str):
        return value
    return json.dumps(value)
