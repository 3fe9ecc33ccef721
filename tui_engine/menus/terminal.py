"""Terminal input for ``simulate``: scripted lines from a pipe, or raw single keys on a tty.

Both are read with ``select`` and a timeout so the simulation's timers keep running while
nobody types; the caller's loop owns the timing (a timeout of 0 just polls).
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass

from tui_engine.menus.runner import DTMF_KEYS

HANGUP = "hangup"


@dataclass(frozen=True, kw_only=True, slots=True)
class Wait:
    """A scripted pause: read no more input for ``seconds`` simulated seconds."""

    seconds: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Talk:
    """The caller talks for ``seconds`` simulated seconds (speech energy for a ``record`` step)."""

    seconds: float


Token = str | Wait | Talk  # a DTMF key, HANGUP, a scripted pause, or the caller talking


def parse_line(line: str) -> list[Token]:
    """One scripted input line → tokens (see the module docstring)."""
    words = line.strip().split()
    if not words:
        return []
    if words[0] in ("wait", "sleep") and len(words) == 2:
        return [Wait(seconds=float(words[1]))]
    if words[0] == "talk" and len(words) == 2:
        return [Talk(seconds=float(words[1]))]
    if words[0] in (HANGUP, "quit", "q"):
        return [HANGUP]
    return [ch for ch in line.upper() if ch in DTMF_KEYS]


class LineInput:
    """Scripted input from a pipe or file: whole lines, read without blocking the timers."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.eof = False

    def read(self, timeout: float) -> list[Token]:
        if self.eof:
            time.sleep(max(0.0, timeout))
            return []
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return []
        chunk = os.read(self.fd, 4096)
        if not chunk:
            self.eof = True
            chunk = b"\n"
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return [token for line in lines for token in parse_line(line.decode("utf-8", "replace"))]


class KeyInput(LineInput):
    """A terminal in cbreak mode: every key is a token as soon as it is pressed."""

    def read(self, timeout: float) -> list[Token]:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return []
        keys = os.read(self.fd, 64).decode("utf-8", "replace")
        if not keys:
            self.eof = True
        tokens: list[Token] = []
        for ch in keys:
            if ch in "qQ\x04":  # q or Ctrl-D hangs up
                tokens.append(HANGUP)
            elif ch.upper() in DTMF_KEYS:
                tokens.append(ch.upper())
        return tokens


@contextlib.contextmanager
def cbreak(fd: int) -> Iterator[None]:
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd, termios.TCSANOW)  # keep keys typed while starting (TCSAFLUSH drops them)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
