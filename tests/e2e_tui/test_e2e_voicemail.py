"""Voicemail end to end over SIPp: a caller leaves a message (SIPp sends the caller's audio as RTP),
then the mailbox owner logs in with the PIN of the portal's user store, hears that there is one new
message, and the message itself comes back in the RTP the engine sends.

The dialplans are the bundled voicemail and leave-message files with every prompt a short 440 Hz
tone; what the caller "says" is a 1500 Hz tone, so the message is told apart from the prompts in
the engine's RTP by its frequency (Goertzel, per 20 ms frame).
"""

from __future__ import annotations

import asyncio
import math
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles

from tui_engine.config import bundled_dialplans
from tui_engine.media.codecs import ulaw_to_samples
from tui_engine.testing import free_port
from tui_engine.voicemail import VoicemailStore
from tui_engine.web.passwords import use_hasher
from tui_engine.web.store import open_store
from tui_engine.web.users import add_user, set_pin

from .conftest import ULAW_8K, StartEngine
from .helpers import assert_sipp_ok, call_ids, place_call, wait_no_calls

VOICE_HZ, PROMPT_HZ = 1500.0, 440.0


@pytest.fixture(scope="module")
def voicemail_dialplans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("sox") is None:
        pytest.skip("not installed: sox")
    source = bundled_dialplans()
    target = tmp_path_factory.mktemp("vm-dialplans")
    for name in ("main.yaml", "voicemail.yaml", "leave-message.yaml"):
        shutil.copy(source / name, target / name)
    for wav in sorted((source / "prompts").rglob("*.wav")):
        out = target / wav.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["sox", "-n", *ULAW_8K, str(out), "synth", "0.3", "sine", f"{PROMPT_HZ:g}"],
                       check=True, capture_output=True)
    return target


def caller_voice(where: Path, seconds: float) -> None:
    """Raw µ-law for SIPp's rtp_stream: the caller speaking (a loud 1500 Hz tone)."""
    where.mkdir(parents=True, exist_ok=True)
    tone = ["synth", f"{seconds}", "sine", f"{VOICE_HZ:g}", "vol", "0.5"]
    out = str(where / "caller.ulaw")
    subprocess.run(["sox", "-n", "-t", "raw", *ULAW_8K, out, *tone], check=True, capture_output=True)


def power(samples: list[int], hz: float) -> float:
    """Goertzel power of ``hz`` in one frame of 8 kHz samples."""
    coeff = 2 * math.cos(2 * math.pi * hz / 8000)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


class RtpSink(asyncio.DatagramProtocol):
    """The owner's phone: keeps every PCMU payload the engine sends."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        if len(data) > 12 and data[1] & 0x7F == 0:
            self.payloads.append(data[12:])


def voice_frames(payloads: list[bytes]) -> int:
    """Frames in which the caller's 1500 Hz clearly dominates the prompts' 440 Hz."""
    count = 0
    for payload in payloads:
        samples = ulaw_to_samples(payload)
        if power(samples, VOICE_HZ) > 20 * max(power(samples, PROMPT_HZ), 1.0):
            count += 1
    return count


async def test_a_caller_leaves_a_message_and_the_owner_hears_it(
    tui: StartEngine, tmp_path: Path, voicemail_dialplans: Path
) -> None:
    engine = await tui({"phone.tui.dialplans": str(voicemail_dialplans)})
    store = open_store("sqlite", engine.data_dir)
    # The cheapest argon2 parameters, stored in the PIN's hash, are what the engine verifies with:
    # with the default ones the check took 1.1 to 3.6 s on a loaded 2-core machine, and a digit
    # sent before it is done is typed ahead and skips "You have 1 new message".
    previous = use_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))
    try:
        await add_user(store, "7", "password-of-seven", via="portal")
        await set_pin(store, "7", "1234")
    finally:
        use_hasher(previous)
        await store.aclose()

    caller_voice(tmp_path / "uac_leave_message", 3.0)
    keys = {"box": "7"}
    result = await place_call(engine, tmp_path, "uac_leave_message", service="*98", keys=keys)
    assert_sipp_ok(result)
    (deposit,) = call_ids(engine)
    saved = await engine.wait_event("record.saved", call_id=deposit)
    assert saved["mailbox"] == "7" and 1.0 < saved["seconds"] < 5.0
    [message] = VoicemailStore(engine.data_dir / "voicemail").messages("7")
    assert message.new and "sipp" in message.caller

    loop = asyncio.get_running_loop()
    sink = RtpSink()
    port = free_port(socket.SOCK_DGRAM)
    transport, _ = await loop.create_datagram_endpoint(lambda: sink, local_addr=("127.0.0.1", port))
    try:
        keys = {"box": "7", "sink": str(port)}
        result = await place_call(engine, tmp_path, "uac_voicemail_listen", service="*97", keys=keys)
    finally:
        transport.close()
    assert_sipp_ok(result)
    listen = call_ids(engine)[1]
    await engine.wait_event("call.ended", call_id=listen)  # the call's last line: all are in
    opened = engine.find_events("voicemail.result", call_id=listen)[0]
    assert opened["values"]["new_messages"] == "1"
    heard = [e["prompts"] for e in engine.find_events("prompt.started", call_id=listen)]
    assert ["you-have.wav", "1.wav", "new-message.wav"] in heard  # "You have 1 new message."
    played = engine.find_events("voicemail.result", call_id=listen)[1]
    assert played["ok"] and played["values"]["new_messages"] == "0"
    assert voice_frames(sink.payloads) >= 40  # at least 0.8 s of the caller's voice came back
    assert not VoicemailStore(engine.data_dir / "voicemail").messages("7")[0].new
    await wait_no_calls(engine)
