"""The examples of docs/dialplans.md "Variables and conditions" load and do what the text says."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from tui_engine.menus import Dialplan, DialplanSet, MenuEntered, Transfer, TransferFailed, load_dialplans
from tui_engine.menus.testing import MenuHarness

REPO = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> DialplanSet:
    """Every complete dialplan of the section, saved next to the bundled ones (as the text says)."""
    doc = (REPO / "docs" / "dialplans.md").read_text(encoding="utf-8")
    section = doc.split("## Variables and conditions", 1)[1].split("\n## ", 1)[0]
    target = tmp_path_factory.mktemp("dialplans")
    shutil.copytree(REPO / "tui_engine" / "dialplans", target, dirs_exist_ok=True)
    blocks = [b.split("```", 1)[0] for b in section.split("```yaml\n")[1:]]
    plans = [b for b in blocks if "\nmenus:" in b]
    assert len(plans) == 3
    for text in plans:
        (target / f"{yaml.safe_load(text)['name']}.yaml").write_text(text, encoding="utf-8")
    return load_dialplans(target)


def started(plan: Dialplan, moment: str, **variables: str) -> MenuHarness:
    call = MenuHarness(plan, wall=datetime.fromisoformat(moment).replace(tzinfo=BERLIN), variables=variables)
    call.start()
    return call


def entered(call: MenuHarness) -> list[str]:
    return [a.menu for _, a in call.log if isinstance(a, MenuEntered)]


def test_opening_hours(examples: DialplanSet) -> None:
    assert entered(started(examples["hours"], "2026-12-07T10:00")) == ["office-hours", "main"]
    saturday = started(examples["hours"], "2026-12-05T10:00")
    assert entered(saturday) == ["office-hours"]
    saturday.finish_prompt()
    assert saturday.runner.hangup_reason == "completed"
    assert entered(started(examples["hours"], "2026-12-07T18:00")) == ["office-hours"]  # closed at 18:00


@pytest.mark.parametrize(
    ("digits", "uri"),
    [("123456", "sip:standard-123456@127.0.0.1"), ("912345", "sip:premium@127.0.0.1"), ("000000", None)],
)
def test_routing_by_what_was_typed(examples: DialplanSet, digits: str, uri: str | None) -> None:
    call = started(examples["accounts"], "2026-12-07T10:00")
    call.press(digits)
    call.advance(5.0)  # the prompts play out
    transfers = [a.uri for _, a in call.log if isinstance(a, Transfer)]
    assert transfers == ([uri] if uri else [])
    if uri is None:
        assert entered(call) == ["customer", "customer"]  # invalid, then the menu again


def test_templated_transfer_on_the_caller(examples: DialplanSet) -> None:
    call = started(examples["callback"], "2026-12-07T10:00", caller="alice")
    assert call.press("1")[-1] == Transfer(uri="sip:alice@127.0.0.1", timeout=30.0)
    call = started(examples["callback"], "2026-12-07T10:00", caller="+4930123")
    assert call.press("2")[-1] == Transfer(uri="sip:de-operator@127.0.0.1", timeout=30.0)
    call = started(examples["callback"], "2026-12-07T10:00", caller="a b")
    failed = [a for a in call.press("1") if isinstance(a, TransferFailed)]
    assert [f.why for f in failed] == ["bad-uri"] and not call.ended
