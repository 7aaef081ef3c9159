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
    chars = [c for c in value if c.isalnum()]  # re.escape leaves letters and digits as they are
    return r"[\s().-]{0,2}".join(chars)


_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def skeleton(text: str) -> str | None:
    """An ASCII text in lower case with everything but letters and digits
    removed; None for other text (see :class:`Matcher`)."""
    return _NOT_ALNUM.sub("", text.lower()) if text.isascii() else None


# How a matcher's values become its regex: the words of a name or a text with
# any separators between them, an identifier's characters with optional ones.
_NAME, _SHORT_NAME, _IDENTIFIER, _TEXT = "name", "short name", "identifier", "text"


@functools.lru_cache(maxsize=4096)
def _compiled(form: str, values: tuple[str, ...]) -> re.Pattern[str]:
    # Most claims' values never appear in their text, so a finder is written
    # and compiled only for a text that may hold one of them, and kept for
    # the claims of the same patient.
    if form == _NAME:
        return re.compile(
            rf"(?<![A-Za-z])(?:{_alt(map(_flexible_text, values))})(?![A-Za-z])", re.I
        )
    if form == _SHORT_NAME:
        # "Do", "An", "Ed": only capitalised, or every "do" would go.
        cased = [re.escape(f(v)) for v in values for f in (str.capitalize, str.upper)]
        return re.compile(rf"(?<![A-Za-z])(?:{_alt(cased)})(?![A-Za-z])")
    flexible = _flexible_id if form == _IDENTIFIER else _flexible_text
    return re.compile(rf"(?<![A-Za-z0-9])(?:{_alt(map(flexible, values))})(?![A-Za-z0-9])", re.I)


@dataclass(frozen=True, slots=True)
class Matcher:
    """One PHI type's finder of a claim's values, compiled when first needed.

    A match is a value's characters, each equal to the value's but for ASCII
    case, with only separators between: so where the text and the values are
    ASCII, a text whose skeleton holds none of the values' skeletons
    (``needles``) cannot match and is not searched. ``needles`` is None where
    a value is not ASCII (case folding beyond ASCII): always searched.
    """

    type: str
    form: str
    values: tuple[str, ...]
    needles: tuple[str, ...] | None

    def may_match(self, text_skeleton: str | None) -> bool:
        """False only where ``text_skeleton`` (``skeleton(text)``) shows the
        text cannot hold a match."""
        if text_skeleton is None or self.needles is None:
            return True
        return any(needle in text_skeleton for needle in self.needles)

    @property
    def regex(self) -> re.Pattern[str]:
        return _compiled(self.form, self.values)


@dataclass(frozen=True, slots=True)
class DateMatcher:
    """One date's finders, each with digits all its variants hold (the
    year's last two, the day): a text without them is not searched.

    A variant without the year also holds the month's first three letters
    ("May 4", "4th of Sept") or a slash before the day ("5/4", "05/04"):
    an ASCII text with neither (lower-cased, as the finder ignores case) is
    not searched for it either. Notes are full of small numbers, so the day
    alone rarely spares a search.
    """

    with_year: re.Pattern[str]
    year_needle: str
    without_year: re.Pattern[str]
    day_needle: str
    month_needle: str = ""
    slash_needles: tuple[str, ...] = ("",)


@dataclass(frozen=True, slots=True)
class KnownPhi:
    """Known values by PHI type, and the finders that find them."""

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    matchers: tuple[Matcher, ...] = ()
    dates: tuple[DateMatcher, ...] = ()
    # The claim's own codes and provider NPIs: never PHI even when a value
    # collides with one (a patient ZIP 97530 and CPT 97530).
    protected: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.matchers and not self.dates

    def find(self, text: str) -> list[Span]:
        spans: list[Span] = []
        text_skeleton = skeleton(text) if self.matchers else None
        for matcher in self.matchers:
            if not matcher.may_match(text_skeleton):
                continue
            for m in matcher.regex.finditer(text):
                if m.group() not in self.protected:
                    spans.append(Span(m.start(), m.end(), matcher.type, known=True))
        for date in self.dates:
            if date.year_needle in text:
                spans.extend(
                    Span(m.start(), m.end(), "DATE", known=True)
                    for m in date.with_year.finditer(text)
                    if m.group() not in self.protected
                )
        # Year-less dates: found unless they read as a score (see _SCORE_*).
        lowered: str | None = None
        for date in self.dates:
            if date.day_needle not in text:
                continue
            if not any(needle in text for needle in date.slash_needles) and text.isascii():
                if lowered is None:
                    lowered = text.lower()
                if date.month_needle not in lowered:
                    continue
            for m in date.without_year.finditer(text):
                if _SCORE_BEFORE.search(text[: m.start()]) or _SCORE_AFTER.match(text[m.end() :]):
                    continue
                spans.append(Span(m.start(), m.end(), "DATE", known=True))
        return spans


