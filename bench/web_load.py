"""N simulated portal users: login, a few heartbeats, then idle until the server locks them.

The engine runs with a short portal inactivity timeout and no warning. Each user is an aiohttp
client session with its own cookie jar: ``POST /api/login``, ``POST /api/activity`` a few times
(with the CSRF token, as the console's heartbeat does), then nothing. The lock lateness is the
server's own figure: each ``audit.lock`` event carries ``now − (last activity + timeout)``
(the deadline arithmetic of OWASP ASVS V3.3 idle timeouts, enforced server-side). After the
timeout a final ``GET /api/session`` checks that every user really is ``locked``.

Users are created up front with argon2's cheapest profile (:func:`use_hasher`, as the tests
do), so logins measure the portal, not the deliberately slow password hash.
"""

from __future__ import annotations

import asyncio
import logging
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from argon2 import PasswordHasher, profiles

from bench._load import BenchEngine, Metric, ProcSampler, metric, percentile
from tui_engine.web.passwords import use_hasher
from tui_engine.web.store.sqlite import SqliteStore
from tui_engine.web.users import add_user

PASSWORD = "bench-password"


async def create_users(data_dir: Path, n: int) -> None:
    previous = use_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))
    saved = structlog.get_config()
    # add_user logs audit.user_created at info: not for the benchmark's stdout.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    store = SqliteStore(data_dir / "portal.sqlite3")
    try:
        for i in range(n):
            await add_user(store, f"user{i}", PASSWORD, via="portal")
    finally:
        await store.aclose()
        use_hasher(previous)
        structlog.configure(**saved)


async def one_user(base: str, i: int, heartbeats: int, gap: float, idle_s: float) -> dict[str, Any]:
    """Login, ``heartbeats`` activity posts ``gap`` apart, idle; the state after the lock is due."""
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(base, cookie_jar=jar) as http:
        await asyncio.sleep(random.uniform(0, gap))  # spread the logins
        async with http.post("/api/login", json={"username": f"user{i}", "password": PASSWORD}) as r:
            if r.status != 200:
                return {"login": r.status}
            csrf = (await r.json())["csrf"]
        for _ in range(heartbeats):
            await asyncio.sleep(gap)
            async with http.post("/api/activity", headers={"X-CSRF-Token": csrf}) as r:
                await r.read()
        await asyncio.sleep(idle_s + 1.0)
        async with http.get("/api/session") as r:
            state = (await r.json())["state"]
    return {"login": 200, "state": state}


async def _drive(n: int, idle_s: float, workdir: Path) -> dict[str, Any]:
    engine = BenchEngine(workdir, {
        "portal.security.inactivity-timeout": f"{idle_s:g}s",
        "portal.security.inactivity-warning": "0s",
        "logging.level": "info",
    }, ready_timeout=60)
    await create_users(engine.data_dir, n)
    async with engine:
        sampler = ProcSampler(engine.pid or 0)
        sampler.start()
        started = time.monotonic()
        since = len(engine.events)
        outcomes = await asyncio.gather(*(one_user(engine.http_url, i, 3, 0.5, idle_s) for i in range(n)))
        elapsed = time.monotonic() - started
        await sampler.stop()
        locks = [float(e["lateness_ms"]) for e in engine.find_events("audit.lock", since=since)]
    logged_in = sum(1 for o in outcomes if o.get("login") == 200)
    locked = sum(1 for o in outcomes if o.get("state") == "locked")
    metrics: dict[str, Metric] = {
        "users logged in": metric(logged_in, "users", f"of {n}"),
        "users locked at the end": metric(locked, "users", "GET /api/session after the timeout"),
        "audit.lock events": metric(len(locks), "locks"),
        "lock lateness p50": metric(percentile(locks, 50), "ms", "server-side, from audit.lock"),
        "lock lateness p99": metric(percentile(locks, 99), "ms"),
        "lock lateness max": metric(max(locks, default=None), "ms"),
        "engine CPU (average)": metric(sampler.cpu_percent(), "% of one core"),
        "engine RSS peak": metric(sampler.peak_rss() / 2**20, "MiB"),
        "run time": metric(elapsed, "s"),
    }
    return {"name": f"{n:,} portal users", "params": {"users": n, "inactivity_timeout_s": idle_s,
                                                      "heartbeats": 3, "heartbeat_gap_s": 0.5},
            "metrics": metrics, "lateness_ms": sorted(locks)}


async def _run(quick: bool) -> list[dict[str, Any]]:
    sizes = [50] if quick else [200, 1000]
    out = []
    with tempfile.TemporaryDirectory(prefix="tui-bench-web-") as tmp:
        for n in sizes:
            out.append(await _drive(n, 2.0 if quick else 5.0, Path(tmp) / str(n)))
    return out


def run(quick: bool) -> dict[str, Any]:
    sections = asyncio.run(_run(quick))
    return {
        "title": "Portal users going idle (server-enforced lock)",
        "summary": "N users log in, send three heartbeats 0.5 s apart, then go idle; the server locks each "
                   "one after the inactivity timeout. Lateness is the server's own audit.lock figure.",
        "sections": [{k: v for k, v in s.items() if k != "lateness_ms"} for s in sections],
        "plots": {"lock_lateness_cdf": {s["name"]: s["lateness_ms"] for s in sections}},
        "notes": [
            "Logs run at info level here (audit.lock is an info event), so their cost is included.",
            "The store is SQLite in the engine's data dir (the default); each lock writes it.",
        ],
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
