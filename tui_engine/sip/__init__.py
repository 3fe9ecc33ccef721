"""SIP for tui-engine: aiosipua for the bytes, our own transactions and dialogs for the behaviour.

Why this split (measured; details in /work/shared/reference/sip-foundation.md): aiosipua 0.7.1
parses and serializes well (compact headers, many Vias, the RFC 4475 torture messages, rport),
so :mod:`.message` uses it for exactly that. Its transaction and dialog layer had ten reproduced
gaps, the ones that matter to a phone menu being:

1. no INVITE server transaction: a retransmitted INVITE while ringing started a second call;
2. our BYE was sent once, never retransmitted (Timer E/F): with 5 % loss, 31 of 600 calls never ended;
3. a retransmitted BYE from the caller got 481 instead of the same 200;
4. ``hangup()`` never removed the call and kept resending the 200 OK (7 000 dead calls, 619 ms stalls);
5. 487/4xx finals were sent once, not retransmitted until the ACK;
6. SIP INFO got 405 (no hook for DTMF relay);
7. Record-Route was not copied into the 200 OK and our BYE ignored the route set;
8. the SDP answer always used payload type 101 for telephone-event (media's concern, not ours);
9. and 10. concern aiortp (RTP), not this package.

So the behaviour here is our own, written sans-I/O after h11: :mod:`.transaction` (RFC 3261 §17,
RFC 6026), :mod:`.dialog` (§12), :mod:`.call`, :mod:`.uas`, :mod:`.in_dialog` and :mod:`.endpoint` (the UAS
core, §8.2, §13-§15),
with every timer an absolute deadline in one heap (:mod:`.scheduler`). Only :mod:`.transport`
touches sockets and :mod:`.server` is the thin asyncio driver with one timer per endpoint.
"""

from tui_engine.sip.call import CallHandler, CallState, EndReason, ServerCall
from tui_engine.sip.endpoint import Sender, SipEndpoint, SipStateError
from tui_engine.sip.limits import Limits
from tui_engine.sip.server import SipServer
from tui_engine.sip.syntax import SipParseError
from tui_engine.sip.timers import SipTimers

__all__ = [
    "CallHandler",
    "CallState",
    "EndReason",
    "Limits",
    "Sender",
    "ServerCall",
    "SipEndpoint",
    "SipParseError",
    "SipServer",
    "SipStateError",
    "SipTimers",
]
