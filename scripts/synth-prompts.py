#!/usr/bin/env python3
"""Regenerate every dialplan prompt from its ``text:`` with espeak-ng and sox.

    .venv/bin/python scripts/synth-prompts.py [DIALPLAN_DIR] [--missing-only] [--voice en-us] [--speed 175]

It also records the words ``say-digits`` and ``say-number`` are played from
(``prompts/common/digits/<language>/<word>.wav``, the table in ``tui_engine/menus/numbers.py``)
when DIALPLAN_DIR is the bundled directory.

Each prompt becomes an 8 kHz mono µ-law WAV (what G.711 PCMU sends, RFC 3551 §4.5.14), so the
engine plays it without resampling: ``espeak-ng -w tmp.wav TEXT`` then
``sox tmp.wav -r 8000 -c 1 -e mu-law FILE``. Needs the Debian packages espeak-ng and sox.
The YAML is read with ``yaml.safe_load`` (not the validating loader) because validation
requires the very files this script writes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml


def prompts_of(directory: Path) -> dict[Path, str]:
    """Target file → text, for every prompt with a ``text:``; the same file must say the same thing."""
    wanted: dict[Path, str] = {}
    for dialplan in sorted(directory.glob("*.y*ml")):
        data = yaml.safe_load(dialplan.read_text(encoding="utf-8")) or {}
        for name, spec in (data.get("prompts") or {}).items():
            text, file = spec.get("text"), spec.get("file")
            if not text or not file:
                continue
            target = (dialplan.parent / file).resolve()
            if wanted.setdefault(target, text) != text:
                sys.exit(f"{dialplan}: prompt {name!r} gives {file} a different text than another dialplan")
    return wanted


def number_words_of(directory: Path) -> dict[Path, str]:
    """Target file → text for the recorded number words (only for the bundled dialplans)."""
    repo = Path(__file__).resolve().parent.parent
    bundled = repo / "tui_engine" / "dialplans"
    if directory.resolve() != bundled:
        return {}
    sys.path.insert(0, str(repo))
    from tui_engine.menus.numbers import WORDS

    return {bundled / "prompts" / "common" / "digits" / "en" / f"{name}.wav": text for name, text in WORDS.items()}


def synthesize(text: str, target: Path, *, voice: str, speed: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True)
        # Trim leading/trailing silence (silence … reverse silence … reverse): shorter files, and the
        # no-input timer, which starts when a prompt ends, is not stretched by dead air.
        trim = ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]
        convert = ["sox", str(raw), "-r", "8000", "-c", "1", "-e", "mu-law", str(target), *trim]
        subprocess.run(convert, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=Path(__file__).parent.parent / "tui_engine" / "dialplans")
    parser.add_argument("--missing-only", action="store_true", help="keep prompts that already exist")
    parser.add_argument("--voice", default="en-us")
    parser.add_argument("--speed", type=int, default=175, help="words per minute (espeak-ng -s)")
    args = parser.parse_args(argv)
    total = 0
    wanted = {**prompts_of(args.directory), **number_words_of(args.directory)}
    for target, text in sorted(wanted.items()):
        if not (args.missing_only and target.exists()):
            synthesize(text, target, voice=args.voice, speed=args.speed)
        total += target.stat().st_size
        print(f"{target.stat().st_size:>7} B  {target.relative_to(args.directory.resolve())}  {text}")
    print(f"{total} bytes in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
