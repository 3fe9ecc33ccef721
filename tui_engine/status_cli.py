"""``tui-engine status``: the live calls and recent endings of a running engine.

It reads the engine's configuration (``--config``, else the embedded default) for the HTTP address
and the data directory, takes the token the engine wrote there (``DATA_DIR/status-token``) and
asks ``GET /api/status`` on loopback (why both: ``tui_engine/obs/status.py``). The standard
library's ``urllib`` is enough for one local GET.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from tui_engine.config import ConfigError, load_with_overrides
from tui_engine.obs.status import PATH, token_path

#: an engine listening on every address is asked on loopback
_ANY = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def add_parser(commands: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    status = commands.add_parser("status", help="live calls and recent endings of a running engine")
    add_config(status)
    status.add_argument("--endings", type=int, default=10, metavar="N", help="recent endings shown (10)")
    status.add_argument("--json", action="store_true", help="the engine's answer as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_with_overrides(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    host, port = config.engine.http_address
    host = _ANY.get(host, host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}{PATH}"
    token_file = token_path(config.engine.data_dir)
    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        print(f"status: no engine token in {token_file} ({exc.strerror}): is the engine running "
              "with this configuration, and are you its user?", file=sys.stderr)  # fmt: skip
        return 1
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status = json.load(response)
    except urllib.error.HTTPError as exc:
        print(f"status: {url}: {exc.code} {exc.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"status: {url}: cannot connect ({getattr(exc, 'reason', exc)})", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(render(status, endings=args.endings))
    return 0


def render(status: dict[str, Any], *, endings: int = 10, now: float | None = None) -> str:
    """The text ``tui-engine status`` prints: a header, the live calls, the recent endings."""
    now = time.time() if now is None else now
    calls, ended = status.get("calls", []), status.get("endings", [])[:endings]
    lines = [
        f"engine {status.get('node')} (pid {status.get('pid')}, up {_duration(status.get('uptime_s', 0))}), "
        f"config {status.get('config')}, generation {status.get('generation')}",
        f"{len(calls)} active call{'s' if len(calls) != 1 else ''}",
    ]
    if calls:
        lines += _table(
            ("CALL-ID", "CALLER", "DIALPLAN", "MENU", "ATTEMPT", "NEXT TIMEOUT"),
            [
                (c["call_id"], c["caller"], c["dialplan"], c["menu"] or "-",
                 f"{c['attempt']}/{c['of']}" if c["answered"] else "ringing",
                 "-" if c["seconds_left"] is None else f"{c['seconds_left']:.1f}s")
                for c in calls
            ],
        )  # fmt: skip
    lines.append(f"{len(ended)} recent ending{'s' if len(ended) != 1 else ''}")
    if ended:
        lines += _table(
            ("CALL-ID", "CALLER", "DIALPLAN", "REASON", "DURATION", "ENDED"),
            [
                (e["call_id"], e["caller"], e["dialplan"], e["reason"], f"{e['duration']:.1f}s",
                 f"{_duration(now - e['ended_at'])} ago")
                for e in ended
            ],
        )  # fmt: skip
    return "\n".join(lines)


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    cells = [list(map(str, head)), *([str(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    return ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


__all__ = ["add_parser", "render", "run"]
