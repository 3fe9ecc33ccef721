"""RFC 3261 timer values (§17.1.1.1, Table 4 of §A), settled once per endpoint.

Only T1, T2 and T4 are configurable; every other timer is derived from them exactly
as the RFC's table does, so tests can shrink all of them at once (e.g. ``T1=0.05``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class SipTimers:
    """Base timers in seconds; defaults are the RFC's (T1 500 ms, T2 4 s, T4 5 s)."""

    t1: float = 0.5  #: RTT estimate; first retransmission interval (§17.1.1.1)
    t2: float = 4.0  #: cap on the retransmission interval of non-INVITE requests and INVITE responses
    t4: float = 5.0  #: how long a message may stay in the network

    @property
    def transaction_timeout(self) -> float:
        """64*T1: Timers B, F, H, J and the 2xx-without-ACK give-up of §13.3.1.4."""
        return 64 * self.t1

    def next_interval(self, interval: float) -> float:
        """Timer E / G doubling, capped at T2 (§17.1.2.2, §17.2.1)."""
        return min(interval * 2, self.t2)
