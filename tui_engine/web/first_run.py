"""First run: a store without users gets ``admin`` with a random password.

The person starting the engine must learn it, logs must not carry it: it is written to
``DATA_DIR/initial-admin-password`` (mode 0600, owner only) and printed once to stderr;
the structured log gets ``portal.first_login`` with the file's path only. The file is
removed by nobody automatically: delete it after changing the password.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from tui_engine.obs.logging import get_logger
from tui_engine.web.store import ADMIN, Store, UserExists
from tui_engine.web.users import add_user

log = get_logger("tui_engine.web")

PASSWORD_FILE = "initial-admin-password"
FIRST_USER = "admin"


def _write_owner_only(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


async def ensure_first_user(store: Store, data_dir: Path, *, app_name: str, url: str | None = None) -> bool:
    """Create ``admin`` if the store has no user; True when it did."""
    if await store.list_users():
        return False
    password = secrets.token_urlsafe(12)
    try:
        await add_user(store, FIRST_USER, password, via=app_name, role=ADMIN)
    except UserExists:
        return False  # another node won the race
    path = data_dir / PASSWORD_FILE
    _write_owner_only(path, password + "\n")
    where = f" at {url}" if url else ""
    print(
        f"\ntui-engine: first run - log in to the portal{where} as user 'admin' with password: {password}\n"
        f"  (also saved in {path}, readable only by you; change it with"
        f" 'tui-engine users passwd admin' and delete the file)\n",
        file=sys.stderr, flush=True,
    )
    log.info("portal.first_login", user="admin", password_file=str(path))
    return True
