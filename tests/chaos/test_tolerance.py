"""Tolerance parsing and checking: pure functions."""

from __future__ import annotations

import pytest

from fakalab.chaos.tolerance import Between, Exactly, Matches, parse_tolerance, within


def test_parse_forms() -> None:
    assert parse_tolerance(True) == Exactly(True)
    assert parse_tolerance(3) == Exactly(3)
    assert parse_tolerance("ok") == Exactly("ok")
    assert parse_tolerance([0, 5]) == Between(0, 5)
    assert parse_tolerance({"range": [1, 2.5]}) == Between(1, 2.5)
    assert parse_tolerance({"regex": "^up"}) == Matches("^up")
    assert parse_tolerance({"equals": 0}) == Exactly(0)


@pytest.mark.parametrize("raw", [[1], [3, 1], {"range": "x"}, {"regex": "("}, {"a": 1, "b": 2},
                                 None, {"range": [True, 2]}])
def test_parse_rejects(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_tolerance(raw)


def test_bool_is_strict() -> None:
    assert within(Exactly(True), True)
    assert not within(Exactly(True), 1)
    assert not within(Exactly(1), True)
    assert not within(Exactly(False), None)


def test_numbers() -> None:
    assert within(Exactly(0.3), 0.1 + 0.2)
    assert not within(Exactly(3), 3.5)
    assert not within(Exactly(3), "3")


def test_strings_and_regex() -> None:
    assert within(Exactly("ok"), "ok") and not within(Exactly("ok"), "OK")
    assert within(Matches(r"^2\d\d$"), 204)
    assert not within(Matches("x"), None)


def test_range_is_inclusive_and_numeric() -> None:
    assert within(Between(0, 5), 0) and within(Between(0, 5), 5.0)
    assert not within(Between(0, 5), 5.01)
    assert not within(Between(0, 5), "3") and not within(Between(0, 1), True)
