"""A sans-I/O cursor over the frames of a list of prompts, for one call."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tui_engine.media.prompts import Prompt

DoneHandler = Callable[[bool], None]


class Playback:
    """Which frame comes next. The codec is asked per frame so a re-INVITE may switch PCMU ↔ PCMA."""

    __slots__ = ("_frame", "_index", "_prompts", "on_done")

    def __init__(self, prompts: Sequence[Prompt], on_done: DoneHandler) -> None:
        self._prompts = tuple(prompts)
        self._index = 0
        self._frame = 0
        self.on_done = on_done

    def next_frame(self, codec: str) -> bytes | None:
        """The next 160-byte payload, or None once every prompt has been played."""
        while self._index < len(self._prompts):
            frames = self._prompts[self._index].frames[codec]
            if self._frame < len(frames):
                self._frame += 1
                return frames[self._frame - 1]
            self._index, self._frame = self._index + 1, 0
        return None

    @property
    def frames_total(self) -> int:
        return sum(len(next(iter(p.frames.values()))) for p in self._prompts)
