"""The benchmark harness writes its reports; no benchmark is run here (speed is not tested)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import harness
from bench.report import render_markdown


def document(results: dict[str, object]) -> dict[str, object]:
    return {
        "stamp": "20260101T000000Z",
        "started_at": "2026-01-01T00:00:00+00:00",
        "quick": True,
        "environment": harness.environment(),
        "results": results,
    }


def test_idle_core_is_discovered_and_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert "idle_core" in harness.discover()
    assert "harness" not in harness.discover() and "report" not in harness.discover()
    assert harness.main(["--list"]) == 0
    assert "idle_core" in capsys.readouterr().out.split()


def test_unknown_benchmark_is_refused(tmp_path: Path) -> None:
    assert harness.main(["--only", "no_such_bench", "--out", str(tmp_path)]) == 2
    assert list(tmp_path.iterdir()) == []


def test_reports_are_written_as_json_markdown_and_latest(tmp_path: Path) -> None:
    results = {
        "demo": {
            "title": "Demo",
            "summary": "A made-up result.",
            "sections": [
                {"name": "one", "params": {"n": 1000}, "metrics": {"cost": {"value": 12.5, "unit": "ns"}}}
            ],
            "notes": ["a caveat"],
        },
        "broken": {"title": "Broken", "error": "Traceback: boom"},
    }
    json_path, md_path = harness.write_reports(document(results), tmp_path)
    assert json.loads(json_path.read_text())["results"]["demo"]["title"] == "Demo"
    md = md_path.read_text()
    assert md == (tmp_path / "latest.md").read_text()
    assert "| cost | 12.5 | ns |" in md and "n=1,000" in md and "- a caveat" in md
    assert "**Failed:**" in md and "boom" in md
    assert not list(tmp_path.glob("*.tmp"))


def test_a_failing_benchmark_is_reported_and_the_others_still_run() -> None:
    def fails(quick: bool) -> dict[str, object]:
        raise RuntimeError("no peer")

    def works(quick: bool) -> dict[str, object]:
        return {"title": "ok", "quick_seen": quick}

    out = harness.run_benchmarks({"a": fails, "b": works}, quick=True)
    assert "RuntimeError: no peer" in out["a"]["error"]
    assert out["b"]["quick_seen"] is True and "elapsed_s" in out["b"]
    assert "Failed" in render_markdown(document(out))
