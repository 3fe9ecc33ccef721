"""Work per unit, counted rather than timed: call set-ups, RTP packets received, frames sent.

On a 2-core machine shared with other sessions a CPU-time figure moves by tens of per cent from
one run to the next; an instruction count does not. So each workload runs the engine's real code
in this process (uvloop, loopback sockets) a fixed number of times, and the wrapper runs it under
``valgrind --tool=callgrind`` at two sizes: instructions per unit = (Ir(big) − Ir(small)) /
(big − small), which cancels the start-up (imports, dialplans, prompt conversion).

    .venv/bin/python -m bench._cpu_counts                 # every workload under callgrind
    .venv/bin/python -m bench._cpu_counts calls 200       # one workload, natively (no valgrind)
    .venv/bin/python -m bench._cpu_counts calls 200 --profile   # + cProfile of the measured part
    .venv/bin/python -m bench._cpu_counts calls 200 --strace    # + syscalls per unit (strace -c)

Workloads:

* ``calls N``: N calls through the whole engine (``wiring.build_engine``: SIP, media, menus, call
  records, metrics), one after the other, from a minimal caller in this process: INVITE (with a
  PCMU + telephone-event offer), wait for the 200, ACK, BYE, wait for its 200. The caller's own
  work is in the count too, the same before and after a change.
* ``refused N``: N INVITEs answered 503 by overload control (told to refuse every one), each
  ACKed: what shedding a call costs, to compare with ``calls``.
* ``rtp_in N``: N PCMU packets handed to one call's RTP endpoint (``datagram_received``: parse,
  latch, DTMF detection), RFC 4733 off the path: the common case of a talking caller.
* ``rtp_socket N``: N PCMU packets sent over loopback to 100 latched calls (one packet to each
  call per round, as talking callers send) and read the way the engine reads them (the media
  poller's tick when there is one, else the loop's watching of each socket): the read, the
  checks and the wake, user-space side (the caller's ``sendto`` is in the count too).
* ``frames N``: N 20 ms frames sent by the media clock over 100 calls playing a long prompt
  (``MediaClock`` tick → ``MediaSession.on_tick`` → RTP header → ``sendto`` on each call's socket).
* ``sip_text N``: one INVITE (the ``calls`` caller's) read, validated and answered with a 200
  N times, the engine's SIP text work alone (no sockets, no loop).
* ``stream_drip N``: a SIP message over a stream (TCP, TLS) fed to the framer one byte at a time,
  a 10 KiB header block (50 long Via headers) and a body of N bytes: the work per byte of a
  slow sender, which must not grow with the header block (``StreamFramer``).
* ``CPU_COUNTS_LOG_LEVEL=info`` with ``calls``/``refused``: the engine logs at ``info`` (the
  default level; the load benches use ``warning``), so each call's JSON lines are rendered.

Nothing here asserts anything: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import math
import os
import pstats
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

SIZES: dict[str, tuple[int, int]] = {
    "calls": (50, 250), "refused": (50, 250), "rtp_in": (2000, 22000), "frames": (2000, 22000),
    "rtp_socket": (2000, 22000),
    "sip_text": (200, 1200),
    "stream_drip": (4000, 24000),
}

_OFFER = (
    "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
)


def _request(method: str, call: int, cseq: int, *, engine: int, me: int, to_tag: str = "",
             body: str = "", branch_of: str = "") -> bytes:
    """``branch_of="INVITE"``: the INVITE's branch (an ACK of a non-2xx, RFC 3261 §17.1.1.3)."""
    extra = "Content-Type: application/sdp\r\n" if body else ""
    return (
        f"{method} sip:200@127.0.0.1:{engine} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-{call}-{cseq}-{branch_of or method};rport\r\n"
        f"From: <sip:caller@127.0.0.1:{me}>;tag=from{call}\r\n"
        f"To: <sip:200@127.0.0.1:{engine}>{to_tag}\r\n"
        f"Call-ID: cpu-count-{call}@127.0.0.1\r\nCSeq: {cseq} {method}\r\n"
        f"Contact: <sip:caller@127.0.0.1:{me}>\r\nMax-Forwards: 70\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


class _Caller(asyncio.DatagramProtocol):
    """The least a UAC needs: the responses, by (Call-ID, CSeq method, status)."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, str, int], asyncio.Future[bytes]] = {}

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head = data[: data.find(b"\r\n\r\n")].decode()
        status = int(head[8:11]) if head.startswith("SIP/2.0 ") else 0
        call_id = re.search(r"(?mi)^Call-ID:\s*(\S+)", head)
        cseq = re.search(r"(?mi)^CSeq:\s*\d+\s+(\w+)", head)
        if call_id and cseq:
            future = self.waiting.pop((call_id.group(1), cseq.group(1), status), None)
            if future is not None and not future.done():
                future.set_result(data)

    def expect(self, call: int, method: str, status: int) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting[(f"cpu-count-{call}@127.0.0.1", method, status)] = future
        return future


def _null_responder(udp: Any, status: int) -> Callable[[bytes, tuple[str, int], str], None]:
    """Answers INVITE and BYE with ``status`` / 200 by echoing their headers, ignores ACK: with
    ``CPU_COUNTS_NULL=1`` the counts are the caller's and the loop's alone (what the engine's
    own work is measured against)."""

    def respond(data: bytes, peer: tuple[str, int], transport: str) -> None:
        if data.startswith(b"ACK "):
            return
        lines = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        echoed = (b"via", b"from", b"call-id", b"cseq")
        keep = [ln for ln in lines[1:] if ln.split(b":", 1)[0].lower() in echoed]
        to = next(ln for ln in lines if ln.lower().startswith(b"to:"))
        code = status if data.startswith(b"INVITE ") else 200
        head = b"SIP/2.0 %d X\r\n" % code + b"\r\n".join([*keep, to + b";tag=null"])
        udp.sendto(head + b"\r\nContent-Length: 0\r\n\r\n", peer)

    return respond


def _write_dialplan(directory: Path) -> Path:
    """The bench dialplan's shape (bench._load) with prompts written by ``wave`` (no sox needed)."""
    from bench._load import _DIALPLAN, GOODBYE_PROMPT_S, MENU_PROMPT_S, OK_PROMPT_S

    prompts = directory / "prompts"
    prompts.mkdir(parents=True, exist_ok=True)
    for name, seconds in (("menu", MENU_PROMPT_S), ("goodbye", GOODBYE_PROMPT_S), ("ok", OK_PROMPT_S)):
        _tone(prompts / f"{name}.wav", seconds)
    (directory / "bench.yaml").write_text(_DIALPLAN, encoding="utf-8")
    return directory


def _tone(path: Path, seconds: float, freq: float = 440.0) -> None:
    frames = b"".join(
        int(8000 * math.sin(2 * math.pi * freq * i / 8000)).to_bytes(2, "little", signed=True)
        for i in range(int(8000 * seconds))
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(frames)


def _log_level() -> str:
    """``CPU_COUNTS_LOG_LEVEL`` (default ``warning``, as the load benches run): ``info`` counts
    the rendering of the engine's per-call JSON lines too (they go to this process's stdout)."""
    return os.environ.get("CPU_COUNTS_LOG_LEVEL", "warning")


async def calls(n: int, work: Path, measured: Callable[[Awaitable[None]], Awaitable[None]]) -> None:
    await _calls(n, work, measured, refuse=False)


async def refused(n: int, work: Path, measured: Callable[[Awaitable[None]], Awaitable[None]]) -> None:
    await _calls(n, work, measured, refuse=True)


@contextlib.asynccontextmanager
async def engine_and_caller(
    work: Path, *, max_calls: int = 32, ports: int = 64, options: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Any, asyncio.DatagramTransport, _Caller, int, int]]:
    """The whole engine (``wiring.build_engine``) on loopback with the bench dialplan, and the
    minimal caller: ``(engine, transport, caller, engine's SIP port, caller's port)``;
    ``options`` are added to (or replace) the engine's."""
    from tui_engine.app import load_and_check
    from tui_engine.testing import free_port, free_port_block
    from tui_engine.wiring import build_engine

    sip, http = free_port(socket.SOCK_DGRAM), free_port()
    first, last = free_port_block(ports)
    settings = {
        "engine.sip-listen": f"127.0.0.1:{sip}", "engine.http-listen": f"127.0.0.1:{http}",
        "engine.data-dir": str(work / "data"), "engine.rtp-ports": f"{first}-{last}",
        "engine.max-calls": max_calls, "logging.level": _log_level(),
        # under valgrind the loop runs ~50× slower: its lag must not shed the calls being counted
        "engine.overload-lag": "0s", "engine.max-calls-in-setup": 0,
        "phone.tui.dialplans": str(_write_dialplan(work / "dialplans")),
        "phone.tui.default-dialplan": "bench",
        **(options or {}),
    }
    config, _ = load_and_check(None, [f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
                                      for k, v in settings.items()])
    from tui_engine.obs.logging import configure_logging

    configure_logging(_log_level())
    engine = build_engine(config, watch=False)
    await engine.start()
    loop = asyncio.get_running_loop()
    transport, caller = await loop.create_datagram_endpoint(_Caller, local_addr=("127.0.0.1", 0))
    me = transport.get_extra_info("sockname")[1]
    try:
        yield engine, transport, caller, sip, me
    finally:
        transport.close()
        await engine.stop()


async def _calls(
    n: int, work: Path, measured: Callable[[Awaitable[None]], Awaitable[None]], *, refuse: bool
) -> None:
    async with engine_and_caller(work) as (engine, transport, caller, sip, me):
        await _run_calls(n, measured, engine, transport, caller, sip, me, refuse=refuse)


async def _run_calls(
    n: int, measured: Callable[[Awaitable[None]], Awaitable[None]], engine: Any,
    transport: asyncio.DatagramTransport, caller: _Caller, sip: int, me: int, *, refuse: bool
) -> None:
    offer = _OFFER.format(port=me + 2)
    if os.environ.get("CPU_COUNTS_NULL"):  # the caller's own share: a responder that only echoes
        tui = next(c for c in engine.components if type(c).__name__ == "TuiComponent")
        udp = tui._sip._transports.udp  # type: ignore[attr-defined]
        udp.get_protocol()._on_message = _null_responder(udp, 503 if refuse else 200)
    if refuse:  # overload control says no to every INVITE, as under overload (503 + Retry-After)
        tui = next(c for c in engine.components if type(c).__name__ == "TuiComponent")
        endpoint = tui._sip.endpoint  # type: ignore[attr-defined]
        endpoint.admission = endpoint.shedding = lambda now: "loop-lag"

    async def run_refused() -> None:
        for i in range(n):
            no = caller.expect(i, "INVITE", 503)
            transport.sendto(_request("INVITE", i, 1, engine=sip, me=me, body=offer), ("127.0.0.1", sip))
            answer = (await asyncio.wait_for(no, 30)).decode()
            tag = re.search(r"(?mi)^To:.*(;tag=[^;\s]+)", answer)
            transport.sendto(_request("ACK", i, 1, engine=sip, me=me, to_tag=tag.group(1) if tag else "",
                                      branch_of="INVITE"), ("127.0.0.1", sip))

    async def run() -> None:
        if refuse:
            await run_refused()
            return
        for i in range(n):
            ok = caller.expect(i, "INVITE", 200)
            transport.sendto(_request("INVITE", i, 1, engine=sip, me=me, body=offer), ("127.0.0.1", sip))
            answer = (await asyncio.wait_for(ok, 30)).decode()
            tag = re.search(r"(?mi)^To:.*(;tag=[^;\s]+)", answer)
            to_tag = tag.group(1) if tag else ""
            bye_ok = caller.expect(i, "BYE", 200)
            transport.sendto(_request("ACK", i, 1, engine=sip, me=me, to_tag=to_tag), ("127.0.0.1", sip))
            transport.sendto(_request("BYE", i, 2, engine=sip, me=me, to_tag=to_tag), ("127.0.0.1", sip))
            await asyncio.wait_for(bye_ok, 30)

    await measured(run())


def _media_engine(work: Path) -> Any:
    from tui_engine.media.engine import MediaEngine
    from tui_engine.obs.logging import configure_logging

    configure_logging("warning")
    from tui_engine.testing import free_port_block

    first, last = free_port_block(220)  # 100 calls of ``frames``, 2 ports each
    return MediaEngine(host="127.0.0.1", port_range=(first, last))


async def rtp_in(n: int, work: Path, measured: Callable[[Awaitable[None]], Awaitable[None]]) -> None:
    import struct

    media = _media_engine(work)
    session = await media.open_session(_OFFER.format(port=40000), call_id="rtp-in")
    endpoint = session._endpoint
    packets = [struct.pack("!BBHII", 0x80, 0, i & 0xFFFF, 160 * i, 0x1234) + b"\xff" * 160 for i in range(64)]
    source = ("127.0.0.1", 40000)

    async def run() -> None:
        receive = endpoint.datagram_received
        for i in range(n):
            receive(packets[i & 63], source)

    await measured(run())
    await media.close()


async def rtp_socket(n: int, work: Path, measured: Callable[[Awaitable[None]], Awaitable[None]]) -> None:
    import struct

    streams = 100
    media = _media_engine(work)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 0))
    caller.setblocking(False)
    offer = _OFFER.format(port=caller.getsockname()[1])
    sessions = [await media.open_session(offer, call_id=f"r{i}") for i in range(streams)]
    targets = [("127.0.0.1", s.port) for s in sessions]
    packets = [struct.pack("!BBHII", 0x80, 0, i, 160 * i, 0x1234) + b"\xff" * 160 for i in range(64)]
    poller = getattr(media, "poller", None)

    async def deliver(data: bytes, expected: int, *, by_loop: bool = False) -> None:
        for target in targets:
            caller.sendto(data, target)
        if poller is not None and not by_loop:  # the poller's tick, at once instead of after its period
            while sessions[-1].packets_received < expected:
                if poller._handle is not None:
                    poller._handle.cancel()  # as if it had just fired
                poller._tick()
            return
        while sessions[-1].packets_received < expected:  # noqa: ASYNC110 (a socket gives no event)
            await asyncio.sleep(0)  # the loop reads each socket

    await deliver(packets[0], 1, by_loop=True)  # latched: what follows is the steady state

    async def run() -> None:
        for i in range(n // streams):
            await deliver(packets[i & 63], i + 2)

    await measured(run())
    caller.close()
    await media.close()


async def frames(n: int, work: Path, measured: Callable[[Awaitable[None]], Awaitable[None]]) -> None:
    """Sessions send to a local sink socket that nobody reads (the kernel drops what overflows)."""
    streams = 100
    media = _media_engine(work)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink_port = sink.getsockname()[1]
    _tone(work / "long.wav", 120.0)
    prompt = media.prompts.load(work / "long.wav")
    sessions = [
        await media.open_session(_OFFER.format(port=sink_port), call_id=f"f{i}") for i in range(streams)
    ]
    loop = asyncio.get_running_loop()
    for s in sessions:
        s.play([prompt], lambda completed: None, since=loop.time() - 1.0)
    clock = media.clock

    async def run() -> None:
        # Each tick as the loop would run it, called directly (no waiting for 20 ms to pass): the
        # pending handle is cancelled first, as if it had just fired.
        ticks = n // streams
        done = 0
        while done < ticks:
            for phase in list(clock._phases.values()):
                if phase.handle is not None:
                    phase.handle.cancel()
                clock._tick(phase)
            done += 1

    await measured(run())
    sink.close()
    await media.close()


async def sip_text(n: int, work: Path, measured: Callable[[Awaitable[None]], Awaitable[None]]) -> None:
    """The SIP text of one INVITE, N times: read (``parse_datagram``), checked
    (``validate_request``) and answered (``build_response``: the 200 with SDP and dialog headers)."""
    from tui_engine.sip.message import build_response, capability_headers, parse_datagram, validate_request

    data = _request("INVITE", 1, 1, engine=5060, me=5062, body=_OFFER.format(port=5064))
    headers = [*capability_headers("<sip:127.0.0.1:5060>"), ("Session-Expires", "1800;refresher=uas")]

    async def run() -> None:
        for _ in range(n):
            inc = validate_request(data, parse_datagram(data), ("127.0.0.1", 5062), "UDP")
            build_response(inc.msg, 200, to_tag="a1b2c3d4", headers=headers, body=b"v=0\r\n",
                           content_type="application/sdp")

    await measured(run())


async def stream_drip(n: int, work: Path, measured: Callable[[Awaitable[None]], Awaitable[None]]) -> None:
    from tui_engine.sip.transport import StreamFramer

    hops = "".join(f"Via: SIP/2.0/TCP 10.0.0.{i}:5060;branch=z9hG4bK-{i:0160d}\r\n" for i in range(50))
    message = (
        "MESSAGE sip:ivr@127.0.0.1 SIP/2.0\r\n" + hops + "From: <sip:a@127.0.0.1>;tag=1\r\n"
        "To: <sip:ivr@127.0.0.1>\r\nCall-ID: drip\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {n}\r\n\r\n"
    ).encode() + b"x" * n
    chunks = [message[i : i + 1] for i in range(len(message))]

    async def run() -> None:
        framer = StreamFramer()
        got = [m for chunk in chunks for m in framer.feed(chunk)]
        assert got == [message]

    await measured(run())


WORKLOADS = {"calls": calls, "refused": refused, "rtp_in": rtp_in, "rtp_socket": rtp_socket, "frames": frames,
             "sip_text": sip_text, "stream_drip": stream_drip}


def run_native(name: str, n: int, *, profile: bool) -> None:
    import uvloop

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="cpu-counts-") as tmp:
            async def measured(work: Awaitable[None]) -> None:
                if not profile:
                    await work
                    return
                prof = cProfile.Profile()
                prof.enable()
                await work
                prof.disable()
                stats = pstats.Stats(prof)
                stats.sort_stats("tottime").print_stats(40)
                stats.sort_stats("cumulative").print_stats(60)

            await WORKLOADS[name](n, Path(tmp), measured)

    uvloop.run(main())


