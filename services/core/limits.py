"""Input limits (contract §1): what a claim may be before it is read at all.

Every reader of untrusted claim bytes (the services' codec, the redaction
service, the CLI) goes through :func:`load_json` and :func:`current`, so one
record can never take a process down: Python's ``json`` recurses once per
nesting level (``RecursionError`` long before the bytes run out), ``int()``
refuses digit strings over ``sys.get_int_max_str_digits()`` (``ValueError``),
and a claim of thousands of lines costs the rules memory in proportion.

The limits are settings (docs/configuration.md), read once from the
environment; a bad value stops a service at start-up (runtime.settings).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

#: Contract §1: dates are between this day and the processing date plus one year.
EARLIEST_DATE = dt.date(1900, 1, 1)


class LimitsError(ValueError):
    """A limit setting has an unusable value (the message names the variable)."""


class InputLimitExceeded(ValueError):
    """Bytes beyond a limit, or not JSON at all; the message is a kind, never content."""

    def __init__(self, reason: str, position: tuple[int, int] | None = None) -> None:
        super().__init__(reason)
        #: (line, column) of a JSON syntax error.
        self.position = position


@dataclass(frozen=True, slots=True)
class Limits:
    #: Nesting of objects and arrays; a contract claim nests 4 deep.
    max_depth: int = 32
    #: Digits of one JSON integer; int32 fields need 10.
    max_int_digits: int = 20
    #: Bytes of one JSON string as sent, escapes included (a note too).
    max_string_bytes: int = 65_536
    #: Bytes of one claim event; well under the topics' 1 MiB message size,
    #: since necessity forwards the claim and the DLQ keeps it.
    max_claim_bytes: int = 262_144
    #: Service lines of one claim: the 837P's own limit (loop 2400, 50 repeats).
    max_service_lines: int = 50

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        e = os.environ if env is None else env
        default = cls()

        def read(name: str, value: int) -> int:
            raw = e.get(name, "").strip()
            if not raw:
                return value
            if not raw.isdigit() or len(raw) > 12 or int(raw) < 1:
                raise LimitsError(f"{name} must be a positive integer")
            return int(raw)

        return cls(
            max_depth=read("CLAIMSCRUB_MAX_JSON_DEPTH", default.max_depth),
            max_int_digits=read("CLAIMSCRUB_MAX_INT_DIGITS", default.max_int_digits),
            max_string_bytes=read("CLAIMSCRUB_MAX_STRING_BYTES", default.max_string_bytes),
            max_claim_bytes=read("CLAIMSCRUB_MAX_CLAIM_BYTES", default.max_claim_bytes),
            max_service_lines=read("CLAIMSCRUB_MAX_SERVICE_LINES", default.max_service_lines),
        )


@functools.cache
def current() -> Limits:
    """The limits of this process (from the environment, read once)."""
    return Limits.from_env()


def latest_date(today: dt.date) -> dt.date:
    """The processing date plus one year (29 February gives 28 February)."""
    try:
        return today.replace(year=today.year + 1)
    except ValueError:
        return today.replace(year=today.year + 1, day=28)


def date_in_range(day: dt.date, today: dt.date) -> bool:
    return EARLIEST_DATE <= day <= latest_date(today)


# A JSON string token (escapes included); what is left between them is structure.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_OPEN = frozenset(b"[{")


def _check_structure(raw: bytes, limits: Limits) -> None:
    """Depth and string size from the bytes alone, before any parser recurses.

    Most claims are decided by two counts: bytes too few to hold a string over
    the limit, brackets too few to nest deeper than it.
    """
    if len(raw) > limits.max_string_bytes + 2:
        strings = _STRING.findall(raw)
        if strings and max(map(len, strings)) - 2 > limits.max_string_bytes:
            raise InputLimitExceeded("string too long")
    if raw.count(b"[") + raw.count(b"{") <= limits.max_depth:
        return
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", raw))
    if len(brackets) > limits.max_depth:
        depth = max(accumulate(1 if c in _OPEN else -1 for c in brackets))
        if depth > limits.max_depth:
            raise InputLimitExceeded("nested too deep")


class _TooManyDigits(Exception):
    pass


def load_json(raw: bytes | str, limits: Limits | None = None) -> Any:
    """``json.loads`` within the limits; :class:`InputLimitExceeded` for
    anything it cannot or must not read (its message is a kind, never content).
    """
    lim = limits or current()
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    _check_structure(data, lim)

    def parse_int(text: str) -> int:
        if len(text) - text.startswith("-") > lim.max_int_digits:
            raise _TooManyDigits
        return int(text)

    try:
        text = raw if isinstance(raw, str) else raw.decode("utf-8")
        return json.loads(text, parse_int=parse_int)
    except _TooManyDigits:
        raise InputLimitExceeded("integer too long") from None
    except UnicodeDecodeError:
        raise InputLimitExceeded("invalid JSON (UnicodeDecodeError)") from None
    except json.JSONDecodeError as exc:
        raise InputLimitExceeded(
            "invalid JSON (JSONDecodeError)", (exc.lineno, exc.colno)
        ) from None
    except (RecursionError, ValueError) as exc:  # the scan is the guard; this is the backstop
        raise InputLimitExceeded(f"invalid JSON ({type(exc).__name__})") from None
