"""Messages and greetings, one directory per mailbox, under ``<data-dir>/voicemail``.

Layout (after Asterisk's ``spool/voicemail/<context>/<box>/INBOX``, with JSON instead of ``.txt``)::

    voicemail/<mailbox>/messages/<id>.wav    8 kHz mono PCM16
    voicemail/<mailbox>/messages/<id>.json   {"caller", "received", "length", "new"}
    voicemail/<mailbox>/greeting.wav

Mailbox names come from callers' digits and portal user names, so they are checked before they
touch a path (:func:`valid_mailbox`): letters, digits, ``_ . -``, not starting with a dot, at most
64 characters — no separator, no ``..``, nothing a path can climb out with. Message ids are made
here and checked the same way when they come back (from a URL or a call's variables).

Small synchronous file operations: a listing reads a few small JSON files. The telephony driver
runs them inline (a handful of ``stat``/``read`` calls on local disk per keypress, not per packet);
the portal runs them in a worker thread.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tui_engine.media.recorder import pcm_seconds, write_wav

_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")
#: messages a mailbox holds before new ones are refused (Asterisk ``maxmsg``'s default): callers
#: must not be able to fill the disk through one mailbox
MAX_MESSAGES = 100
#: messages the whole store holds: any valid number is a mailbox for a depositing caller, so the
#: per-mailbox cap alone would let one caller fill the disk by walking mailbox numbers
MAX_TOTAL_MESSAGES = 10_000
#: free space the data directory keeps: below it deposits are refused (the call goes on, on-failed)
MIN_FREE_BYTES = 64 * 1024 * 1024


class InvalidMailbox(ValueError):
    """A mailbox name or message id that cannot be a directory name of the store."""


class MailboxFull(OSError):
    """The mailbox (or the store, the recordings folder, the disk) has no room for another one."""


def check_free_space(folder: Path, size: int, min_free_bytes: int, what: str) -> None:
    """:class:`MailboxFull` when writing ``size`` bytes under ``folder`` (made on demand, so the
    nearest existing parent is measured) would leave less than ``min_free_bytes`` free."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if shutil.disk_usage(existing).free - size < min_free_bytes:
        raise MailboxFull(f"less than {min_free_bytes} bytes free for {what}")


def valid_mailbox(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class Message:
    id: str
    mailbox: str
    caller: str
    received: float  #: epoch seconds
    length: float  #: seconds
    new: bool
    audio: Path


class VoicemailStore:
    def __init__(
        self, root: Path, *, max_messages: int = MAX_MESSAGES, max_total_messages: int = MAX_TOTAL_MESSAGES,
        min_free_bytes: int = MIN_FREE_BYTES,
    ) -> None:
        self.root = root
        self.max_messages = max_messages
        self.max_total_messages = max_total_messages
        self.min_free_bytes = min_free_bytes
        # Deposits run in worker threads: the room check and the write are one step, or two
        # callers finishing at once both find room for the last message and both write it.
        self._depositing = threading.Lock()

    # -- paths -------------------------------------------------------------------------
    def mailbox_dir(self, mailbox: str) -> Path:
        if not valid_mailbox(mailbox):
            raise InvalidMailbox(f"not a mailbox name: {mailbox!r}")
        return self.root / mailbox

    def _message_paths(self, mailbox: str, message_id: str) -> tuple[Path, Path]:
        if not valid_mailbox(message_id):
            raise InvalidMailbox(f"not a message id: {message_id!r}")
        folder = self.mailbox_dir(mailbox) / "messages"
        return folder / f"{message_id}.wav", folder / f"{message_id}.json"

    def greeting(self, mailbox: str) -> Path | None:
        path = self.mailbox_dir(mailbox) / "greeting.wav"
        return path if path.is_file() else None

    # -- writing -----------------------------------------------------------------------
    def deposit(self, mailbox: str, pcm16: bytes, *, caller: str, received: float | None = None) -> Message:
        """A new message; the WAV is written first, so a listing never shows one without audio,
        and removed again when its metadata cannot be written (no WAV without a message)."""
        at = time.time() if received is None else received
        with self._depositing:
            self.check_room(mailbox, len(pcm16))
            message_id = f"{int(at * 1000):013d}-{secrets.token_hex(4)}"
            audio, meta = self._message_paths(mailbox, message_id)
            write_wav(audio, pcm16)
            message = Message(
                id=message_id, mailbox=mailbox, caller=caller, received=at,
                length=round(pcm_seconds(pcm16), 2), new=True, audio=audio,
            )
            try:
                self._write_meta(meta, message)
            except BaseException:
                audio.unlink(missing_ok=True)
                raise
        return message

    def check_room(self, mailbox: str, size: int = 0) -> None:
        """:class:`MailboxFull` unless ``mailbox`` can take a message of ``size`` bytes: its own
        cap, the store-wide cap, the disk (a deposit is rare and runs in a worker thread: one glob
        is cheap). :class:`InvalidMailbox` for a name that cannot be a mailbox."""
        self.mailbox_dir(mailbox)
        if self.count(mailbox) >= self.max_messages:
            raise MailboxFull(f"mailbox {mailbox} holds {self.max_messages} messages")
        if sum(1 for _ in self.root.glob("*/messages/*.json")) >= self.max_total_messages:
            raise MailboxFull(f"the voicemail store holds {self.max_total_messages} messages")
        check_free_space(self.root, size, self.min_free_bytes, "voicemail")

    def _write_meta(self, meta: Path, message: Message) -> None:
        fields = asdict(message)
        for key in ("id", "mailbox", "audio"):
            fields.pop(key)
        partial = meta.with_name(meta.name + ".part")
        partial.write_text(json.dumps(fields), encoding="utf-8")
        partial.replace(meta)

    def mark_old(self, mailbox: str, message_id: str) -> None:
        message = self.message(mailbox, message_id)
        if message is not None and message.new:
            self._write_meta(self._message_paths(mailbox, message_id)[1], replace(message, new=False))

    def delete(self, mailbox: str, message_id: str) -> bool:
        audio, meta = self._message_paths(mailbox, message_id)
        existed = meta.exists()
        for path in (meta, audio):
            path.unlink(missing_ok=True)
        return existed

    def save_greeting(self, mailbox: str, source: Path) -> Path:
        """Move a recording (in the same data directory) to be the mailbox's greeting."""
        target = self.mailbox_dir(mailbox) / "greeting.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return target

    # -- reading -----------------------------------------------------------------------
    def count(self, mailbox: str) -> int:
        """Messages in ``mailbox`` (a directory listing: no metadata read)."""
        try:
            return sum(1 for _ in (self.mailbox_dir(mailbox) / "messages").glob("*.json"))
        except OSError:
            return 0

    def message(self, mailbox: str, message_id: str) -> Message | None:
        audio, meta = self._message_paths(mailbox, message_id)
        try:
            fields = json.loads(meta.read_text(encoding="utf-8"))
            return Message(
                id=message_id, mailbox=mailbox, caller=str(fields.get("caller", "")),
                received=float(fields["received"]), length=float(fields["length"]), new=bool(fields["new"]),
                audio=audio,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # gone, or a file that is not ours: not a message

    def messages(self, mailbox: str) -> list[Message]:
        """New messages first, then old ones, each oldest first (the order callers hear them)."""
        folder = self.mailbox_dir(mailbox) / "messages"
        try:
            names = sorted(p.stem for p in folder.glob("*.json"))
        except OSError:
            return []
        found = [m for m in (self.message(mailbox, n) for n in names if valid_mailbox(n)) if m is not None]
        return sorted(found, key=lambda m: (not m.new, m.received, m.id))

