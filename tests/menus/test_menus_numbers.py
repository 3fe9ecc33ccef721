"""say-digits / say-number: values → recorded word names, a table of cases (pure, no I/O)."""

from __future__ import annotations

import pytest

from tui_engine.menus.numbers import LARGEST, WORDS, NotANumber, digit_words, integer_words, number_words
from tui_engine.menus.speech import WORDS_DIR


def spoken(words: tuple[str, ...]) -> str:
    return " ".join(WORDS[w] for w in words)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("0", "zero"),
        ("7", "seven"),
        ("10", "ten"),
        ("13", "thirteen"),
        ("19", "nineteen"),
        ("20", "twenty"),
        ("21", "twenty one"),
        ("99", "ninety nine"),
        ("100", "one hundred"),
        ("105", "one hundred five"),
        ("110", "one hundred ten"),
        ("999", "nine hundred ninety nine"),
        ("1000", "one thousand"),
        ("1001", "one thousand one"),
        ("1010", "one thousand ten"),
        ("1234", "one thousand two hundred thirty four"),
        ("20000", "twenty thousand"),
        ("100000", "one hundred thousand"),
        ("1000000", "one million"),
        ("1000001", "one million one"),
        ("2000300", "two million three hundred"),
        ("999999999", "nine hundred ninety nine million "
                      "nine hundred ninety nine thousand nine hundred ninety nine"),
        ("1000000000", "one billion"),
        ("999999999999", "nine hundred ninety nine billion nine hundred ninety nine million "
                         "nine hundred ninety nine thousand nine hundred ninety nine"),
        ("-42", "minus forty two"),
        ("+42", "forty two"),
        ("-0", "zero"),
        (" 007 ", "seven"),
        ("1000000000000", "one zero zero zero zero zero zero zero zero zero zero zero zero"),
        ("-1000000000000", "minus one zero zero zero zero zero zero zero zero zero zero zero zero"),
    ],
)  # fmt: skip
def test_say_number(value: str, said: str) -> None:
    assert spoken(number_words(value)) == said


@pytest.mark.parametrize("value", ["", " ", "-", "4.5", "12a", "1 000", "١٢", "0x10", "--1"])
def test_say_number_refuses_what_is_not_an_integer(value: str) -> None:
    with pytest.raises(NotANumber):
        number_words(value)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("0", "zero"),
        ("1234", "one two three four"),
        ("007", "zero zero seven"),
        ("*#", "star pound"),
        ("+1 555-0100", "plus one five five five zero one zero zero"),
        ("", ""),
        ("abc", ""),
        ("١٢", ""),
    ],
)
def test_say_digits(value: str, said: str) -> None:
    assert spoken(digit_words(value)) == said


def test_every_integer_up_to_a_few_thousand_reads_back_to_itself() -> None:
    """The words, parsed back as English, give the number again (a property over a range)."""
    values = {WORDS[str(i)]: i for i in range(20)} | {WORDS[str(t)]: t for t in range(20, 100, 10)}
    scales = {"thousand": 10**3, "million": 10**6, "billion": 10**9}

    def parse(words: tuple[str, ...]) -> int:
        total = group = 0
        for word in (WORDS[w] for w in words):
            if word == "hundred":
                group *= 100
            elif word in scales:
                total, group = total + group * scales[word], 0
            else:
                group += values[word]
        return total + group

    for number in [*range(0, 3000), 10**6 + 7, 123_456_789, LARGEST]:
        assert parse(integer_words(number)) == number


def test_every_word_has_its_recording() -> None:
    for name in WORDS:
        assert (WORDS_DIR / "en" / f"{name}.wav").is_file(), name
