"""National Provider Identifier checks: format and check digit.

An NPI is 10 digits, the first 1 or 2; the last is a Luhn check digit
computed as if the first nine were prefixed by 80840 (the ISO card issuer
prefix assigned to US health care). Source: CMS, "Requirements for NPI check
digit" (NPPES), as summarised in the project's domain reference §6 [confirmed].
"""

from __future__ import annotations

from enum import StrEnum

# ISO/IEC 7812 issuer prefix of the NPI (domain §6).
NPI_PREFIX = "80840"
NPI_LENGTH = 10
_FIRST_DIGITS = frozenset("12")
#: Byte of an ASCII digit -> that digit doubled, less 9 past 9 (Luhn); other bytes unused.
_DOUBLED = bytes((2 * (b - 48) - 9 * (b >= 53)) if 48 <= b <= 57 else 0 for b in range(256))


class NpiProblem(StrEnum):
    """Why an NPI fails; the value is the phrase used in edit messages."""

    MISSING = "is missing"
    FORMAT = "must be 10 digits starting with 1 or 2"
    CHECK_DIGIT = "fails the check digit (Luhn with prefix 80840)"


def luhn_check_digit(payload: str) -> int:
    """The Luhn digit that makes ``payload`` + digit valid (ISO/IEC 7812-1).

    Doubling starts with the rightmost payload digit, because the check digit
    will take the rightmost place.
    """
    if payload.isascii() and payload.isdigit():
        # Every NPI: the digit sums in C (bytes.translate doubles, sum adds).
        rev = payload[::-1].encode("ascii")
        odd = rev[1::2]
        total = sum(rev[0::2].translate(_DOUBLED)) + sum(odd) - 48 * len(odd)
        return (10 - total % 10) % 10
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def npi_problem(npi: str | None) -> NpiProblem | None:
    """``None`` when ``npi`` is a valid NPI, else what is wrong with it."""
    if npi is None or not npi.strip():
        return NpiProblem.MISSING
    if len(npi) != NPI_LENGTH or not npi.isascii() or not npi.isdigit():
        return NpiProblem.FORMAT
    if npi[0] not in _FIRST_DIGITS:
        return NpiProblem.FORMAT
    if luhn_check_digit(NPI_PREFIX + npi[:-1]) != int(npi[-1]):
        return NpiProblem.CHECK_DIGIT
    return None


def is_valid_npi(npi: str | None) -> bool:
    return npi_problem(npi) is None
