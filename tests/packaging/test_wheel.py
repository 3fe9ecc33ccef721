"""The wheel works outside the checkout: ``python -m build``, ``pip install dist/*.whl`` in a clean
virtual environment, then the installed ``tui-engine`` answers a SIPp call with the bundled main menu.

The source is copied first (no ``__pycache__``, no ``*.egg-info``), so the build sees only what a
clone has, and the engine runs from a directory that is not the checkout. The venv is made
without ``--system-site-packages`` and gets only the wheel and its declared dependencies: a file
the wheel forgot (a prompt, the template, the schema) or an undeclared import fails here.
Building and installing take ~15 s, once per run (module scope, one xdist group).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tui_engine.testing import free_port, free_port_block
from tui_engine.testing.engine import EngineProcess
from tui_engine.testing.sipp import SippRun, run_sipp

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("wheel")]


@dataclass(frozen=True, slots=True)
class Installed:
    venv: Path
    wheel: Path

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "tui-engine"

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.script), *args], cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=60
        )


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH or VIRTUAL_ENV leaking the checkout into the clean interpreter."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def _copy_source(target: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, target / name)
    shutil.copytree(REPO / "tui_engine", target / "tui_engine", ignore=ignore)
    return target


def _check(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("wheel")
    source = _copy_source(work / "src")
    dist = work / "dist"
    build = [sys.executable, "-m", "build", "--outdir", str(dist), str(source)]
    _check(subprocess.run(build, capture_output=True, text=True, timeout=300, env=_clean_env()))
    (wheel,) = dist.glob("*.whl")
    venv = work / "clean"
    _check(subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _check(subprocess.run([*pip, str(wheel)], capture_output=True, text=True, timeout=300, env=_clean_env()))
    yield Installed(venv, wheel)


def test_the_wheel_carries_the_bundled_dialplans_and_prompts(installed: Installed) -> None:
    import zipfile

    names = set(zipfile.ZipFile(installed.wheel).namelist())
    bundled = REPO / "tui_engine" / "dialplans"
    expected = {f"tui_engine/{p.relative_to(REPO / 'tui_engine')}" for p in bundled.rglob("*") if p.is_file()}
    assert expected and expected <= names, sorted(expected - names)
    assert "tui_engine/config/template.toml" in names


def test_the_installed_package_is_not_the_checkout(installed: Installed, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", "import tui_engine; print(tui_engine.__file__)"],
        cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    path = Path(where.stdout.strip())
    assert path.is_relative_to(installed.venv), path
    redis = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", "import redis"], cwd=tmp_path, capture_output=True
    )
    assert redis.returncode != 0, "redis is an extra: a plain install must not pull it in"


async def test_installed_serve_answers_a_sipp_call_with_the_main_menu(
    installed: Installed, tmp_path: Path
) -> None:
    """No config file, a directory that is not the checkout: the embedded default's main menu."""
    if shutil.which("sipp") is None:
        pytest.skip("sipp (Debian sip-tester) is not installed; scripts/install-peers.sh")
    first, last = free_port_block(40)
    engine = EngineProcess(
        tmp_path / "run",
        embedded=True,
        command=[str(installed.script)],
        args=["--option", f'engine.rtp-ports="{first}-{last}"', "--option", "engine.max-calls=20"],
    )
    async with engine:
        media, _ = free_port_block(4)
        result = await run_sipp(
            SippRun(
                scenario="uac_caller_hangup", target=("127.0.0.1", engine.sip_port),
                local_port=free_port(socket.SOCK_DGRAM), media_port=media, workdir=tmp_path / "sipp",
                service="100", variables={"hold_ms": "1500"}, timeout_s=30.0,
            )
        )  # fmt: skip
        assert (result.returncode, result.successful) == (0, 1), f"{result.stdout}\n{result.errors}"
        started = await engine.wait_event("call.started")
        call_id = started["call_id"]
        await engine.wait_event("call.ended", call_id=call_id)
    assert started["dialplan"] == "main"
    entered = engine.find_events("menu.entered", call_id=call_id)
    played = engine.find_events("prompt.started", call_id=call_id)
    assert entered and played, engine.events[-20:]
    prompts = [str(p) for e in played for p in e["prompts"]]
    assert any("welcome" in p for p in prompts), prompts


def test_init_copies_the_bundled_dialplans_out_and_check_accepts_them(
    installed: Installed, tmp_path: Path
) -> None:
    _check(installed.run("init", "site", cwd=tmp_path))
    site = tmp_path / "site"
    assert (site / "dialplans" / "main.yaml").is_file()
    assert (site / "dialplans" / "prompts" / "main" / "welcome.wav").is_file()
    checked = installed.run("check", "--config", str(site / "tui-engine.toml"), cwd=tmp_path)
    _check(checked)
    assert str(site / "dialplans") in checked.stdout


def test_a_redis_url_without_the_extra_names_the_option_and_the_extra(
    installed: Installed, tmp_path: Path
) -> None:
    """A clear refusal at load (no traceback, nothing bound), naming the option and the extra."""
    config = tmp_path / "tui-engine.toml"
    _check(installed.run("init", str(tmp_path), cwd=tmp_path))
    text = config.read_text().replace('store = "sqlite"', 'store = "redis://127.0.0.1:6379/0"')
    config.write_text(text)
    line = text.splitlines().index('store = "redis://127.0.0.1:6379/0"') + 1
    refused = installed.run("serve", "--config", str(config), cwd=tmp_path)
    assert refused.returncode == 1, refused
    assert "Traceback" not in refused.stderr
    assert f"{config}:{line}" in refused.stderr and "applications.portal.web.store" in refused.stderr
    assert "tui-engine[redis]" in refused.stderr
