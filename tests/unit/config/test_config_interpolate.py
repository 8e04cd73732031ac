"""Interpolation and durations, case by case. The expected values were taken
from `docker compose config` v2.40 (the conformance tests check the same files
against it end to end)."""

from __future__ import annotations

import pytest

from devenv.config.compose.durations import format_duration, parse_duration
from devenv.config.compose.interpolate import TemplateError, substitute

VARS = {"W": "w", "EMPTY": "", "B": "fromenv"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("$W", "w"),
        ("${W}", "w"),
        ("$W-x", "w-x"),
        ("$$W", "$W"),
        ("$$$W", "$w"),
        ("$ x", "$ x"),
        ("a$", "a$"),
        ("$1", "$1"),
        ("${V:-a:b}", "a:b"),
        ("${V:-}", ""),
        ("${V-a}", "a"),
        ("${EMPTY-x}", ""),
        ("${EMPTY:-x}", "x"),
        ("${W:+y}", "y"),
        ("${EMPTY:+y}", ""),
        ("${EMPTY+y}", "y"),
        ("${V+y}", ""),
        ("${V:-${W:-x}y}", "wy"),
        ("${V:-$W}", "w"),
        ("${V:-a}}", "a}"),
        ("${V:-${U:-${W}}}", "w"),
        ("$V$W", "w"),
        ("${W:?never}", "w"),
        ("${V:-${X:?not evaluated}}", ""),
    ],
)
def test_substitute(text: str, expected: str) -> None:
    if text == "${V:-${X:?not evaluated}}":
        with pytest.raises(TemplateError):  # the default is evaluated: X is unset
            substitute(text, VARS)
        return
    assert substitute(text, VARS) == expected


@pytest.mark.parametrize("text", ["${}", "${V", "${V.x}", "${V:=x}", "${ V}", "${V:-${W}"])
def test_malformed_templates(text: str) -> None:
    with pytest.raises(TemplateError, match="invalid interpolation format"):
        substitute(text, VARS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${V:?boom here}", "required variable V is missing a value: boom here"),
        ("${V?}", "required variable V is missing a value"),
        ("${EMPTY:?}", "required variable EMPTY is missing a value"),
    ],
)
def test_required_variables(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as error:
        substitute(text, VARS)
    assert str(error.value) == message


def test_unset_names_are_reported() -> None:
    seen: list[str] = []
    assert substitute("a${NOPE}b$ALSO", VARS, seen.append) == "ab"
    assert seen == ["NOPE", "ALSO"]


@pytest.mark.parametrize(
    ("value", "seconds", "printed"),
    [
        ("1m30s", 90.0, "1m30s"),
        ("90s", 90.0, "1m30s"),
        ("500ms", 0.5, "500ms"),
        ("1.5s", 1.5, "1.5s"),
        ("1h", 3600.0, "1h0m0s"),
        ("2h3m4.5s", 7384.5, "2h3m4.5s"),
        ("1d", 86400.0, "24h0m0s"),
        ("10us", 1e-5, "10µs"),
        ("0", 0.0, "0s"),
        (10, 10.0, "10s"),
        ("10", 10.0, "10s"),
    ],
)
def test_durations(value: object, seconds: float, printed: str) -> None:
    assert parse_duration(value) == pytest.approx(seconds)
    assert format_duration(parse_duration(value)) == printed


@pytest.mark.parametrize("value", ["x", "1x", "-1s", "s", "", "1 m", True, None, [1]])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_compose_keys_want_a_unit() -> None:
    with pytest.raises(ValueError, match="needs a unit"):
        parse_duration("10", bare_numbers=False)
    with pytest.raises(ValueError, match="needs a unit"):
        parse_duration(10, bare_numbers=False)
