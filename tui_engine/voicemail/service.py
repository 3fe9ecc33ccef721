"""The mailbox operations of the ``voicemail`` step and the saving of ``record`` steps' audio.

One implementation of :class:`~tui_engine.menus.voicemail.Mailboxes` for every driver (real calls,
``simulate``, ``MenuHarness``), so a dialplan behaves the same in tests and on the phone.

The caller's place in the mailbox lives in the call's variables: ``message_ids`` (the listing taken
at ``open``, so playing a message, which makes it old, does not reorder what the caller walks
through) and ``message`` (1-based position in it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tui_engine.media.errors import PromptError
from tui_engine.media.recorder import write_wav
from tui_engine.media.wav import read_wav
from tui_engine.menus.model import PromptRef
from tui_engine.menus.record import StopRecording
from tui_engine.menus.voicemail import MailboxRequest, MailboxResult
from tui_engine.voicemail.store import (
    MIN_FREE_BYTES,
    InvalidMailbox,
    MailboxFull,
    Message,
    VoicemailStore,
    check_free_space,
)

_Op = Callable[[MailboxRequest], MailboxResult]
#: recordings of plain ``record`` steps (and greeting drafts) kept in ``<data-dir>/recordings``:
#: nothing there is deleted by the engine, so callers must not be able to fill it for ever
MAX_RECORDING_FILES = 10_000


def _failed(why: str) -> MailboxResult:
    return MailboxResult(ok=False, why=why)


class Voicemail:
    """Mailboxes in ``<data_dir>/voicemail``; recordings of plain ``record`` steps in
    ``<data_dir>/recordings``."""

    def __init__(
        self, data_dir: Path, *, max_recordings: int = MAX_RECORDING_FILES,
        min_free_bytes: int = MIN_FREE_BYTES,
    ) -> None:
        self.store = VoicemailStore(data_dir / "voicemail", min_free_bytes=min_free_bytes)
        self.recordings = data_dir / "recordings"
        self.max_recordings = max_recordings
        self.min_free_bytes = min_free_bytes
        self._ops: dict[str, _Op] = {
            "open": self._open, "play": self._play, "next": self._next, "delete": self._delete,
            "greeting": self._greeting, "save-greeting": self._save_greeting, "room": self._room,
        }

    def perform(self, request: MailboxRequest) -> MailboxResult:
        try:
            return self._ops[request.op](request)
        except (OSError, InvalidMailbox, PromptError) as exc:
            return _failed(f"{type(exc).__name__}: {exc}")

    def save_recording(self, stop: StopRecording, pcm16: bytes, *, caller: str, name: str) -> str:
        if stop.mailbox is not None:
            return str(self.store.deposit(stop.mailbox, pcm16, caller=caller).audio)
        self._check_recordings_room(len(pcm16))
        path = self.recordings / f"{name}.wav"
        write_wav(path, pcm16)
        return str(path)

    def _check_recordings_room(self, size: int) -> None:
        """The voicemail store's bounds for plain recordings too (a worker thread: one listing)."""
        try:
            held = sum(1 for _ in self.recordings.glob("*.wav"))
        except OSError:
            held = 0
        if held >= self.max_recordings:
            raise MailboxFull(f"the recordings folder holds {self.max_recordings} recordings")
        check_free_space(self.recordings, size, self.min_free_bytes, "recordings")

    # -- operations ----------------------------------------------------------------------
    def _open(self, request: MailboxRequest) -> MailboxResult:
        messages = self.store.messages(request.mailbox)
        new = sum(1 for m in messages if m.new)
        return MailboxResult(ok=True, values={
            "new_messages": str(new), "old_messages": str(len(messages) - new),
            "messages": str(len(messages)), "message": "1", "message_ids": ",".join(m.id for m in messages),
        })

    def _one_fewer_new(self, request: MailboxRequest) -> str:
        """``new_messages`` once a new message was heard or deleted. The variable is the call's and
        a dialplan can overwrite it (``set``, a webhook's answer): one that is not a count is not
        trusted, the store is (the ValueError left the call waiting out the file-work timeout)."""
        try:
            return str(max(0, int(request.variables.get("new_messages", "1")) - 1))
        except ValueError:
            return str(sum(1 for m in self.store.messages(request.mailbox) if m.new))

    def _current(self, request: MailboxRequest) -> tuple[list[str], int, Message | None]:
        ids = [i for i in request.variables.get("message_ids", "").split(",") if i]
        try:
            index = int(request.variables.get("message", "1")) - 1
        except ValueError:
            index = 0
        found = self.store.message(request.mailbox, ids[index]) if 0 <= index < len(ids) else None
        return ids, index, found

    def _play(self, request: MailboxRequest) -> MailboxResult:
        _, index, message = self._current(request)
        if message is None:
            return _failed("no such message")
        values = {"message_from": message.caller, "message_length": str(max(1, round(message.length)))}
        if message.new:
            self.store.mark_old(request.mailbox, message.id)
            values["new_messages"] = self._one_fewer_new(request)
        ref = PromptRef(
            name=f"message-{index + 1}", path=message.audio, text=f"message from {message.caller}",
            duration=message.length,
        )
        return MailboxResult(ok=True, values=values, audio=(ref,))

    def _next(self, request: MailboxRequest) -> MailboxResult:
        ids, index, _ = self._current(request)
        if index + 1 >= len(ids):
            return _failed("no more messages")
        return MailboxResult(ok=True, values={"message": str(index + 2)})

    def _delete(self, request: MailboxRequest) -> MailboxResult:
        ids, index, message = self._current(request)
        if message is None:
            return _failed("no such message")
        self.store.delete(request.mailbox, message.id)
        del ids[index]
        position = min(index + 1, max(1, len(ids)))
        values = {"message_ids": ",".join(ids), "messages": str(len(ids)), "message": str(position)}
        if message.new:
            values["new_messages"] = self._one_fewer_new(request)
        return MailboxResult(ok=True, values=values)

    def _room(self, request: MailboxRequest) -> MailboxResult:
        """Before the tone, not after the message: a caller learns a mailbox is full (or the disk
        is) before speaking into it, as Asterisk's VoiceMail says "mailbox full" at once."""
        self.store.check_room(request.mailbox)
        return MailboxResult(ok=True)

    def _greeting(self, request: MailboxRequest) -> MailboxResult:
        path = self.store.greeting(request.mailbox)
        if path is None:
            return _failed("no greeting recorded")
        duration = read_wav(path).duration
        ref = PromptRef(name="greeting", path=path, text="the mailbox's greeting", duration=duration)
        return MailboxResult(ok=True, audio=(ref,))

    def _save_greeting(self, request: MailboxRequest) -> MailboxResult:
        recording = request.variables.get("recording", "")
        source = Path(recording)
        # Only a recording of this store's own record steps: a variable must not move any file.
        if not recording or source.parent.resolve() != self.recordings.resolve() or not source.is_file():
            return _failed("no recording to save")
        self.store.save_greeting(request.mailbox, source)
        return MailboxResult(ok=True)
