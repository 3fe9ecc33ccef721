"""Hand-written fakes to drive a whole :class:`CallSession` on a :class:`FakeLoop` (no sockets, no sleeps)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tui_engine.media.dtmf import parse_info_body
from tui_engine.media.prompts import Prompt, PromptCache
from tui_engine.media.recorder import Recorder
from tui_engine.menus import Dialplan, MenuDefaults
from tui_engine.menus.voicemail import Mailboxes
from tui_engine.testing import FakeLoop
from tui_engine.testing.loop import FakeTimerHandle
from tui_engine.tui.call import CallInfo, CallSession, Observer


class FakeMedia:
    """Plays a prompt for its WAV duration on the fake loop; RTP arrivals are set by the test."""

    def __init__(self, loop: FakeLoop) -> None:
        self.loop = loop
        self.on_digit: Any = None
        self.on_failed: Any = None
        self.finished_at: float | None = None
        self.last_received_at: float | None = None
        self.on_hold = False
        self.closed = False
        self.played: list[tuple[float, list[str]]] = []
        self._handle: FakeTimerHandle | None = None
        self._on_done: Any = None
        self.recorder: Recorder | None = None  # the test feeds it the caller's frames
        #: digits that wait in the socket (not read yet): ``drain`` reports them, in order
        self.waiting: list[str] = []
        #: the caller's frames that wait in the socket: ``drain`` feeds them to the recorder
        self.waiting_frames: list[bytes] = []
        self.drains: list[float] = []  # when the call asked for what waits

    def play(self, prompts: Sequence[Prompt], on_done: Any, *, since: float | None = None) -> None:
        self.stop_playback()
        self.played.append((self.loop.time(), [p.path.name for p in prompts]))
        self._on_done = on_done
        self._handle = self.loop.call_later(sum(p.duration for p in prompts), self._finish)

    def _finish(self) -> None:
        self._handle, on_done, self._on_done = None, self._on_done, None
        self.finished_at = self.loop.time()
        on_done(True)

    def stop_playback(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle, on_done, self._on_done = None, self._on_done, None
            on_done(False)

    def start_recording(self, on_speech: Any, *, max_seconds: float = 3600.0) -> None:
        self.recorder = Recorder("PCMU", on_speech, max_seconds=max_seconds)

    def stop_recording(self) -> Recorder | None:
        recorder, self.recorder = self.recorder, None
        return recorder

    def info_digit(self, content_type: str, body: bytes) -> str:
        """As MediaSession: parse the INFO body (the real parser) and report its digit."""
        digit = parse_info_body(content_type, body)
        if self.on_digit is not None:
            self.on_digit(digit, "info")
        return digit

    def drain(self) -> None:
        self.drains.append(self.loop.time())
        frames, self.waiting_frames = self.waiting_frames, []
        for payload in frames:
            if self.recorder is not None:
                self.recorder.feed(payload, self.loop.time())
        waiting, self.waiting = self.waiting, []
        for digit in waiting:
            if self.on_digit is not None:  # as MediaSession: no handler, no report
                self.on_digit(digit, "rfc4733")

    def enable_inband(self, enabled: bool) -> None: ...

    def set_dtmf_methods(self, methods: Sequence[str]) -> None: ...

    def reoffer(self, offer_sdp: str) -> str:
        self.on_hold = "a=inactive" in offer_sdp
        return "answer"

    def close(self) -> None:
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()


class FakeCall:
    """What the SIP layer's ``ServerCall`` is asked to do."""

    call_id = "fake-call"

    def __init__(self, loop: FakeLoop) -> None:
        self.loop = loop
        self.hangups: list[float] = []
        self.refers: list[str] = []

    def hangup(self) -> None:
        self.hangups.append(self.loop.time())

    def refer(self, uri: str) -> None:
        self.refers.append(uri)

    def cancel_transfer(self) -> None:
        self.refers.append("cancelled")


class Lateness(Observer):
    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []

    def lateness(self, kind: str, seconds: float) -> None:
        self.seen.append((kind, seconds))


async def _no_pin(mailbox: str, pin: str) -> bool:
    return False


def make_call(
    plan: Dialplan, defaults: MenuDefaults, mailboxes: Mailboxes | None = None, *, loop: Any = None,
    **session: Any,
) -> tuple[CallSession, FakeLoop, FakeMedia, FakeCall, Lateness]:
    """A session on a :class:`FakeLoop` by default (a real asyncio loop for calls that spawn tasks:
    PIN, speech); ``session``: more CallSession arguments, e.g. ``speech``, ``post_webhook``."""
    loop = loop or FakeLoop()
    media, call, observer = FakeMedia(loop), FakeCall(loop), Lateness()
    info = CallInfo(
        call_id=call.call_id, caller="alice", dialplan=plan.name, started_at=0.0, started_wall=time.time()
    )
    session = CallSession(
        call=call,  # type: ignore[arg-type]
        media=media,  # type: ignore[arg-type]
        dialplan=plan,
        defaults=defaults,
        prompts=PromptCache(),
        verify_pin=_no_pin,
        observer=observer,
        info=info,
        loop=loop,
        mailboxes=mailboxes,
        **session,
    )
    return session, loop, media, call, observer
