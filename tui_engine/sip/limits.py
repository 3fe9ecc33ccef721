"""Admission limits, replaceable at runtime: how many calls, and which source networks may call."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    """``max_calls`` beyond which INVITEs get 503 + Retry-After; ``trusted`` networks (others: 403)."""

    max_calls: int
    trusted: tuple[Network, ...]

    @classmethod
    def parse(cls, *, max_calls: int, trusted: Sequence[str]) -> Limits:
        """Settle the networks once (``ValueError`` on a bad one), so each datagram only compares."""
        if max_calls < 0:
            raise ValueError(f"max_calls must be >= 0, got {max_calls}")
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in trusted)
        return cls(max_calls=max_calls, trusted=nets)

    def trusts(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)


class TrustCache:
    """Per-source answers of :meth:`Limits.trusts`, so a datagram costs one dict lookup.

    Rebuilt whenever the limits change; bounded so a flood of spoofed sources cannot grow it.
    """

    __slots__ = ("_answers", "limits")

    MAX_ENTRIES = 4096

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._answers: dict[str, bool] = {}

    def trusts(self, host: str) -> bool:
        answer = self._answers.get(host)
        if answer is None:
            if len(self._answers) >= self.MAX_ENTRIES:
                self._answers.clear()
            answer = self._answers[host] = self.limits.trusts(host)
        return answer
