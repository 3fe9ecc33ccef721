"""``bench/`` is a top-level package of the repository, not part of the installed wheel."""

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)
