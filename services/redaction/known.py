"""The claim's own PHI values, found wherever they appear in its text.

A note about a patient mentions that patient's name, member ID or date of
birth far more often than anyone else's, and the claim tells us exactly what
they are, so these values are matched directly: any letter case, any
separators inside identifiers ("1EG4-TE5-MK73", "(516) 555-0143"), dates in
every common format. This is what gives recall 1.0 on the claim's own values.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from claimscrub.redaction.rules import name_rules
from claimscrub.redaction.spans import Span

# A known month/day without a year ("on 5/4") is left alone where it reads
# as a score: manual muscle test grades ("4/5") and pain ratings ("6/10").
_SCORE_BEFORE = re.compile(r"(?i)(?:pain|grade|graded|strength|mmt|rated|rating|score)\W{0,3}$")
_SCORE_AFTER = re.compile(r"(?i)^\s*(?:strength|mmt|pain|bilat|b/l)")

_MONTHS = [
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
]


def _date_variants(d: dt.date) -> tuple[list[str], list[str]]:
    """(formats with the year, formats without it) for one date."""
    m, day, y = d.month, d.day, d.year
    full, short = _MONTHS[m - 1], _MONTHS[m - 1][:3]
    sept = ["Sept"] if m == 9 else []
    yy = f"{y % 100:02d}"
    with_year = [
        d.isoformat(),
        f"{y}/{m:02d}/{day:02d}",
        f"{y}{m:02d}{day:02d}",
    ]
    for mm in {str(m), f"{m:02d}"}:
        for dd in {str(day), f"{day:02d}"}:
            for sep in "/-.":
                with_year += [f"{mm}{sep}{dd}{sep}{y}", f"{mm}{sep}{dd}{sep}{yy}"]
                with_year.append(f"{dd}{sep}{mm}{sep}{y}")
    for name in [full, short, *sept]:
        for dd in {str(day), f"{day:02d}", _ordinal(day)}:
            with_year += [f"{name} {dd}, {y}", f"{name} {dd} {y}", f"{name}. {dd}, {y}"]
            with_year += [f"{dd} {name} {y}", f"{dd} {name}, {y}", f"{dd} of {name}, {y}"]
            with_year += [f"{dd} of {name} {y}"]
            for sep in "-/ ":
                with_year += [f"{dd}{sep}{name}{sep}{y}", f"{dd}{sep}{name}{sep}{yy}"]
    without_year = []
    for name in [full, short, *sept]:
        for dd in {str(day), f"{day:02d}", _ordinal(day)}:
            without_year += [f"{name} {dd}", f"{name}. {dd}", f"{dd} {name}", f"{dd} of {name}"]
    for mm in {str(m), f"{m:02d}"}:
        for dd in {str(day), f"{day:02d}"}:
            without_year.append(f"{mm}/{dd}")
    return with_year, without_year


@functools.lru_cache(maxsize=16384)
def _date_regexes(d: dt.date) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """One date's finders (with the year, without it), compiled once per date.

    Dates of service, submission and plan dates recur across many claims, so a
    per-date cache saves building and compiling ~100 variants per date per
    claim; spans that two dates' finders both report are merged downstream.
    """
    full, short = _date_variants(d)
    edge_before, edge_after = r"(?<![\w/.-])", r"(?![\w/-]|\.\d)"
    with_year = re.compile(rf"{edge_before}(?:{_alt(map(re.escape, full))}){edge_after}", re.I)
    without = re.compile(rf"{edge_before}(?:{_alt(map(re.escape, short))}){edge_after}", re.I)
    return with_year, without


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _flexible_text(value: str) -> str:
    """Words of a value with any run of spaces, hyphens or dots between them."""
    words = [re.escape(w) for w in re.split(r"[\s.,-]+", value) if w]
    return r"[\s.,-]*".join(words)


def _flexible_id(value: str) -> str:
    """An identifier's letters and digits with optional separators between."""
    chars = [re.escape(c) for c in value if c.isalnum()]
    return r"[\s().-]{0,2}".join(chars)


