"""Read WAV prompt files: RIFF chunks parsed by hand.

Why hand-written: the stdlib ``wave`` module only accepts format code 1 (integer PCM) and
rejects the G.711 WAVs telephony prompts usually come as (format code 7 = µ-law, 6 = A-law;
Microsoft "WAVE and RIFF" multimedia spec, RFC 2361 appendix A). The RIFF layout is small:
``RIFF <size> WAVE`` then chunks of ``<id:4> <size:u32le> <data> [pad byte if odd]``.
``WAVE_FORMAT_EXTENSIBLE`` (0xFFFE) carries the real code in the first two bytes of its sub-format GUID.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tui_engine.media.errors import PromptError

__all__ = ["Encoding", "PromptError", "WavAudio", "parse_wav", "read_wav"]

Encoding = Literal["ulaw", "alaw", "pcm16"]

_FORMAT_PCM = 1
_FORMAT_ALAW = 6
_FORMAT_ULAW = 7
_FORMAT_EXTENSIBLE = 0xFFFE


@dataclass(frozen=True, kw_only=True, slots=True)
class WavAudio:
    """Decoded header plus raw sample bytes (little-endian for pcm16, one byte per sample for G.711)."""

    sample_rate: int
    channels: int
    encoding: Encoding
    data: bytes
    duration: float  #: seconds


@dataclass(frozen=True, kw_only=True, slots=True)
class _Format:
    code: int
    channels: int
    sample_rate: int
    block_align: int
    bits: int


def read_wav(path: Path) -> WavAudio:
    """Read ``path`` as a WAV file holding µ-law, A-law or 16-bit PCM; raise ``PromptError`` otherwise."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PromptError(path, f"unreadable: {exc.strerror or exc}") from exc
    return parse_wav(raw, path=path)


def parse_wav(raw: bytes, *, path: Path) -> WavAudio:
    """Parse the bytes of a WAV file (``path`` is only used in error messages)."""
    if len(raw) < 12 or raw[0:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise PromptError(path, "not a RIFF/WAVE file")
    fmt: _Format | None = None
    data: bytes | None = None
    for chunk_id, body in _chunks(raw, path):
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(body, path)
        elif chunk_id == b"data":
            data = body
    if fmt is None:
        raise PromptError(path, "no 'fmt ' chunk")
    if data is None:
        raise PromptError(path, "no 'data' chunk")
    encoding = _encoding(fmt, path)
    frames = len(data) // fmt.block_align
    data = data[: frames * fmt.block_align]  # a partial last frame is dropped, not played as noise
    return WavAudio(
        sample_rate=fmt.sample_rate,
        channels=fmt.channels,
        encoding=encoding,
        data=data,
        duration=frames / fmt.sample_rate,
    )


def _chunks(raw: bytes, path: Path) -> list[tuple[bytes, bytes]]:
    """Split the RIFF body into ``(id, body)``; a chunk running past the end is reported as truncated."""
    chunks: list[tuple[bytes, bytes]] = []
    pos = 12
    while pos + 8 <= len(raw):
        chunk_id = raw[pos : pos + 4]
        (size,) = struct.unpack_from("<I", raw, pos + 4)
        start = pos + 8
        end = start + size
        if end > len(raw):
            if chunk_id != b"data":
                left = len(raw) - start
                raise PromptError(path, f"truncated: chunk {chunk_id!r} needs {size} bytes, {left} left")
            # Writers that stream to a pipe cannot seek back and leave the size 0xFFFFFFFF ("until the
            # end"): keep what exists. Any other short data chunk is a file cut off in transit.
            if size != 0xFFFFFFFF:
                raise PromptError(path, f"truncated: data chunk needs {size} bytes, {len(raw) - start} left")
            end = len(raw)
        chunks.append((chunk_id, raw[start:end]))
        pos = end + (size & 1)  # RIFF pads odd-sized chunks to an even length
    return chunks


def _parse_fmt(body: bytes, path: Path) -> _Format:
    if len(body) < 16:
        raise PromptError(path, f"truncated: 'fmt ' chunk has {len(body)} bytes, needs 16")
    code, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body, 0)
    if code == _FORMAT_EXTENSIBLE:
        if len(body) < 26:
            raise PromptError(path, "truncated: WAVE_FORMAT_EXTENSIBLE without sub-format")
        (code,) = struct.unpack_from("<H", body, 24)
    if channels < 1 or rate < 1 or block_align < 1:
        raise PromptError(path, f"invalid format: channels={channels} rate={rate} block_align={block_align}")
    return _Format(code=code, channels=channels, sample_rate=rate, block_align=block_align, bits=bits)


def _encoding(fmt: _Format, path: Path) -> Encoding:
    if fmt.code == _FORMAT_ULAW and fmt.bits == 8:
        return "ulaw"
    if fmt.code == _FORMAT_ALAW and fmt.bits == 8:
        return "alaw"
    if fmt.code == _FORMAT_PCM and fmt.bits == 16:
        return "pcm16"
    if fmt.code == _FORMAT_PCM:
        raise PromptError(path, f"unsupported PCM sample size {fmt.bits} bits (only 16-bit)")
    raise PromptError(path, f"unsupported format code {fmt.code} (only 1=PCM16, 6=A-law, 7=µ-law)")
