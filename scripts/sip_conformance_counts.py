"""Print the SIP conformance figures of issue 10: RFC 4475 wrong answers over UDP and TCP (against
tests/sip/test_sip_rfc4475.py's table) and internal errors under tests/sip/test_sip_fuzz.py's fuzz.

    .venv/bin/python scripts/sip_conformance_counts.py            # this checkout
    git archive <commit> tui_engine | tar -x -C /tmp/old          # an older engine, same tests:
    PYTHONPATH=/tmp/old .venv/bin/python scripts/sip_conformance_counts.py
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "sip"))
logging.disable(logging.CRITICAL)

import structlog  # noqa: E402
import test_sip_fuzz as fuzz  # noqa: E402
import test_sip_rfc4475 as rfc4475  # noqa: E402
from structlog.testing import capture_logs  # noqa: E402

import tui_engine  # noqa: E402
from tui_engine.sip import CallHandler, SipServer  # noqa: E402
from tui_engine.testing import free_port  # noqa: E402


def server(handler: CallHandler) -> SipServer:
    return SipServer(handler, host="127.0.0.1", port=free_port(socket.SOCK_STREAM), max_calls=10000,
                     trusted=["127.0.0.0/8"])


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    print("engine:", Path(tui_engine.__file__).parent)
    for transport, run, column in (("UDP", rfc4475.run_udp, 0), ("TCP", rfc4475.run_tcp, 1)):
        sip = server(rfc4475.Declines())
        await sip.start()
        try:
            wrong = rfc4475.wrong(await run(sip.address), column)
        finally:
            await sip.stop()
        print(f"RFC 4475 over {transport}: {len(wrong)} of {len(rfc4475.EXPECTED)} wrong", sorted(wrong))
    structlog.reset_defaults()
    sip = server(fuzz.AnswersOnlyTheNormalCall())
    await sip.start()
    try:
        with capture_logs() as logs:
            problems = await fuzz.run_fuzz(sip)
    finally:
        await sip.stop()
    errors = [e for e in logs if e["log_level"] in ("error", "critical")]
    print(f"fuzz, {fuzz.UDP_COUNT} UDP + {fuzz.TCP_COUNT} TCP mutants (seed {fuzz.SEED}): "
          f"{len(errors)} internal errors, {len(problems)} loop exceptions")


asyncio.run(main())
