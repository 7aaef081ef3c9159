"""The JSON shortcut (core.claim_dict) builds exactly the claim the general
parser builds, and gives way to it for every claim it does not plainly read."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from claimscrub.bench.claims import make_claim
from claimscrub.cli.scrub import decode_input
from claimscrub.core.claim import ParsedClaim, parse_claim
from claimscrub.core.claim_dict import claim_from_dict
from claimscrub.core.codec import decode_claim
from claimscrub.runtime.testing import REPO_ROOT

texts = st.sampled_from([None, "", " ", "\u2003", "MEDICARE", " acme ", "Ada Lovelace"])
opt_dates = st.sampled_from([None, "", "  ", "2026-05-04", " 2026-05-04 "])
opt_amounts = st.sampled_from([None, "10.00", " 7 ", "-5.5", "0.1"])
codes = st.lists(st.sampled_from(["GP", " kx ", "59"]), max_size=3)
BAD_DATES = ["", " ", "2026-02-30", "5/4/26", "\uff12\uff10\uff12\uff16-05-04", "2026-5-4"]
BAD_AMOUNTS = [" ", "1e3", "0.125", "abc"]


def _line(d: dict[str, Any], p: int) -> dict[str, Any]:
    lines: list[dict[str, Any]] = d["serviceLines"]
    return lines[p % len(lines)]


def _set(path: Callable[[dict[str, Any], int], dict[str, Any]], key: str, values: list[Any]):  # type: ignore[no-untyped-def]
    def apply(d: dict[str, Any], p: int) -> None:
        path(d, p)[key] = values[p % len(values)]

    return apply


def _top(d: dict[str, Any], p: int) -> dict[str, Any]:
    return d


def _object(d: dict[str, Any], key: str) -> dict[str, Any]:
    if type(d.get(key)) is not dict:
        d[key] = {}
    return d[key]  # type: ignore[no-any-return]


def _patient(d: dict[str, Any], p: int) -> dict[str, Any]:
    return _object(d, "patient")


def _therapy(d: dict[str, Any], p: int) -> dict[str, Any]:
    return _object(d, "therapy")


def _authorization(d: dict[str, Any], p: int) -> dict[str, Any]:
    return _object(d, "priorAuthorization")


def _duplicate_number(d: dict[str, Any], p: int) -> None:
    lines = d["serviceLines"]
    lines.append(dict(lines[0], lineNumber=lines[0]["lineNumber"]))


# Values the general parser rejects: the shortcut must give way, and no claim results.
INVALID: dict[str, Callable[[dict[str, Any], int], None]] = {
    "claim_id": _set(_top, "claimId", [" ", "", None]),
    "payer_id": _set(_top, "payerId", [" ", ""]),
    "no_lines": _set(_top, "serviceLines", [[], None]),
    "submission_date": _set(_top, "submissionDate", BAD_DATES[2:]),
    "diagnosis": lambda d, p: d.setdefault("diagnoses", []).append([" ", "", 7][p % 3]),
    "line_number": _set(_line, "lineNumber", [0, -1, None, 2**31]),
    "line_number_duplicate": _duplicate_number,
    "units": _set(_line, "units", [-1, None, "x", 2.5]),
    "minutes": _set(_line, "minutes", [-1, "abc"]),
    "date_of_service": _set(_line, "dateOfService", [*BAD_DATES, None, 20260504]),
    "procedure_code": _set(_line, "procedureCode", [" ", "", None, 97110]),
    "modifier": lambda d, p: _line(d, p).setdefault("modifiers", []).append([" ", "", 59][p % 3]),
    "charge": _set(_line, "chargeAmount", BAD_AMOUNTS),
    "birth_date": _set(_patient, "birthDate", BAD_DATES[2:]),
    "progress_days": _set(_therapy, "treatmentDaysSinceProgressReport", [-1, "many"]),
    "amount_used": _set(_therapy, "amountUsedYtd", BAD_AMOUNTS),
    "amount_used_pt_slp": _set(_therapy, "amountUsedYtdPtSlp", BAD_AMOUNTS),
    "amount_used_ot": _set(_therapy, "amountUsedYtdOt", BAD_AMOUNTS),
    "visits_used": _set(_therapy, "visitsUsedYtd", [-1, "many", 2**31]),
    "allowed": _set(_line, "allowedAmount", BAD_AMOUNTS),
    "authorization_shape": _set(_top, "priorAuthorization", [[], "PA-1"]),
    "authorization_date": _set(_authorization, "startDate", BAD_DATES[2:]),
    "authorization_visits": _set(_authorization, "visits", [-1, "x"]),
    "authorization_number": _set(_authorization, "number", [5, ["PA"]]),
    "note": _set(_top, "note", [5, ["text"]]),
    "patient_shape": _set(_top, "patient", [[], "Ada"]),
    "line_shape": lambda d, p: d["serviceLines"].append(["not", "an", "object"]),
}
# Values the general parser reads the proto3 JSON way (a number as a string,
# an integral float): valid, but not plainly typed, so the shortcut gives way.
ODD: dict[str, Callable[[dict[str, Any], int], None]] = {
    "units_string": _set(_line, "units", ["2", "2.0"]),
    "units_float": _set(_line, "units", [2.0]),
    "line_number_string": _set(_line, "lineNumber", ["9"]),
    "minutes_string": _set(_line, "minutes", ["30", "1e9"]),
    "pointer_string": lambda d, p: _line(d, p).setdefault("diagnosisPointers", []).append("1"),
    "charge_number": _set(_line, "chargeAmount", [10, 12.5]),
    "days_string": _set(_therapy, "treatmentDaysSinceProgressReport", ["4"]),
    "visits_string": _set(_therapy, "visitsUsedYtd", ["11", 11.0]),
    "allowed_number": _set(_line, "allowedAmount", [98, 98.4]),
    "authorization_visits_string": _set(_authorization, "visits", ["24"]),
}


@st.composite
def claims(draw: Any) -> tuple[dict[str, Any], list[str]]:
    rng = random.Random(draw(st.integers(0, 10**6)))
    d = make_claim(rng, draw(st.sampled_from(["C-1", " C-2 "])))
    d["payerId"] = draw(st.sampled_from(["MEDICARE", " acme ", "x"]))
    for key, values in (("submissionDate", opt_dates), ("note", texts)):
        if (v := draw(values)) is not None:
            d[key] = v
    for line in d["serviceLines"]:
        line["chargeAmount"] = draw(opt_amounts)
        line["modifiers"] = draw(codes)
        line["placeOfService"] = draw(texts)
        if (allowed := draw(opt_amounts)) is not None:
            line["allowedAmount"] = allowed
    patient = draw(st.sampled_from(["keep", "empty", "null", "absent"]))
    if patient == "empty":
        d["patient"] = {}
    elif patient == "null":
        d["patient"] = None
    elif patient == "absent":
        del d["patient"]
    d["therapy"]["discipline"] = draw(st.sampled_from(["PT", "pt", " ot ", " ", None]))
    if draw(st.booleans()):
        d["therapy"]["planOfCare"] = draw(st.sampled_from([{}, None, {"endDate": " "}]))
    for key in ("amountUsedYtdPtSlp", "amountUsedYtdOt"):
        if (v := draw(opt_amounts)) is not None:
            d["therapy"][key] = v
    d["therapy"]["visitsUsedYtd"] = draw(st.sampled_from([None, 0, 11]))
    authorization = draw(st.sampled_from(["absent", "null", "empty", "filled"]))
    if authorization != "absent":
        d["priorAuthorization"] = {"null": None, "empty": {}}.get(authorization) or {
            "number": draw(texts),
            "startDate": draw(opt_dates),
            "endDate": draw(opt_dates),
            "visits": draw(st.sampled_from([None, 0, 24])),
        }
    applied = []
    table = {**INVALID, **ODD}
    # the ones that leave no line to change come last
    last = ("no_lines", "line_shape")
    for how in sorted(
        draw(st.lists(st.sampled_from(sorted(table)), max_size=2)), key=lambda h: h in last
    ):
        if d.get("serviceLines") or how in (
            "claim_id",
            "payer_id",
            "note",
            "patient_shape",
            "authorization_shape",
        ):
            table[how](d, draw(st.integers(0, 11)))
            applied.append(how)
            event(how)
    return d, applied


@settings(max_examples=1500, deadline=None)
@given(claims())
def test_the_shortcut_builds_what_the_parser_builds_or_gives_way(
    drawn: tuple[dict[str, Any], list[str]],
) -> None:
    data, applied = drawn
    general = parse_claim(copy.deepcopy(data))
    fast = claim_from_dict(data)
    event(f"valid: {general.ok}")
    if fast is not None:
        assert general.ok and fast == general.claim
    if not set(applied) & set(ODD):
        # plainly typed: the shortcut answers every valid claim itself
        assert (fast is not None) == general.ok
    # and the callers answer as the parser does, whichever way they went
    direct = decode_input(data, 1)  # (which names a claim without an id by its position)
    assert (direct.claim, direct.problems) == (general.claim, general.problems)
    as_json = json.dumps(data).encode()
    assert decode_claim(as_json, content_type=b"application/json") == general


def test_every_generated_and_example_claim_takes_the_shortcut() -> None:
    rng = random.Random(11)
    raws: list[Any] = [make_claim(rng, f"D-{i}") for i in range(300)]
    examples = json.loads((REPO_ROOT / "examples" / "claims.json").read_text())
    for raw in raws + examples:
        general: ParsedClaim = parse_claim(raw)
        fast = claim_from_dict(raw)
        assert fast == (general.claim if general.ok else None)
    assert all(claim_from_dict(raw) is not None for raw in raws)
