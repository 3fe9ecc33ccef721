"""``python -m tui_engine.web``: the portal alone (see standalone.py)."""

import sys

from tui_engine.web.standalone import main

sys.exit(main())
