"""The claim's own PHI values: the cheap pre-checks that spare a text its
search never hide a match the search would have found."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from claimscrub.bench.claims import make_claims
from claimscrub.redaction.bench_redact_text import sample_notes
from claimscrub.redaction.known import KnownPhi, _date_regexes, _date_variants, known_phi, skeleton
from claimscrub.redaction.spans import Span
from claimscrub.runtime.testing import REPO_ROOT
from tests.redaction_corpus import generate

CLAIM: dict[str, Any] = {
    "claimId": "CLM-2026-000123",
    "patient": {
        "memberId": "1EG4TE5MK73",
        "mrn": "MRN-88123",
        "firstName": "Ada Mary-Jane",
        "lastName": "O'Brien",
        "birthDate": "1950-03-02",
        "address": {"line1": "12 Elm St", "city": "Hempstead", "zip": "11550"},
        "phone": "1 (516) 555-0143",
        "email": "ada.ob@example.org",
        "ssn": "123-45-6789",
    },
    "serviceLines": [{"dateOfService": "2026-05-04", "procedureCode": "97530"}],
}

# Each holds one of CLAIM's values, written another way (or in another script).
TEXTS = [
    "ADA o'brien, mary jane; MRN 88123 / mrn-88-123",
    "Member 1eg4-te5-mk73, ssn 123 45 6789, call (516)555.0143 or 5165550143",
    "12 elm st., HEMPSTEAD 11550; mail ADA.OB@EXAMPLE.ORG",
    "DOB March 2nd, 1950 (3/2/50); seen 5/4 and 04-May-26",
    "Ada O’Brien — Mary-Jane — café, 12 Elm St",  # not ASCII: always searched
    "Ｍｅｍｂｅｒ 1EG4TE5MK73 and ſsn",
    "nothing of hers: pain 5/10, 97530 x2, MMT 4/5",
]


def _every_finder(known: KnownPhi, text: str) -> list[Span]:
    """KnownPhi.find with every finder run on every text (no pre-checks)."""
    spans: list[Span] = []
    for matcher in known.matchers:
        for m in matcher.regex.finditer(text):
            if m.group() not in known.protected:
                spans.append(Span(m.start(), m.end(), matcher.type, known=True))
    for date in known.dates:
        for m in date.with_year.finditer(text):
            if m.group() not in known.protected:
                spans.append(Span(m.start(), m.end(), "DATE", known=True))
    # Year-less dates keep their score rule; their pre-checks are opened.
    opened = [
        dataclasses.replace(d, day_needle="", month_needle="", slash_needles=("",))
        for d in known.dates
    ]
    short = KnownPhi(dates=tuple(opened))
    spans += [s for s in short.find(text) if s not in spans]
    return spans


def _cases() -> list[tuple[dict[str, Any], str]]:
    examples: list[dict[str, Any]] = json.loads((REPO_ROOT / "examples/claims.json").read_text())
    cases = [(CLAIM, t) for t in TEXTS]
    cases += [(c, str(c.get("note", ""))) for c in examples]
    # Another claim's note: values that mostly do not appear.
    cases += [(c, str(examples[i - 1].get("note", ""))) for i, c in enumerate(examples)]
    cases += [(c, str(c["note"])) for c in make_claims(200, "KNOWN", seed=11)]
    cases += [(n.claim, n.text) for n in generate(200, seed=3)]
    cases += [(n.claim, n.text) for n in generate(60, seed=4, locale="vi_VN")]
    cases += [(claim, text) for text, claim in sample_notes(100)]
    return cases


def test_the_pre_checks_hide_no_match() -> None:
    skipped = 0
    for claim, text in _cases():
        known = known_phi(claim)
        text_skeleton = skeleton(text)
        for matcher in known.matchers:
            if not matcher.may_match(text_skeleton):
                skipped += 1
                assert list(matcher.regex.finditer(text)) == [], (matcher.type, text)
        for date in known.dates:
            if date.year_needle not in text:
                assert date.with_year.search(text) is None, text
            if date.day_needle not in text:
                assert date.without_year.search(text) is None, text
            slash = any(n in text for n in date.slash_needles)
            if text.isascii() and not slash and date.month_needle not in text.lower():
                assert date.without_year.search(text) is None, text
        assert known.find(text) == _every_finder(known, text)
    assert skipped > 100  # the checks do spare most texts most searches


def test_every_written_form_of_a_known_value_is_still_found() -> None:
    known = known_phi(CLAIM)
    found = {text: {s.type for s in known.find(text)} for text in TEXTS}
    assert found[TEXTS[0]] >= {"NAME", "MRN"}
    assert found[TEXTS[1]] >= {"MEMBER_ID", "SSN", "PHONE"}
    assert found[TEXTS[2]] >= {"ADDRESS", "CITY", "ZIP", "EMAIL"}
    assert found[TEXTS[3]] == {"DATE"}
    assert found[TEXTS[4]] >= {"NAME", "ADDRESS"}
    assert found[TEXTS[5]] >= {"MEMBER_ID"}
    assert found[TEXTS[6]] == set()


def test_every_variant_of_a_date_holds_its_needles() -> None:
    claim_of = {"patient": {"birthDate": ""}}
    for day in [
        dt.date(1, 1, 1),
        dt.date(5, 9, 9),
        dt.date(105, 12, 31),
        dt.date(1900, 2, 28),
        dt.date(2005, 9, 3),
        dt.date(2026, 5, 4),
        dt.date(2026, 11, 21),
    ]:
        claim_of["patient"]["birthDate"] = day.isoformat()
        (date,) = known_phi(claim_of).dates
        with_year, without_year = _date_variants(day)
        assert all(date.year_needle in v for v in with_year), day
        assert all(date.day_needle in v for v in without_year), day
        assert all(
            date.month_needle in v.lower() or any(n in v for n in date.slash_needles)
            for v in without_year
        ), day
        assert (date.with_year, date.without_year) == _date_regexes(day)
