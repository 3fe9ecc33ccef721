"""The call's variables: built-in names, the clock's values, ``set`` and templated transfer URIs.

Built-ins (read-only: ``set`` may not write them, ``tui-engine check`` says so):

* ``caller``, ``dialled``, ``call_id``: from the INVITE (``tui/call.py: call_variables``);
* ``entry``: the digits of the last collect menu (a choice's key is not an entry: "press 1 to
  confirm {entry}" must still say the digits);
* ``time`` (``HH:MM``), ``hour`` (``00``-``23``), ``minute`` (``00``-``59``), ``weekday``
  (``mon`` ... ``sun``), ``date`` (``YYYY-MM-DD``): the wall clock in the dialplan's
  ``time-zone`` (default: the engine's ``time-zone`` option, else the host's zone), taken
  when a step runs or a menu is entered.

The runner stays sans-I/O: it never reads a clock. The driver passes ``epoch_offset``, the
seconds to add to its monotonic ``now`` to get Unix time (``time.time() - loop.time()`` at
the start of the call), so a test's fake clock gives the wall clock too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tui_engine.menus.switch import WEEKDAYS
from tui_engine.menus.template import render

CALL_BUILTINS = ("caller", "dialled", "call_id", "entry")
CLOCK_BUILTINS = ("time", "hour", "minute", "weekday", "date")
BUILTINS = frozenset((*CALL_BUILTINS, *CLOCK_BUILTINS))
MAX_VALUE = 1024  #: characters a ``set`` keeps: a looped ``{x}{x}`` must not double for ever
LOCAL_ZONE = "local"  #: the host's time zone (what Asterisk's GotoIfTime uses)

# RFC 3261 §25.1 SIP-URI, kept to the characters a Refer-To header can carry unquoted: no
# spaces, controls, quotes, angle brackets or commas, one "@" at most, and no "?headers"
# part (RFC 3515 §2.1: a Refer-To URI's headers go into the new INVITE, e.g. a Replaces that
# would take over another call). A value from the caller's From header can then neither
# smuggle a second URI or header into our REFER nor move the host it is put in front of.
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()%"
_SIP_URI = re.compile(
    rf"sips?:(?:[{_UNRESERVED}&=+$;/]+(?::[{_UNRESERVED}&=+$]*)?@)?"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
    rf"(?:;[{_UNRESERVED}=\[\]/:&+$]*)*",
)


class TimeZoneError(ValueError):
    """Not an IANA time zone name (nor ``local``)."""


def time_zone(name: str) -> tzinfo | None:
    """The zone for ``name``; ``None`` for ``local`` (the host's); raise :class:`TimeZoneError`."""
    if name == LOCAL_ZONE:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneError(
            f"unknown time zone {name!r} (an IANA name such as Europe/Berlin, or local)"
        ) from exc


def clock_values(epoch: float, zone: tzinfo | None) -> dict[str, str]:
    """The clock's built-in variables at Unix time ``epoch`` in ``zone`` (``None``: the host's).

    Every value is a function of the minute, so the last one of each zone is kept and a call
    starting in the same minute gets a copy (one ``fromtimestamp``/``astimezone`` per call was a
    tenth of a menu's start, ``bench/_cpu_counts.py calls``). A zone whose offset has seconds
    (local mean time, before 1972) is not kept: its minutes do not start on UTC minutes.
    """
    minute = int(epoch // 60)
    last = _last_minute.get(zone)
    if last is not None and last[0] == minute:
        return dict(last[1])
    moment = datetime.fromtimestamp(epoch, UTC).astimezone(zone)
    values = {
        "time": f"{moment.hour:02d}:{moment.minute:02d}",
        "hour": f"{moment.hour:02d}",
        "minute": f"{moment.minute:02d}",
        "weekday": WEEKDAYS[moment.weekday()],
        "date": moment.date().isoformat(),
    }
    offset = moment.utcoffset()
    if offset is not None and offset.seconds % 60 == 0 and offset.microseconds == 0:
        if len(_last_minute) >= 64:  # the dialplans' zones: a handful
            _last_minute.clear()
        _last_minute[zone] = (minute, values)
    return dict(values)


_last_minute: dict[tzinfo | None, tuple[int, dict[str, str]]] = {}


def without_clock(variables: Mapping[str, str]) -> dict[str, str]:
    """The call's variables without the clock's (what a webhook request reports)."""
    return {name: value for name, value in variables.items() if name not in CLOCK_BUILTINS}


def build_set(raw: dict[str, str | int] | None) -> tuple[tuple[str, str], ...]:
    """A checked ``set`` mapping as ordered (name, template) pairs; numbers become their text."""
    return tuple((name, str(value)) for name, value in (raw or {}).items())


def apply_set(assignments: tuple[tuple[str, str], ...], variables: MutableMapping[str, str]) -> None:
    """Run a step's ``set``: each value is a template rendered with the variables so far, in order,
    cut to :data:`MAX_VALUE` characters (a caller pressing a key that runs ``x: "{x}{x}"`` again
    and again must not double the call's memory each time)."""
    for name, template in assignments:
        variables[name] = render(template, variables)[:MAX_VALUE]


def sip_uri(text: str) -> bool:
    """Whether ``text`` is a ``sip:``/``sips:`` URI we may put into a Refer-To header."""
    return _SIP_URI.fullmatch(text) is not None
