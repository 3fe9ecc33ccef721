"""Benchmarks for tui-engine (figures, never pass/fail): ``python -m bench [--quick] [--only NAME]``.

Each benchmark is a module of this package with ``run(quick: bool) -> dict``; the harness
(:mod:`bench.harness`) finds them, runs them, and writes ``bench/results/<UTC stamp>.json``
plus a Markdown report (``<stamp>.md`` and ``latest.md``). See ``bench/README.md``.
"""
