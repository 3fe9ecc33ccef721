"""``python -m tui_engine`` = the ``tui-engine`` command."""

from tui_engine.cli import main

raise SystemExit(main())
