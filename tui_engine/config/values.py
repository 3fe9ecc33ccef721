"""Parsers for the value types of the configuration: durations, minutes, addresses, ranges.

Hand-written because they are tiny and their error messages are part of the user interface:
each raises ``ValueError`` with a sentence that says what is allowed, which the loader puts
into the error report next to the file, line, option and value.
"""

from __future__ import annotations

import ipaddress
import math
import re

_UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|min|m|h|d)?\s*$", re.IGNORECASE)

DURATION_HELP = 'a duration such as "250ms", "90s", "10m", "1h", or a number of seconds'
MINUTES_HELP = 'whole minutes (e.g. 10), or a duration such as "90s", "10m", "1h"; 0 disables'


def _number(value: object) -> float | None:
    """``value`` as a float when it is a TOML number (``bool`` is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _finite_non_negative(seconds: float, text: object) -> float:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{text!r} is not a duration >= 0")
    return seconds


def parse_duration(value: object, *, bare_unit: float = 1.0, bare_text: bool = False) -> float:
    """``"90s"``, ``"10m"``, ``"1h"``, ``"250ms"`` (also ``min``, ``d``) or a plain number -> seconds.

    The one duration parser of the engine: the TOML configuration, dialplan YAML (whose schema
    allows a subset) and the portal's console and command line all use it. A number counts
    ``bare_unit`` seconds (60 for the Genesys ``inactivity-timeout``, where it means minutes);
    a string without a unit (``"10"``, from a form or a command line) is accepted only with
    ``bare_text`` (in a TOML file ``"10"`` is a mistake for ``10`` or ``"10s"``).
    """
    number = _number(value)
    if number is not None:
        return _finite_non_negative(number * bare_unit, value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        unit = m.group(2)
        if unit is not None:
            return float(m.group(1)) * _UNITS[unit.lower()]
        if bare_text:
            return float(m.group(1)) * bare_unit
    raise ValueError(f"not a duration: {value!r} (examples: 90s, 10m, 12h)")


def parse_minutes_or_duration(value: object) -> float:
    """The Genesys ``inactivity-timeout`` rule: an integer counts minutes, a string is a duration.

    Returns seconds. ``0`` (or ``"0s"``) means disabled.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("minutes must be >= 0")
        return float(value) * 60.0
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            pass
    raise ValueError("neither whole minutes nor a duration")


def split_host_port(value: str) -> tuple[str, int]:
    """``"127.0.0.1:5060"`` or ``"[::1]:5060"`` -> (host, port). The port may be 0 (any)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError('expected HOST:PORT, e.g. "127.0.0.1:5060" or "[::1]:5060"')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"{host!r} is not an IP address (or localhost)") from None
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} is above 65535")
    return host, port


def parse_port_range(value: object) -> tuple[int, int]:
    """``"20000-32767"`` -> (20000, 32767); RTP uses the even ports of it (RFC 3550 §11)."""
    if isinstance(value, str):
        first_text, sep, last_text = value.partition("-")
        if sep and first_text.strip().isdigit() and last_text.strip().isdigit():
            first, last = int(first_text), int(last_text)
            if 1024 <= first < last <= 65535:
                return first, last
    raise ValueError('expected "FIRST-LAST" with 1024 <= FIRST < LAST <= 65535, e.g. "20000-32767"')


def rtp_capacity(first: int, last: int) -> int:
    """How many calls the range ``first``-``last`` carries: one even port each (RFC 3550 §11)."""
    start = first + (first & 1)
    return 0 if start > last else (last - start) // 2 + 1
