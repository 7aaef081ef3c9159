"""NPI format and check digit (domain §6 [confirmed]): 10 digits, first 1 or 2,
Luhn check digit as if prefixed by 80840."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimscrub.enrollment.npi import NpiProblem, is_valid_npi, npi_problem


def _luhn_plus_24(first_nine: str) -> int:
    """The domain's equivalent form: Luhn over the nine digits, plus 24 for the prefix."""
    total = 24
    for i, ch in enumerate(reversed(first_nine)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return (10 - total % 10) % 10


@pytest.mark.parametrize("npi", ["1234567893", "1558598797"])
def test_the_domain_examples_are_valid(npi: str) -> None:
    assert npi_problem(npi) is None
    assert is_valid_npi(npi)


@pytest.mark.parametrize("npi", ["1234567893", "1558598797"])
def test_any_other_last_digit_fails_the_check_digit(npi: str) -> None:
    for d in "0123456789":
        if d != npi[-1]:
            assert npi_problem(npi[:-1] + d) is NpiProblem.CHECK_DIGIT


@pytest.mark.parametrize(
    ("npi", "problem"),
    [
        (None, NpiProblem.MISSING),
        ("", NpiProblem.MISSING),
        ("   ", NpiProblem.MISSING),
        ("123456789", NpiProblem.FORMAT),
        ("12345678930", NpiProblem.FORMAT),
        ("12345678X3", NpiProblem.FORMAT),
        ("0234567893", NpiProblem.FORMAT),
        ("3234567893", NpiProblem.FORMAT),
        ("１２３４５６７８９３", NpiProblem.FORMAT),  # full-width digits are not ASCII digits
    ],
)
def test_format_problems(npi: str | None, problem: NpiProblem) -> None:
    assert npi_problem(npi) is problem


@given(st.sampled_from("12"), st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_exactly_one_check_digit_is_valid_and_matches_the_plus_24_form(
    first: str, rest: str
) -> None:
    body = first + rest
    valid = [d for d in "0123456789" if is_valid_npi(body + d)]
    assert valid == [str(_luhn_plus_24(body))]
