"""The dialplan's ``{name}`` templating: values, literal braces, errors."""

from __future__ import annotations

import pytest

from tui_engine.menus.template import TemplateError, placeholders, render


def test_placeholders_are_replaced_and_unset_ones_are_empty() -> None:
    assert render("Balance {balance} for {caller}{missing}.", {"balance": "12", "caller": "alice"}) == (
        "Balance 12 for alice."
    )


def test_doubled_braces_are_literal_and_not_placeholders() -> None:
    assert render("{{x}} {x}", {"x": "1"}) == "{x} 1"
    assert placeholders("{{x}} {y} {y} {z-1}") == ("y", "z-1")


@pytest.mark.parametrize("bad", ["{", "a}b", "{x.__class__}", "{1x}", "{ x }"])
def test_a_lone_brace_or_a_non_identifier_is_refused(bad: str) -> None:
    with pytest.raises(TemplateError):
        placeholders(bad)
    with pytest.raises(TemplateError):
        render(bad, {"x": "1"})
