"""``switch``: pick a step by a variable's value, evaluated at once (no waiting, no new phase).

A switch names a ``variable``, an ordered mapping of cases and a ``default`` step; the
first case whose pattern matches the value wins (FreeSWITCH ``condition`` / Asterisk
``GotoIf`` read top to bottom). A case key is one of:

* an exact value: ``"1"``, ``"sales"``, ``"+4930123456"``;
* a number range ``"100-199"``: a value of digits only, compared as a number, ends included;
* a time range ``"09:00-17:00"``: a ``HH:MM`` value from the start (included) to the end
  (excluded); ``"22:00-06:00"`` runs over midnight, ``"24:00"`` may end a range;
* a weekday range ``"mon-fri"`` (``mon`` ... ``sun``; ``"sat-sun"``, ``"fri-mon"`` wraps);
* an Asterisk extension pattern ``"_X."``: ``X`` 0-9, ``Z`` 1-9, ``N`` 2-9, ``[1-5]`` a set,
  ``.`` one or more characters, ``!`` zero or more, anything else itself (``"_+49."``).

Written by hand: no maintained library speaks Asterisk extension patterns, and the rest are
a few comparisons whose shapes ``tui-engine check`` must be able to reason about
(:func:`shadowed_by`: a case that earlier cases already cover can never be taken).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tui_engine.menus.yamlnodes import JsonPath

if TYPE_CHECKING:
    from tui_engine.menus.model import Step

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60

_NUMBER_RANGE = re.compile(r"([0-9]+)-([0-9]+)")
_TIME = r"([0-9]{1,2}):([0-9]{2})"
_TIME_RANGE = re.compile(f"{_TIME}-{_TIME}")
_TIME_VALUE = re.compile(_TIME)
_DAY = "(" + "|".join(WEEKDAYS) + ")"
_DAY_RANGE = re.compile(f"{_DAY}-{_DAY}")
_PATTERN_PARTS = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}


class CaseError(ValueError):
    """A case key that reads as a range or pattern but is not a valid one."""


class CaseKind(enum.Enum):
    #: the value equals the key
    EXACT = "exact"
    #: digits, compared as a number, within ``low``-``high`` (both included)
    NUMBER_RANGE = "number range"
    #: ``HH:MM`` within [start, end) minutes of the day, wrapping over midnight
    TIME_RANGE = "time range"
    #: a weekday name within a range of days, wrapping over Sunday
    WEEKDAY_RANGE = "weekday range"
    #: an Asterisk extension pattern (``_`` prefix)
    PATTERN = "pattern"


@dataclass(frozen=True, kw_only=True, slots=True)
class Case:
    """One parsed case key: ``low``/``high`` are the ends of a range (numbers, minutes, days)."""

    key: str
    kind: CaseKind
    low: int = 0
    high: int = 0
    regex: re.Pattern[str] | None = None
    #: a time or weekday range: the minutes of the day / weekday indices it matches, set once
    members: frozenset[int] = frozenset()

    def matches(self, value: str) -> bool:
        match self.kind:
            case CaseKind.EXACT:
                return value == self.key
            case CaseKind.NUMBER_RANGE:
                return value.isascii() and value.isdigit() and self.low <= int(value) <= self.high
            case CaseKind.TIME_RANGE:
                return time_value(value) in self.members
            case CaseKind.WEEKDAY_RANGE:
                return value in WEEKDAYS and WEEKDAYS.index(value) in self.members
            case CaseKind.PATTERN:
                assert self.regex is not None
                return self.regex.fullmatch(value) is not None

    def minutes(self) -> frozenset[int]:
        """The minutes of the day a time range (or an exact ``HH:MM``) matches."""
        if self.kind is CaseKind.EXACT:
            minute = time_value(self.key)
            return frozenset(() if minute is None else (minute,))
        return self.members

    def days(self) -> frozenset[int]:
        """The weekday indices (0 = Monday) a weekday range or name matches."""
        if self.kind is CaseKind.EXACT:
            return frozenset((WEEKDAYS.index(self.key),) if self.key in WEEKDAYS else ())
        return self.members


@dataclass(frozen=True, kw_only=True, slots=True)
class Switch:
    """On ``variable``'s value: the first matching case's step, else ``default``."""

    variable: str
    cases: tuple[tuple[Case, Step], ...]
    default: Step

    def choose(self, value: str) -> tuple[str | None, Step]:
        """The case key taken (``None``: the default) and its step."""
        for case, step in self.cases:
            if case.matches(value):
                return case.key, step
        return None, self.default


def time_value(text: str) -> int | None:
    """Minutes since midnight of ``HH:MM`` (``24:00`` is 1440), or ``None`` if it is not one."""
    match = _TIME_VALUE.fullmatch(text)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        return None
    return hour * 60 + minute


def parse_case(key: str) -> Case:
    """Read a case key (see the module docstring); raise :class:`CaseError` for a broken one."""
    if key.startswith("_") and len(key) > 1:
        return Case(key=key, kind=CaseKind.PATTERN, regex=_pattern_regex(key))
    if (number := _NUMBER_RANGE.fullmatch(key)) is not None:
        low, high = int(number.group(1)), int(number.group(2))
        if low > high:
            raise CaseError(f"number range {key!r} runs backwards ({low} > {high})")
        return Case(key=key, kind=CaseKind.NUMBER_RANGE, low=low, high=high)
    if (times := _TIME_RANGE.fullmatch(key)) is not None:
        return _time_range(key, times)
    if (days := _DAY_RANGE.fullmatch(key)) is not None:
        low, high = WEEKDAYS.index(days.group(1)), WEEKDAYS.index(days.group(2))
        return Case(key=key, kind=CaseKind.WEEKDAY_RANGE, low=low, high=high, members=_span(low, high + 1, 7))
    return Case(key=key, kind=CaseKind.EXACT)


def _time_range(key: str, match: re.Match[str]) -> Case:
    start_text, end_text = key.split("-")
    start, end = time_value(start_text), time_value(end_text)
    if start is None or end is None:
        bad = start_text if start is None else end_text
        raise CaseError(f"time range {key!r}: {bad!r} is not a time of day (00:00 to 24:00)")
    if start == MINUTES_PER_DAY:
        raise CaseError(f"time range {key!r} starts at 24:00 (write 00:00)")
    if start == end:
        raise CaseError(f"time range {key!r} is empty (write 00:00-24:00 for the whole day)")
    members = _span(start, end, MINUTES_PER_DAY)
    return Case(key=key, kind=CaseKind.TIME_RANGE, low=start, high=end, members=members)


def _span(start: int, end: int, size: int) -> frozenset[int]:
    """``start`` up to (not including) ``end`` on a circle of ``size`` (wrapping past 0)."""
    if start < end:
        return frozenset(range(start, end))
    return frozenset((*range(start, size), *range(end % size)))


def _pattern_regex(key: str) -> re.Pattern[str]:
    parts: list[str] = []
    body = key[1:]
    i = 0
    while i < len(body):
        char = body[i]
        if char == "[":
            close = body.find("]", i + 1)
            if close <= i + 1:
                raise CaseError(f"pattern {key!r}: '[' without a closing ']' or with nothing inside")
            parts.append(_char_set(key, body[i + 1 : close]))
            i = close + 1
            continue
        parts.append(_PATTERN_PARTS.get(char.upper() if char in "xzn" else char, re.escape(char)))
        i += 1
    return re.compile("".join(parts))


def _char_set(key: str, inside: str) -> str:
    if not re.fullmatch(r"(?:[0-9*#A-Da-d](?:-[0-9])?)+", inside):
        raise CaseError(f"pattern {key!r}: [{inside}] is not a set of digits such as [1-5] or [247]")
    return "[" + inside.replace("*", r"\*") + "]"


def shadowed_by(case: Case, earlier: Sequence[Case]) -> str | None:
    """Why ``case`` can never be taken after ``earlier`` (first match wins), or ``None``."""
    if case.kind is CaseKind.EXACT:
        for other in earlier:
            if other.matches(case.key):
                return f"case {other.key!r} above already matches {case.key!r}"
        return None
    if case.kind is CaseKind.TIME_RANGE:
        return _covered(case, earlier, CaseKind.TIME_RANGE, lambda c: c.minutes(), "times")
    if case.kind is CaseKind.WEEKDAY_RANGE:
        return _covered(case, earlier, CaseKind.WEEKDAY_RANGE, lambda c: c.days(), "days")
    if case.kind is CaseKind.NUMBER_RANGE:
        return _numbers_covered(case, earlier)
    return None  # pattern against pattern: not decided (a duplicate key is caught by the YAML reader)


def _covered(
    case: Case, earlier: Sequence[Case], kind: CaseKind, members: Callable[[Case], frozenset[int]], what: str
) -> str | None:
    same = [c for c in earlier if c.kind is kind or c.kind is CaseKind.EXACT]
    mine = members(case)
    seen: set[int] = set()
    for other in same:
        seen |= members(other)
    if mine <= seen:
        keys = ", ".join(repr(c.key) for c in same if members(c) & mine)
        return f"its {what} are all taken by the cases above ({keys})"
    return None


def _numbers_covered(case: Case, earlier: Sequence[Case]) -> str | None:
    spans = sorted((c.low, c.high) for c in earlier if c.kind is CaseKind.NUMBER_RANGE)
    reach = case.low
    for low, high in spans:
        if low > reach:
            break
        reach = max(reach, high + 1)
    if reach > case.high:
        return "every number in it is taken by the ranges above"
    return None


def build_switch(
    raw: dict[str, Any], path: JsonPath, step: Callable[[dict[str, Any], JsonPath], Step]
) -> Switch:
    """The model of a checked ``switch`` mapping; ``step`` builds each case's step."""
    cases = raw.get("cases", {})
    return Switch(
        variable=raw["variable"],
        cases=tuple((parse_case(key), step(s, (*path, "cases", key))) for key, s in cases.items()),
        default=step(raw["default"], (*path, "default")),
    )