def _alt(parts: Iterable[str]) -> str:
    return "|".join(sorted(set(parts), key=lambda p: (-len(p), p)))


def text_at(obj: Any, *path: str) -> str:
    """The string at ``path`` in a claim's JSON, stripped; "" where there is none."""
    for key in path:
        # dict first: the Mapping check is an ABC's, several times slower.
        if type(obj) is not dict and not isinstance(obj, Mapping):
            return ""
        obj = obj.get(key)
    return obj.strip() if isinstance(obj, str) else ""


def _dates(claim: Mapping[str, Any]) -> list[dt.date]:
    raw = [
        text_at(claim, "patient", "birthDate"),
        text_at(claim, "submissionDate"),
        text_at(claim, "therapy", "planOfCare", "certifiedDate"),
        text_at(claim, "therapy", "planOfCare", "startDate"),
        text_at(claim, "therapy", "planOfCare", "endDate"),
        text_at(claim, "priorAuthorization", "startDate"),
        text_at(claim, "priorAuthorization", "endDate"),
    ]
    lines = claim.get("serviceLines")
    if isinstance(lines, list):
        raw += [text_at(line, "dateOfService") for line in lines]
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
        add("NAME", text_at(claim, "patient", key))
    add("MEMBER_ID", text_at(claim, "patient", "memberId"))
    add("MRN", text_at(claim, "patient", "mrn"))
    add("SSN", text_at(claim, "patient", "ssn"))
    add("PHONE", text_at(claim, "patient", "phone"))
    add("EMAIL", text_at(claim, "patient", "email"))
    add("ADDRESS", text_at(claim, "patient", "address", "line1"))
    add("CITY", text_at(claim, "patient", "address", "city"))
    add("ZIP", text_at(claim, "patient", "address", "zip"))
    add("ID", text_at(claim, "claimId"))
    add("ID", text_at(claim, "priorAuthorization", "number"))

    matchers: list[Matcher] = []

    def add_matcher(type_: str, form: str, values: list[str]) -> None:
        skeletons = [skeleton(v) for v in values]
        needles = None if None in skeletons else tuple(n for n in skeletons if n is not None)
        matchers.append(Matcher(type_, form, tuple(values), needles))

    stopwords = name_rules().short_name_stopwords
    name_parts: list[str] = []
    short_parts: list[str] = []
    for value in values.get("NAME", []):
        for part in re.split(r"[\s,]+", value):
            part = part.strip(".")
            if len(part) > 2 or (len(part) == 2 and part.lower() not in stopwords):
                name_parts.append(part)
            elif len(part) == 2:
                short_parts.append(part)
    if name_parts:
        add_matcher("NAME", _NAME, name_parts)
    if short_parts:
        add_matcher("NAME", _SHORT_NAME, short_parts)
    for type_ in ("MEMBER_ID", "MRN", "SSN", "PHONE", "ZIP", "ID"):
        id_chars = []
        for value in values.get(type_, []):
            chars = "".join(c for c in value if c.isalnum())
            if type_ == "PHONE" and len(chars) == 11 and chars.startswith("1"):
                chars = chars[1:]
            if len(chars) >= 4:
                id_chars.append(chars)
        if id_chars:
            add_matcher(type_, _IDENTIFIER, id_chars)
    for type_ in ("EMAIL", "ADDRESS", "CITY"):
        kept = [v for v in values.get(type_, []) if len(v) > 2]
        if kept:
            add_matcher(type_, _TEXT, kept)
    return KnownPhi(
        values={k: tuple(v) for k, v in values.items()},
        matchers=tuple(matchers),
        dates=tuple(_date_matcher(d) for d in sorted(set(_dates(claim)))),
        protected=_protected(claim),
    )


@functools.lru_cache(maxsize=16384)
def _date_matcher(d: dt.date) -> DateMatcher:
    with_year, without_year = _date_regexes(d)
    # Every variant with the year holds its last two digits (or the year
    # itself, below 10), every one without it the day.
    return DateMatcher(
        with_year,
        str(d.year)[-2:],
        without_year,
        str(d.day),
        _MONTHS[d.month - 1][:3].lower(),
        tuple(sorted({f"/{d.day}", f"/{d.day:02d}"})),
    )


def _protected(claim: Mapping[str, Any]) -> frozenset[str]:
    out: set[str] = set()
    lines = claim.get("serviceLines")
    if isinstance(lines, list):
        out.update(text_at(line, "procedureCode").upper() for line in lines)
    diagnoses = claim.get("diagnoses")
    if isinstance(diagnoses, list):
        out.update(d.strip().upper() for d in diagnoses if isinstance(d, str))
    for key in ("billingProvider", "renderingProvider", "referringProvider"):
        out.add(text_at(claim, key, "npi"))
    out.discard("")
    return frozenset(out)
