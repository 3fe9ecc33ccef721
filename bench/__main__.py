"""``python -m bench``: run the benchmarks and write the reports."""

from bench.harness import main

raise SystemExit(main())