def callgrind_ir(name: str, n: int) -> int:
    """Total instructions of one run under callgrind (``Collected : N`` on its stderr)."""
    with tempfile.TemporaryDirectory(prefix="cpu-counts-cg-") as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
             sys.executable, "-m", "bench._cpu_counts", name, str(n)],
            capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
        )
    found = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no 'Collected' line from callgrind:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def strace_counts(name: str, n: int) -> dict[str, int]:
    """Syscalls of one run (``strace -f -c``), by name."""
    with tempfile.TemporaryDirectory(prefix="cpu-counts-st-") as tmp:
        subprocess.run(
            ["strace", "-f", "-c", "-o", f"{tmp}/st.txt", sys.executable, "-m", "bench._cpu_counts",
             name, str(n)],
            capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
        )
        counts: dict[str, int] = {}
        for line in Path(f"{tmp}/st.txt").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                counts[parts[-1]] = int(parts[3])
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._cpu_counts", description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", choices=sorted(WORKLOADS))
    parser.add_argument("n", nargs="?", type=int)
    parser.add_argument("--profile", action="store_true", help="cProfile the measured part")
    parser.add_argument("--strace", action="store_true", help="syscalls per unit (strace -c, two sizes)")
    args = parser.parse_args(argv)
    if args.workload and args.n is not None and not args.strace:
        run_native(args.workload, args.n, profile=args.profile)
        return 0
    names = [args.workload] if args.workload else sorted(WORKLOADS)
    for name in names:
        small, big = SIZES[name]
        if args.strace:
            a, b = strace_counts(name, small), strace_counts(name, big)
            per = {k: (b.get(k, 0) - a.get(k, 0)) / (big - small) for k in sorted(set(a) | set(b))}
            shown = {k: round(v, 2) for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if abs(v) >= 0.01}
            print(json.dumps({"workload": name, "syscalls_per_unit": shown}))
            continue
        if shutil.which("valgrind") is None:
            print("valgrind is not installed (apt-get install -y valgrind)", file=sys.stderr)
            return 2
        ir_small, ir_big = callgrind_ir(name, small), callgrind_ir(name, big)
        print(json.dumps({"workload": name, "sizes": [small, big], "ir": [ir_small, ir_big],
                          "instructions_per_unit": round((ir_big - ir_small) / (big - small))}), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # the same dict/set layouts from run to run
    sys.exit(main())
