"""Errors raised by the media package (children of the project's one error tree)."""

from __future__ import annotations

from pathlib import Path

from tui_engine.core.errors import LocalError, RemoteError


class PromptError(LocalError):
    """A prompt file cannot be used: unreadable, not RIFF/WAVE, unsupported format, truncated...

    A configuration problem on our side (the dialplan names the file), so a ``LocalError``.
    ``path`` and ``reason`` are kept separately so config reports can show them as fields.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class NoCommonCodec(RemoteError):
    """The SDP offer holds no codec we can send (PCMU/PCMA): answer 488 (RFC 3261 §21.4.26, RFC 3264 §6)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=488)


class SdpError(NoCommonCodec):
    """The SDP offer cannot be parsed, is empty (no delayed-offer support) or has no audio stream.

    A subclass of ``NoCommonCodec`` so one ``except NoCommonCodec`` answers every unusable offer with 488.
    """


class UnusableMediaAddress(SdpError):
    """The offer's ``c=``/``m=`` names a destination our RTP socket cannot send to: answer 488.

    Refused at answer time, because an answered call whose prompts cannot leave never reaches
    the end of a prompt, so no no-input timer would ever start (issue 9).
    """


class PortsExhausted(LocalError):
    """Every even RTP port of the configured range is in use (raise ``engine.rtp-ports``)."""


class DtmfError(RemoteError):
    """A SIP INFO body that does not carry a digit we can read (answer 400 or 415)."""
