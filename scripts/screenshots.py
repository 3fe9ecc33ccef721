#!/usr/bin/env python3
"""Screenshots of every console page at 1280 px and 390 px into docs/screenshots/.

Starts a real engine (``tui-engine serve``: SIP and portal) on free loopback ports with a
throw-away data dir, places real calls into it with SIPp (the live calls and the call history
come from them), adds a few older call records to the store so the history has several pages,
then drives the portal in Playwright's Chromium (Debian's /usr/bin/chromium).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tui_engine.testing import free_port, free_port_block
from tui_engine.web.store import open_store
from tui_engine.web.store.cdrs import CallRecord, open_cdr_store
from tui_engine.web.store.records import ADMIN, OPERATOR
from tui_engine.web.users import add_user

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "sipp_scenarios"
CHROMIUM = "/usr/bin/chromium"
WIDTHS = {"desktop": (1280, 860), "mobile": (390, 844)}
PAGES = ("calls", "history", "options", "users", "audit")
LOCK_AFTER = 25  # seconds: long enough to shoot every page, then the lock screen is shot too


async def _seed(data_dir: Path) -> None:
    store = open_store("sqlite", data_dir)
    users = (("alice", "alice-screenshot-pw", ADMIN), ("bob", "bob-screenshot-pw", OPERATOR),
             ("operator", "op-pw-123456", OPERATOR))
    for name, password, role in users:  # the pages are shot as alice, an admin: every page is hers
        await add_user(store, name, password, via="portal", role=role)
    await store.aclose()
    cdrs = open_cdr_store("sqlite", data_dir)
    rng = random.Random(7)
    now = time.time()
    reasons = ["completed", "caller-hangup", "no-input", "caller-hangup", "transfer", "invalid", "completed"]
    plans = [("main", ["welcome", "sales"]), ("main", ["welcome", "support", "hours"]), ("voicemail", ["pin", "inbox"])]
    for n in range(57):
        started = now - 3600 * 26 + n * 1500 + rng.uniform(0, 600)
        plan, menus = rng.choice(plans)
        reason = rng.choice(reasons)
        length = rng.uniform(8, 240)
        await cdrs.add(CallRecord(
            call_id=f"{rng.getrandbits(48):012x}@10.0.0.5", started_at=started, answered_at=started + 0.04,
            ended_at=started + length, caller=f"+4930{rng.randint(1000000, 9999999)}", dialled=plan,
            dialplan=plan, menus=tuple(menus[: rng.randint(1, len(menus))]), digits=rng.randint(0, 9),
            no_input=3 if reason == "no-input" else rng.randint(0, 1), end_reason=reason, sip_status=200,
        ))
    await cdrs.aclose()


def _start_engine(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, int]:
    port = free_port(socket.SOCK_STREAM)
    sip_port = free_port()
    first, last = free_port_block(20, avoid=(sip_port, port))
    args = [sys.executable, "-m", "tui_engine", "serve", "--no-watch",
            "--http-listen", f"127.0.0.1:{port}", "--sip-listen", f"127.0.0.1:{sip_port}",
            "--option", f"engine.data-dir={json.dumps(str(data_dir))}",
            "--option", f'engine.rtp-ports="{first}-{last}"', "--option", "engine.max-calls=10",
            "--option", f'portal.security.inactivity-timeout="{LOCK_AFTER}s"',
            "--option", 'portal.security.inactivity-warning="0s"']
    log = (data_dir.parent / "engine.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(400):
        try:
            with urllib.request.urlopen(url + "healthz", timeout=1) as reply:
                if "PortalComponent" in json.load(reply)["components"]:
                    return proc, url, sip_port
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the engine did not start")


def _call(sip_port: int, cwd: Path, hold_ms: int, service: str = "100") -> subprocess.Popen[bytes]:
    media, _ = free_port_block(4)
    return subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "uac_caller_hangup.xml"), "-s", service, f"127.0.0.1:{sip_port}",
         "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(media), "-m", "1", "-nostdin",
         "-set", "hold_ms", str(hold_ms), "-timeout", "60s"],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_timeout(400)
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print("wrote", out / f"{name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        asyncio.run(_seed(data_dir))
        proc, url, sip_port = _start_engine(data_dir)
        callers: list[subprocess.Popen[bytes]] = []
        try:
            callers = [_call(sip_port, Path(tmp), 4000)]  # one ends before the pictures: an ending
            time.sleep(6)
            callers += [_call(sip_port, Path(tmp), 60000) for _ in range(3)]  # live during the pictures
            time.sleep(2)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
                for label, (width, height) in WIDTHS.items():
                    ctx = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
                    page = ctx.new_page()
                    page.goto(url)
                    page.get_by_label("Username").fill("alice")
                    page.get_by_label("Password").fill("alice-screenshot-pw")
                    _shoot(page, args.out, f"login-{label}")
                    page.get_by_role("button", name="Sign in").click()
                    page.get_by_role("heading", name="Live calls").wait_for()
                    for name in PAGES:
                        page.goto(f"{url}#/{name}")
                        if name == "audit" and page.locator('.sidenav a[data-page="audit"]').is_hidden():
                            continue  # the engine does not serve /api/audit (yet)
                        page.wait_for_timeout(900)
                        _shoot(page, args.out, f"{name}-{label}")
                    page.get_by_role("dialog", name="Session locked").wait_for(timeout=(LOCK_AFTER + 15) * 1000)
                    _shoot(page, args.out, f"locked-{label}")
                    ctx.close()
                browser.close()
        finally:
            for c in callers:
                if c.poll() is None:
                    c.kill()
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
