"""Voicemail: messages and greetings per mailbox in the data directory, and the operations the
dialplan's ``voicemail`` and ``record`` steps ask of a call's driver.

Used by the telephony component (tui), ``simulate`` and the portal (web); depends on the media
WAV code and the menus' request/result values only.
"""

from tui_engine.voicemail.service import Voicemail
from tui_engine.voicemail.store import InvalidMailbox, MailboxFull, Message, VoicemailStore, valid_mailbox

__all__ = ["InvalidMailbox", "MailboxFull", "Message", "Voicemail", "VoicemailStore", "valid_mailbox"]
