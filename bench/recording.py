"""Recording and voicemail costs: what the ``record`` step adds to the RTP receive path, and what
preparing a message for playback costs (done in a worker thread, off the event loop).

* **feed**: CPU per received 20 ms frame in :class:`~tui_engine.media.recorder.Recorder` (decode,
  keep as PCM16, one energy sum), for speech and for silence; speech reports per second of
  speech (the throttle: what reaches the call's runner instead of 50 frames a second).
* **memory**: bytes kept per second of recording (8 kHz PCM16) and for a ``max-length`` of 120 s.
* **message**: writing a 120 s message (``write_wav``) and converting it back to G.711 frames for
  playback (``playback_prompt``: what ``CallSession._prepare_mailbox`` runs in a thread).
"""

from __future__ import annotations

import gc
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from tui_engine.media.codecs import pcm16_to_ulaw, samples_to_pcm16
from tui_engine.media.recorder import Recorder, playback_prompt, write_wav

Metric = dict[str, Any]
TONE = [int(6000 * math.sin(2 * math.pi * 300 * i / 8000)) for i in range(160)]
SPEECH = pcm16_to_ulaw(samples_to_pcm16(TONE))
SILENCE = b"\xff" * 160


def metric(value: float | int, unit: str, note: str = "") -> Metric:
    out: Metric = {"value": value, "unit": unit}
    if note:
        out["note"] = note
    return out


def _feed(payload: bytes, frames: int) -> tuple[float, int]:
    reports: list[float] = []
    recorder = Recorder("PCMU", reports.append, max_seconds=frames * 0.02 + 1)
    gc.disable()
    try:
        start = time.process_time()
        for n in range(frames):
            recorder.feed(payload, n * 0.02)
        cpu = time.process_time() - start
    finally:
        gc.enable()
    return cpu / frames * 1e6, len(reports)


def run(quick: bool) -> dict[str, Any]:
    frames = 2_000 if quick else 30_000  # 40 s / 10 min of audio
    speech_us, reports = _feed(SPEECH, frames)
    silence_us, _ = _feed(SILENCE, frames)
    seconds = 30.0 if quick else 120.0
    recorder = Recorder("PCMU")
    for n in range(int(seconds / 0.02)):
        recorder.feed(SPEECH, n * 0.02)
    start = time.perf_counter()
    audio = recorder.audio()
    decode_ms = (time.perf_counter() - start) * 1000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "message.wav"
        start = time.perf_counter()
        write_wav(path, audio)
        write_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        playback_prompt(path)
        prepare_ms = (time.perf_counter() - start) * 1000
    return {
        "title": "Recording and voicemail",
        "summary": f"{speech_us:.1f} µs CPU per received frame while recording speech; "
        f"a {seconds:g} s message is prepared for playback in {prepare_ms:.0f} ms (worker thread)",
        "sections": [
            {"name": "feed (RTP receive path)", "params": {"frames": frames}, "metrics": {
                "speech frame": metric(round(speech_us, 2), "µs CPU", "decode + keep + energy + throttle"),
                "silent frame": metric(round(silence_us, 2), "µs CPU"),
                "speech reports": metric(round(reports / (frames * 0.02), 2), "per s of speech",
                                         "instead of 50 frames/s reaching the runner"),
            }},
            {"name": "memory", "params": {}, "metrics": {
                "per second": metric(8_000, "bytes", "G.711 as received, until the recording ends"),
                "max-length 120 s": metric(960_000, "bytes", "then 1.92 MB of PCM16 while it is written"),
            }},
            {"name": "message", "params": {"seconds": seconds}, "metrics": {
                "decode to PCM16": metric(round(decode_ms, 1), "ms", "Recorder.audio, in a worker thread"),
                "write_wav": metric(round(write_ms, 1), "ms"),
                "prepare for playback": metric(
                    round(prepare_ms, 1), "ms", "playback_prompt, in a worker thread"
                ),
            }},
        ],
    }


if __name__ == "__main__":
    print(json.dumps(run(quick=False), indent=2))
