"""`claimscrub scrub` parses input JSON directly; the services parse what came
over Kafka. Both must give the same result for every claim, odd ones included."""

from __future__ import annotations

import datetime as dt
import json
from argparse import Namespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from claimscrub.cli.checks import build_checks
from claimscrub.cli.scrub import decode_as_streamed, decode_input
from claimscrub.core.results import combine
from claimscrub.runtime.testing import REPO_ROOT

CHECKS = build_checks(
    Namespace(
        mue=None,
        payers=REPO_ROOT / "examples" / "payers.json",
        enrollment=None,
        ptp=None,
        coverage=None,
    )
)
TODAY = dt.date(2026, 6, 1)

# Integers the way billing platforms actually send them, and ways they go wrong.
odd_ints = st.one_of(
    st.integers(-3, 130),
    st.integers(-3, 130).map(float),
    st.integers(-3, 130).map(str),
    st.sampled_from(["2.0", "1e1", "+2", " 2", "1_0", "abc", "", "2.5", "NaN", "１２"]),
    st.sampled_from([2.5, True, None, 2**40, [1]]),
)
codes = st.sampled_from(["97110", "97112", "97530", "97140", "97161", "97150", "97035", "X"])
line = st.fixed_dictionaries(
    {"lineNumber": odd_ints, "units": odd_ints, "procedureCode": codes},
    optional={
        "minutes": odd_ints,
        "dateOfService": st.sampled_from(["2026-05-04", "2025-01-02", "2026-02-30", "5/4/26"]),
        "modifiers": st.lists(st.sampled_from(["GP", "59", "", "kx"]), max_size=3),
        "diagnosisPointers": st.lists(odd_ints, max_size=3),
        "chargeAmount": st.sampled_from(["10.00", "abc", "7"]),
        "allowedAmount": st.sampled_from(["8.40", "x", "2500.00"]),
    },
)
claim = st.fixed_dictionaries(
    {"serviceLines": st.lists(line, max_size=4)},
    optional={
        "claimId": st.sampled_from(["P-1", "", " P-2 "]),
        # SUMMIT-HEALTH: visit limit, authorization, its own edits (examples/payers.json)
        "payerId": st.sampled_from(["MEDICARE", "ACME-COMMERCIAL", "SUMMIT-HEALTH", "x"]),
        "submissionDate": st.sampled_from(["2026-06-01", "2027-09-01", "June"]),
        # Within CLAIMSCRUB_MAX_INT_DIGITS (20): longer integers never reach a
        # parser on either path (core.limits; tests/unit/test_limits.py).
        "unknownField": st.integers(-(10**20) + 1, 10**20 - 1),
        "priorAuthorization": st.fixed_dictionaries(
            {},
            optional={
                "number": st.sampled_from(["PA-1", ""]),
                "startDate": st.sampled_from(["2026-04-20", "2026-02-30"]),
                "endDate": st.sampled_from(["2026-05-04", "2026-05-03"]),
                "visits": odd_ints,
            },
        ),
        "therapy": st.fixed_dictionaries(
            {},
            optional={
                "treatmentDaysSinceProgressReport": odd_ints,
                "amountUsedYtd": st.sampled_from(["100.00", "1e3"]),
                "amountUsedYtdPtSlp": st.sampled_from(["2400.00", "1e3"]),
                "amountUsedYtdOt": st.sampled_from(["0.00", "2479.99"]),
                "visitsUsedYtd": odd_ints,
            },
        ),
    },
)


def _scrub(parsed: Any) -> Any:
    return combine(parsed.claim_id, (c.run(parsed, TODAY) for c in CHECKS))


@settings(max_examples=400, deadline=None)
@given(claim)
def test_direct_parse_and_the_stream_path_agree(raw: dict[str, Any]) -> None:
    direct = decode_input(raw, 1)
    streamed = decode_as_streamed(raw, 1)
    assert direct.claim == streamed.claim
    assert _scrub(direct) == _scrub(streamed)


def test_every_example_claim_agrees() -> None:
    for i, raw in enumerate(json.loads((REPO_ROOT / "examples" / "claims.json").read_text())):
        assert _scrub(decode_input(raw, i)) == _scrub(decode_as_streamed(raw, i))
