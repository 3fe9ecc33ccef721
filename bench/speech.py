"""Speech out: what ``say:`` costs at load and during a call, and what say-number costs.

* **load-time rendering** (``render_sync``, what ``check``/``serve`` do per static text): the
  espeak-ng process, the sox process (resampling to 8 kHz µ-law), cutting frames in the engine,
  and, for comparison, the engine's own pure-Python resampler on the same audio.
* **call-time rendering** (:class:`Synthesizer`): a cold rendering's wall time, a cache hit,
  distinct texts rendered at once (throughput with ``MAX_RUNNING`` renderings at a time), and
  the event loop's lag meanwhile (a 5 ms ticker; on a loaded machine, compare with the idle lag).
* **memory**: bytes a cached rendering holds per spoken second (PCMU + PCMA frames).
* **say-number**: resolving a value to word prompts (pure, per call).
"""

from __future__ import annotations

import asyncio
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.idle_core import metric
from tui_engine.media.prompts import prompt_from_wav
from tui_engine.media.tts import MAX_RUNNING, Synthesizer, Voice, converter, to_prompt
from tui_engine.media.wav import parse_wav
from tui_engine.menus.numbers import number_words

VOICE = Voice()
SENTENCE = "Your account number {n} has a balance of {n} dollars and {n} cents."


def _texts(count: int, salt: str) -> list[str]:
    return [SENTENCE.format(n=f"{salt}{i}") for i in range(count)]


def _load_time(count: int) -> dict[str, Any]:
    espeak, sox, frames, seconds = [], [], [], []
    for text in _texts(count, "1"):
        start = time.perf_counter()
        wav = subprocess.run(VOICE.command(), input=text.encode(), capture_output=True, check=True).stdout
        converted = time.perf_counter()
        ulaw = subprocess.run(converter(), input=wav, capture_output=True, check=True).stdout
        framed = time.perf_counter()
        prompt = to_prompt(ulaw)
        end = time.perf_counter()
        espeak.append(converted - start)
        sox.append(framed - converted)
        frames.append(end - framed)
        seconds.append(prompt.duration)
    return {
        "name": "load-time rendering (render_sync)",
        "params": {"texts": count, "spoken seconds (median)": round(statistics.median(seconds), 2)},
        "metrics": {
            "espeak-ng process p50": metric(round(statistics.median(espeak) * 1000, 1), "ms"),
            "sox process p50": metric(
                round(statistics.median(sox) * 1000, 1), "ms", "22 050 Hz WAV → 8 kHz µ-law"
            ),
            "frames in the engine p50": metric(
                round(statistics.median(frames) * 1e6, 1), "µs", "µ-law cut into frames, A-law by table"
            ),
            "pure-Python resampling instead (media/codecs.py)": metric(
                round(_python_resampling(wav) * 1000, 1), "ms", "what sox saves the engine, per text"
            ),
        },
    }


def _python_resampling(wav: bytes) -> float:
    """The engine's own resampler on espeak-ng's output (the road not taken), CPU seconds."""
    raw = bytearray(wav)
    at = raw.find(b"data")
    struct.pack_into("<I", raw, at + 4, len(raw) - at - 8)  # espeak-ng's pipe sizes are placeholders
    audio = parse_wav(bytes(raw), path=Path("bench"))
    start = time.process_time()
    prompt_from_wav(Path("bench"), audio)
    return time.process_time() - start


async def _lag_while(work: asyncio.Future[Any]) -> float:
    """Worst lateness of a 5 ms ticker while ``work`` runs."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    while not work.done():
        due = loop.time() + 0.005
        await asyncio.sleep(0.005)
        worst = max(worst, loop.time() - due)
    return worst


async def _call_time(count: int) -> dict[str, Any]:
    speech = Synthesizer(VOICE, cache_size=count + 1, timeout=30.0)
    start = time.perf_counter()
    first = await speech.render("Welcome, caller 12345.")
    cold = time.perf_counter() - start
    hits = 2000
    start = time.perf_counter()
    for _ in range(hits):
        await speech.render("Welcome, caller 12345.")
    hit = (time.perf_counter() - start) / hits
    idle = await _lag_while(asyncio.ensure_future(asyncio.sleep(1.0)))
    texts = _texts(count, "2")
    start = time.perf_counter()
    batch = asyncio.ensure_future(asyncio.gather(*(speech.render(t) for t in texts)))
    lag = await _lag_while(batch)
    prompts = await batch
    elapsed = time.perf_counter() - start
    per_second = sum(len(p.payloads("PCMU")) * 160 * 2 for p in prompts) / sum(p.duration for p in prompts)
    return {
        "name": "call-time rendering (Synthesizer)",
        "params": {"distinct texts at once": count, "renderings at once": MAX_RUNNING},
        "metrics": {
            "cold rendering": metric(round(cold * 1000, 1), "ms", f"{first.duration:.2f} s of speech"),
            "cache hit": metric(round(hit * 1e6, 2), "µs"),
            "throughput": metric(round(count / elapsed, 1), "renderings/s"),
            "event-loop lag max": metric(round(lag * 1000, 1), "ms", "5 ms ticker during the batch"),
            "event-loop lag max, idle": metric(round(idle * 1000, 1), "ms", "the same ticker, 1 s, no work"),
            "memory per spoken second": metric(round(per_second / 1024, 1), "KiB", "PCMU + PCMA frames"),
        },
    }


def _say_number() -> dict[str, Any]:
    values = [str(v) for v in (7, 42, 1234, 999_999_999, -5)]
    ops = 20_000
    start = time.process_time()
    for _ in range(ops // len(values)):
        for value in values:
            number_words(value)
    cost = (time.process_time() - start) / ops
    return {
        "name": "say-number resolution",
        "params": {"values": ", ".join(values)},
        "metrics": {"per value (CPU)": metric(round(cost * 1e6, 2), "µs")},
    }


def run(quick: bool) -> dict[str, Any]:
    count = 5 if quick else 30
    return {
        "title": "Speech out: say, say-digits, say-number",
        "summary": "espeak-ng renderings at load and during calls, the cache, say-number resolution",
        "sections": [_load_time(count), asyncio.run(_call_time(count)), _say_number()],
        "notes": ["Wall times on a shared 2-core machine: compare runs of the same machine only."],
    }


if __name__ == "__main__":
    import json

    json.dump(run("--quick" in sys.argv), sys.stdout, indent=2)
