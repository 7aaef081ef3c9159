"""Fuzz: the claim decoder and every rule function over generated input.

Whatever arrives, no exception escapes and every input gets a result: random
bytes either decode or are refused as undecodable (claims.dlq), any JSON
value becomes a claim or a MALFORMED_CLAIM, and the UNITS, NECESSITY and
ENROLLMENT rule functions, given any claim the parser can build (extreme
dates, units, minutes, amounts, codes), return edits from the catalogue on
lines of that claim.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from argparse import Namespace
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimscrub.cli.checks import build_checks
from claimscrub.cli.scrub import Scrubber, decode_as_streamed
from claimscrub.core.claim import (
    Claim,
    ParsedClaim,
    Patient,
    PlanOfCare,
    PriorAuthorization,
    Provider,
    ServiceLine,
    Therapy,
)
from claimscrub.core.codec import JSON, PROTOBUF, UndecodableEvent, decode_claim
from claimscrub.core.edits import EDIT_CODES, Edit
from claimscrub.core.fingerprint import stamp
from claimscrub.core.results import combine
from claimscrub.enrollment.records import read_records
from claimscrub.enrollment.reference import EnrollmentReference
from claimscrub.enrollment.rules import check_enrollment
from claimscrub.enrollment.table import EnrollmentTable
from claimscrub.necessity.history import record_claim
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.roles import ProviderRole
from claimscrub.necessity.rules import check_necessity
from claimscrub.runtime.testing import REPO_ROOT
from claimscrub.units.reference import UnitsReference
from claimscrub.units.rules import check_units

EXAMPLES = REPO_ROOT / "examples"
TODAY = dt.date(2026, 6, 1)
# `make test` replays the same examples every run, so main cannot go red on a draw;
# `make fuzz` explores new ones (FUZZ_EXAMPLES of them, a fresh seed each run).
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _checks() -> list[Any]:
    return build_checks(
        Namespace(
            mue=None,
            payers=EXAMPLES / "payers.json",
            enrollment=EXAMPLES / "enrollment.json",
            ptp=[],
            coverage=[],
        )
    )


CHECKS = _checks()
UNITS_REF = UnitsReference.load(None, EXAMPLES / "payers.json")
NECESSITY_REF = NecessityReference.load(payers_path=EXAMPLES / "payers.json")
ENROLLMENT_REF = EnrollmentReference.load()
ENROLLMENT_TABLE = EnrollmentTable(read_records(EXAMPLES / "enrollment.json"))


def _answer(parsed: ParsedClaim) -> None:
    """Every check answers the claim; the answers combine into one result."""
    results = [c.run(parsed, TODAY) for c in CHECKS]
    for r in results:
        assert r.claim_id == parsed.claim_id
        assert all(e.code in EDIT_CODES for e in r.edits)
        stamp(r, parsed, b"", b"k")
    combined = combine(parsed.claim_id, results)
    assert combined.checks == ("UNITS", "NECESSITY", "ENROLLMENT")
    if not parsed.ok:
        assert "MALFORMED_CLAIM" in {e.code for e in combined.edits}


# --- the decoder --------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([None, JSON, PROTOBUF]))
def test_any_bytes_decode_to_a_claim_or_are_refused_as_undecodable(
    value: bytes, content_type: bytes | None
) -> None:
    try:
        parsed = decode_claim(value, content_type=content_type, key="FZ-KEY")
    except UndecodableEvent as exc:
        assert str(exc)  # the DLQ reason
        return
    assert parsed.claim_id  # the key stands in for a missing id
    _answer(parsed)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2026-05-04", "9999-12-31", "0001-01-01", "2026-02-30", "97110", "GP", "1e9"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
LINE_KEYS = [
    "lineNumber",
    "dateOfService",
    "procedureCode",
    "modifiers",
    "units",
    "minutes",
    "chargeAmount",
    "diagnosisPointers",
    "placeOfService",
]
CLAIM_KEYS = [
    "claimId",
    "payerId",
    "submissionDate",
    "patient",
    "billingProvider",
    "renderingProvider",
    "referringProvider",
    "diagnoses",
    "therapy",
    "note",
]
claim_like = st.fixed_dictionaries(
    {
        "serviceLines": st.lists(
            st.dictionaries(st.sampled_from(LINE_KEYS), json_values), max_size=3
        )
    },
    optional={k: json_values for k in CLAIM_KEYS},
)


@FUZZ
@given(st.lists(st.one_of(json_values, claim_like), min_size=1, max_size=4))
def test_any_json_input_gets_one_result_per_claim(batch: list[Any]) -> None:
    results = list(Scrubber(_checks(), TODAY).scrub_all(batch))
    assert len(results) == len(batch)
    for raw, result in zip(batch, results, strict=True):
        assert result.claim_id
        assert all(e.code in EDIT_CODES for e in result.edits)
        _answer(decode_as_streamed(raw, 1))


@FUZZ
@given(claim_like)
def test_any_claim_shaped_json_survives_the_trip_through_kafka_encoding(
    raw: dict[str, Any],
) -> None:
    data = json.dumps(raw, allow_nan=True).encode()
    parsed = decode_claim(data, content_type=JSON, key="FZ-KEY")
    _answer(parsed)


# --- the rule functions, on any claim the parser can build -----------------------------

dates = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))
near_dates = st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 31))
codes = st.one_of(
    st.sampled_from(
        ["97110", "97112", "97140", "97150", "97161", "97164", "97530", "97035", "97010", "G0283"]
    ),
    st.text("0123456789ABCDEFGX", min_size=1, max_size=6),
)
modifiers = st.lists(
    st.one_of(
        st.sampled_from(["GP", "GO", "GN", "CQ", "CO", "KX", "59", "XU", "XS"]), st.text(max_size=3)
    ),
    max_size=4,
).map(tuple)
amounts = st.one_of(
    st.none(), st.decimals(Decimal("-1e9"), Decimal("1e12"), places=2, allow_nan=False)
)
npis = st.one_of(
    st.none(),
    st.sampled_from(["1558598797", "1234567893", "1245319599", "1000000004", "1234567890"]),
    st.text("0123456789", min_size=10, max_size=10),
)


@st.composite
def claims(draw: Any) -> Claim:
    n = draw(st.integers(1, 5))
    lines = tuple(
        ServiceLine(
            line_number=draw(st.integers(-5, 2**31 - 1) | st.integers(1, 6)),
            date_of_service=draw(st.one_of(near_dates, dates)),
            procedure_code=draw(codes),
            units=draw(st.integers(0, 2**31 - 1) | st.integers(0, 8)),
            modifiers=draw(modifiers),
            minutes=draw(st.none() | st.integers(0, 2**31 - 1) | st.integers(0, 120)),
            charge_amount=draw(amounts),
            diagnosis_pointers=tuple(draw(st.lists(st.integers(-3, 15), max_size=4))),
            allowed_amount=draw(amounts),
        )
        for _ in range(n)
    )
    therapy = draw(
        st.none()
        | st.builds(
            Therapy,
            discipline=st.sampled_from([None, "PT", "OT", "SLP", "XX"]),
            plan_of_care=st.none()
            | st.builds(
                PlanOfCare,
                certified_date=st.none() | dates | near_dates,
                start_date=st.none() | dates,
                end_date=st.none() | dates | near_dates,
            ),
            treatment_days_since_progress_report=st.none() | st.integers(0, 2**31 - 1),
            amount_used_ytd=amounts,
            amount_used_ytd_pt_slp=amounts,
            amount_used_ytd_ot=amounts,
            visits_used_ytd=st.none() | st.integers(0, 2**31 - 1),
        )
    )
    taxonomy = st.sampled_from([None, "225100000X", "225200000X", "225X00000X", "224Z00000X", "9"])
    return Claim(
        claim_id="FZ-1",
        payer_id=draw(st.sampled_from(["MEDICARE", "ACME-COMMERCIAL", "OTHER"])),
        service_lines=lines,
        submission_date=draw(st.none() | dates | near_dates),
        patient=Patient(member_id=draw(st.sampled_from(["M1", "M2", None]))),
        billing_provider=Provider(npi=draw(npis)),
        rendering_provider=Provider(npi=draw(npis), taxonomy=draw(taxonomy)),
        diagnoses=tuple(
            draw(st.lists(st.sampled_from(["M62.81", "R26.89", "J30.1", "X"]), max_size=4))
        ),
        therapy=therapy,
        prior_authorization=draw(
            st.none()
            | st.builds(
                PriorAuthorization,
                number=st.sampled_from([None, "PA-77812"]),
                start_date=st.none() | dates | near_dates,
                end_date=st.none() | dates | near_dates,
                visits=st.none() | st.integers(0, 2**31 - 1),
            )
        ),
        note=draw(st.none() | st.text(max_size=200) | st.just("sit-to-stand min assist 30 min")),
    )


roles = st.builds(
    ProviderRole,
    discipline=st.sampled_from([None, "PT", "OT", "SLP"]),
    assistant=st.sampled_from([None, True, False]),
    source=st.sampled_from(["", "taxonomy", "enrollment"]),
)


def _well_formed(edits: list[Edit], claim: Claim) -> None:
    lines = {line.line_number for line in claim.service_lines} | {0}
    for e in edits:
        assert e.code in EDIT_CODES
        assert e.line_number in lines
        assert e.message


@FUZZ
@given(claims())
def test_units_rules_answer_any_claim(claim: Claim) -> None:
    _well_formed(check_units(claim, UNITS_REF), claim)


@FUZZ
@given(claims(), claims(), roles)
def test_necessity_rules_answer_any_claim_and_history(
    claim: Claim, earlier: Claim, role: ProviderRole
) -> None:
    history = record_claim(None, earlier, NECESSITY_REF)
    _well_formed(check_necessity(claim, ref=NECESSITY_REF, history=history, role=role), claim)
    record_claim(history, claim, NECESSITY_REF)


@FUZZ
@given(claims())
def test_enrollment_rules_answer_any_claim(claim: Claim) -> None:
    _well_formed(
        check_enrollment(
            claim, ref=ENROLLMENT_REF, payers=UNITS_REF.payers, table=ENROLLMENT_TABLE
        ),
        claim,
    )
