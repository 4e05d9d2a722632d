"""Shared input checks (app.validation)."""

from __future__ import annotations

import pytest

from app.validation import full_name


@pytest.mark.parametrize(
    ("first", "last", "shown"),
    [
        ("Grace", "Hopper", "Grace Hopper"),
        ("Grace", "", "Grace"),  # an invitation without a last name: no trailing space
        ("Grace", None, "Grace"),
        ("Grace", "  ", "Grace"),
        ("", "Hopper", "Hopper"),
        (" Grace ", " Hopper ", "Grace Hopper"),
        ("", "", ""),
        (None, None, ""),
    ],
)
def test_full_name_has_one_space_between_and_none_around(first, last, shown):
    assert full_name(first, last) == shown
