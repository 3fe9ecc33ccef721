"""Digit strings and integers → the names of recorded word prompts, without I/O.

``say-digits`` and ``say-number`` are played from short recorded words shipped with the engine
(``tui_engine/dialplans/prompts/common/digits/<language>/<word>.wav``), the way Asterisk's
``SayDigits``/``SayNumber`` play ``digits/1.gsm``: no text-to-speech at call time, and the
same voice for every number. This module only maps values to word names; the loader turns
the names into prompt files once per language.

English (``en``) follows US usage: "one hundred five", no "and"; integers up to
±999 999 999 999 are read as numbers, longer ones digit by digit (a caller hears every
digit rather than nothing).
"""

from __future__ import annotations

from types import MappingProxyType

#: The languages whose word prompts are shipped.
LANGUAGES = ("en",)

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")  # fmt: skip
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ((10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
_KEYS = {"*": "star", "#": "pound", "+": "plus"}

#: Word prompt name → what it says (the recorded text; ``simulate`` prints it).
WORDS: MappingProxyType[str, str] = MappingProxyType(
    {
        **{str(i): word for i, word in enumerate(_ONES + _TEENS)},
        **{str(20 + 10 * i): word for i, word in enumerate(_TENS)},
        "hundred": "hundred",
        **{name: name for _, name in _SCALES},
        "minus": "minus",
        **{name: name for name in _KEYS.values()},
    }
)

#: Largest magnitude read as a number; beyond it the digits are read one by one.
LARGEST = 10**12 - 1


class NotANumber(ValueError):
    """A ``say-number`` value that is not an integer (after trimming spaces)."""


def digit_words(value: str) -> tuple[str, ...]:
    """``say-digits``: one word per key (0-9, ``*`` star, ``#`` pound, ``+`` plus).

    Anything else (spaces, dashes, dots of a formatted number) is not read: ``"+1 555-0100"``
    gives plus one five five five zero one zero zero.
    """
    return tuple(ch if _is_digit(ch) else _KEYS[ch] for ch in value if _is_digit(ch) or ch in _KEYS)


def number_words(value: str) -> tuple[str, ...]:
    """``say-number``: the words of the integer in ``value`` (``"-42"``, ``" 007 "``, ``"1000000"``).

    Raises :class:`NotANumber` for anything else (``""``, ``"4.5"``, ``"12a"``).
    """
    text = value.strip()
    sign, digits = (text[0], text[1:]) if text[:1] in ("-", "+") else ("", text)
    if not digits or not all(_is_digit(ch) for ch in digits):
        raise NotANumber(f"{value!r} is not an integer")
    number = int(digits)
    minus = ("minus",) if sign == "-" and number else ()
    if number > LARGEST:
        return minus + digit_words(digits)
    return minus + integer_words(number)


def integer_words(number: int) -> tuple[str, ...]:
    """The words of ``0 <= number <= LARGEST``: 1 234 → one thousand two hundred thirty four."""
    if not 0 <= number <= LARGEST:
        raise ValueError(f"{number} is outside 0..{LARGEST}")
    if number == 0:
        return ("0",)
    words: list[str] = []
    for scale, name in _SCALES:
        group, number = divmod(number, scale)
        if group:
            words += [*_below_thousand(group), name]
    return (*words, *_below_thousand(number))


def _below_thousand(number: int) -> list[str]:
    """1..999 → words; 0 → no words."""
    hundreds, rest = divmod(number, 100)
    words = [str(hundreds), "hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(str(tens * 10))
        if ones:
            words.append(str(ones))
    elif rest:
        words.append(str(rest))
    return words


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"
