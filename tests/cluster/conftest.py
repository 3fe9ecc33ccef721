"""``deploy/`` is a top-level package of the repository (the cluster recipe), not part of the wheel."""

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)