@dataclass(frozen=True, slots=True)
class KnownPhi:
    """Known values by PHI type, and the regexes that find them."""

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()
    # Year-less dates: found unless they read as a score (see _SCORE_*).
    short_dates: tuple[re.Pattern[str], ...] = ()
    # The claim's own codes and provider NPIs: never PHI even when a value
    # collides with one (a patient ZIP 97530 and CPT 97530).
    protected: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.patterns and not self.short_dates

    def find(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for type_, regex in self.patterns:
            for m in regex.finditer(text):
                if m.group() not in self.protected:
                    spans.append(Span(m.start(), m.end(), type_, known=True))
        for short_dates in self.short_dates:
            for m in short_dates.finditer(text):
                if _SCORE_BEFORE.search(text[: m.start()]) or _SCORE_AFTER.match(text[m.end() :]):
                    continue
                spans.append(Span(m.start(), m.end(), "DATE", known=True))
        return spans


def _alt(parts: Iterable[str]) -> str:
    return "|".join(sorted(set(parts), key=lambda p: (-len(p), p)))


def _text(obj: Any, *path: str) -> str:
    for key in path:
        if not isinstance(obj, Mapping):
            return ""
        obj = obj.get(key)
    return obj.strip() if isinstance(obj, str) else ""


def _dates(claim: Mapping[str, Any]) -> list[dt.date]:
    raw = [
        _text(claim, "patient", "birthDate"),
        _text(claim, "submissionDate"),
        _text(claim, "therapy", "planOfCare", "certifiedDate"),
        _text(claim, "therapy", "planOfCare", "startDate"),
        _text(claim, "therapy", "planOfCare", "endDate"),
    ]
    lines = claim.get("serviceLines")
    if isinstance(lines, list):
        raw += [_text(line, "dateOfService") for line in lines]
    out: list[dt.date] = []
    for value in raw:
        try:
            out.append(dt.date.fromisoformat(value))
        except ValueError:
            continue
    return out


def known_phi(claim: Mapping[str, Any] | None) -> KnownPhi:
    """The PHI values of a claim in the contract's JSON shape (§1)."""
    if not isinstance(claim, Mapping):
        return KnownPhi()
    values: dict[str, list[str]] = {}

    def add(type_: str, value: str) -> None:
        if value:
            values.setdefault(type_, []).append(value)

    for key in ("firstName", "lastName"):
        add("NAME", _text(claim, "patient", key))
    add("MEMBER_ID", _text(claim, "patient", "memberId"))
    add("MRN", _text(claim, "patient", "mrn"))
    add("SSN", _text(claim, "patient", "ssn"))
    add("PHONE", _text(claim, "patient", "phone"))
    add("EMAIL", _text(claim, "patient", "email"))
    add("ADDRESS", _text(claim, "patient", "address", "line1"))
    add("CITY", _text(claim, "patient", "address", "city"))
    add("ZIP", _text(claim, "patient", "address", "zip"))
    add("ID", _text(claim, "claimId"))

    patterns: list[tuple[str, re.Pattern[str]]] = []
    stopwords = name_rules().short_name_stopwords
    names: list[str] = []
    short_names: list[str] = []
    for value in values.get("NAME", []):
        for part in re.split(r"[\s,]+", value):
            part = part.strip(".")
            if len(part) > 2 or (len(part) == 2 and part.lower() not in stopwords):
                names.append(_flexible_text(part))
            elif len(part) == 2:
                # "Do", "An", "Ed": only capitalised, or every "do" would go.
                short_names += [re.escape(part.capitalize()), re.escape(part.upper())]
    if names:
        patterns.append(("NAME", re.compile(rf"(?<![A-Za-z])(?:{_alt(names)})(?![A-Za-z])", re.I)))
    if short_names:
        patterns.append(("NAME", re.compile(rf"(?<![A-Za-z])(?:{_alt(short_names)})(?![A-Za-z])")))
    for type_ in ("MEMBER_ID", "MRN", "SSN", "PHONE", "ZIP", "ID"):
        ids = []
        for value in values.get(type_, []):
            chars = "".join(c for c in value if c.isalnum())
            if type_ == "PHONE" and len(chars) == 11 and chars.startswith("1"):
                chars = chars[1:]
            if len(chars) >= 4:
                ids.append(_flexible_id(chars))
        if ids:
            regex = rf"(?<![A-Za-z0-9])(?:{_alt(ids)})(?![A-Za-z0-9])"
            patterns.append((type_, re.compile(regex, re.I)))
    for type_ in ("EMAIL", "ADDRESS", "CITY"):
        texts = [_flexible_text(v) for v in values.get(type_, []) if len(v) > 2]
        if texts:
            regex = rf"(?<![A-Za-z0-9])(?:{_alt(texts)})(?![A-Za-z0-9])"
            patterns.append((type_, re.compile(regex, re.I)))
    short_dates: list[re.Pattern[str]] = []
    for d in sorted(set(_dates(claim))):
        with_year, without_year = _date_regexes(d)
        patterns.append(("DATE", with_year))
        short_dates.append(without_year)
    return KnownPhi(
        values={k: tuple(v) for k, v in values.items()},
        patterns=tuple(patterns),
        short_dates=tuple(short_dates),
        protected=_protected(claim),
    )


def _protected(claim: Mapping[str, Any]) -> frozenset[str]:
    out: set[str] = set()
    lines = claim.get("serviceLines")
    if isinstance(lines, list):
        out.update(_text(line, "procedureCode").upper() for line in lines)
    diagnoses = claim.get("diagnoses")
    if isinstance(diagnoses, list):
        out.update(d.strip().upper() for d in diagnoses if isinstance(d, str))
    for key in ("billingProvider", "renderingProvider", "referringProvider"):
        out.add(_text(claim, key, "npi"))
    out.discard("")
    return frozenset(out)
