"""The protobuf shortcut (core.claim_message) builds exactly the claim the
general parser builds, and gives way to it for every message with a problem."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from claimscrub.bench.claims import make_claim
from claimscrub.core.claim import parse_claim
from claimscrub.core.claim_message import claim_from_message
from claimscrub.core.codec import decode_claim, encode_claim_json, message_to_dict
from claimscrub.runtime.testing import REPO_ROOT
from claimscrub.v1 import claim_pb2

# Each field drawn from values the parser accepts (edge cases included:
# padding, lower case, only whitespace where a field is optional, empty
# sub-messages), then at most two breakages that each make the claim invalid.
texts = st.sampled_from(["", " ", "\u2003", "MEDICARE", " acme ", "X", "Ada Lovelace"])
good_dates = st.sampled_from(["2026-05-04", " 2026-05-04 ", "2025-12-31"])
opt_dates = st.sampled_from(["", "  ", "2026-05-04", " 2026-05-04 "])
opt_amounts = st.sampled_from(["", "10.00", " 7 ", "-5.5", "0.1"])
codes = st.lists(st.sampled_from(["GP", " kx ", "59"]), max_size=3)
presence = st.sampled_from(["absent", "empty", "filled"])

BAD_DATES = ["", " ", "2026-02-30", "5/4/26", "\uff12\uff10\uff12\uff16-05-04", "2026-5-4"]
BAD_AMOUNTS = [" ", "1e3", "0.125", "abc", "1,000.00"]


def _set(msg: Any, name: str, value: Any) -> None:
    if value is not None:
        setattr(msg, name, value)


def _line(m: claim_pb2.Claim, pick: int) -> claim_pb2.ServiceLine:
    return m.service_lines[pick % len(m.service_lines)]


def _duplicate_number(m: claim_pb2.Claim, pick: int) -> None:
    first = m.service_lines[0]
    if len(m.service_lines) == 1:
        m.service_lines.add().CopyFrom(first)
    else:
        m.service_lines[1 + pick % (len(m.service_lines) - 1)].line_number = first.line_number


# Every way a field can stop a claim from parsing, one per name.
BREAKAGES: dict[str, Callable[[claim_pb2.Claim, int], None]] = {
    "claim_id": lambda m, p: setattr(m, "claim_id", [" ", ""][p % 2]),
    "payer_id": lambda m, p: setattr(m, "payer_id", [" ", ""][p % 2]),
    "no_lines": lambda m, p: m.ClearField("service_lines"),
    "submission_date": lambda m, p: setattr(m, "submission_date", BAD_DATES[2 + p % 4]),
    "diagnosis": lambda m, p: m.diagnoses.append([" ", ""][p % 2]),
    "line_number_missing": lambda m, p: _line(m, p).ClearField("line_number"),
    "line_number_zero": lambda m, p: setattr(_line(m, p), "line_number", 0),
    "line_number_negative": lambda m, p: setattr(_line(m, p), "line_number", -1 - p),
    "line_number_duplicate": _duplicate_number,
    "units_missing": lambda m, p: _line(m, p).ClearField("units"),
    "units_negative": lambda m, p: setattr(_line(m, p), "units", -1 - p),
    "minutes_negative": lambda m, p: setattr(_line(m, p), "minutes", -1 - p),
    "date_of_service": lambda m, p: setattr(
        _line(m, p), "date_of_service", BAD_DATES[p % len(BAD_DATES)]
    ),
    "procedure_code": lambda m, p: setattr(_line(m, p), "procedure_code", [" ", ""][p % 2]),
    "modifier": lambda m, p: _line(m, p).modifiers.append([" ", ""][p % 2]),
    "charge": lambda m, p: setattr(_line(m, p), "charge_amount", BAD_AMOUNTS[p % len(BAD_AMOUNTS)]),
    "birth_date": lambda m, p: setattr(m.patient, "birth_date", BAD_DATES[2 + p % 4]),
    "progress_days": lambda m, p: setattr(
        m.therapy, "treatment_days_since_progress_report", -1 - p
    ),
    "amount_used": lambda m, p: setattr(
        m.therapy, "amount_used_ytd", BAD_AMOUNTS[p % len(BAD_AMOUNTS)]
    ),
    "plan_date": lambda m, p: setattr(m.therapy.plan_of_care, "end_date", BAD_DATES[2 + p % 4]),
    "amount_used_pt_slp": lambda m, p: setattr(
        m.therapy, "amount_used_ytd_pt_slp", BAD_AMOUNTS[p % len(BAD_AMOUNTS)]
    ),
    "amount_used_ot": lambda m, p: setattr(
        m.therapy, "amount_used_ytd_ot", BAD_AMOUNTS[p % len(BAD_AMOUNTS)]
    ),
    "visits_used_negative": lambda m, p: setattr(m.therapy, "visits_used_ytd", -1 - p),
    "allowed": lambda m, p: setattr(
        _line(m, p), "allowed_amount", BAD_AMOUNTS[p % len(BAD_AMOUNTS)]
    ),
    "authorization_date": lambda m, p: setattr(
        m.prior_authorization, "start_date", BAD_DATES[2 + p % 4]
    ),
    "authorization_visits_negative": lambda m, p: setattr(m.prior_authorization, "visits", -1 - p),
}


@st.composite
def messages(draw: Any) -> claim_pb2.Claim:
    m = claim_pb2.Claim(
        claim_id=draw(st.sampled_from(["C-1", " C-2 "])),
        payer_id=draw(st.sampled_from(["MEDICARE", " acme ", "x"])),
        submission_date=draw(opt_dates),
        note=draw(texts),
    )
    m.diagnoses.extend(draw(st.lists(st.sampled_from(["M54.50", " r26.89 "]), max_size=3)))
    for number in draw(st.lists(st.integers(1, 2**31 - 1), min_size=1, max_size=4, unique=True)):
        line = m.service_lines.add(
            line_number=number,
            units=draw(st.sampled_from([0, 1, 4, 2**31 - 1])),
            date_of_service=draw(good_dates),
            procedure_code=draw(st.sampled_from(["97110", " 97530 ", "g0283"])),
            charge_amount=draw(opt_amounts),
            place_of_service=draw(texts),
            allowed_amount=draw(opt_amounts),
        )
        _set(line, "minutes", draw(st.sampled_from([None, 0, 8, 38])))
        line.modifiers.extend(draw(codes))
        line.diagnosis_pointers.extend(draw(st.lists(st.integers(-1, 3), max_size=2)))
    if (p := draw(presence)) != "absent":
        m.patient.SetInParent()
        if p == "filled":
            m.patient.member_id = draw(texts)
            m.patient.first_name = draw(texts)
            m.patient.birth_date = draw(opt_dates)
            if draw(st.booleans()):
                m.patient.address.SetInParent()
                m.patient.address.city = draw(texts)
    for name in ("billing_provider", "rendering_provider", "referring_provider"):
        if (p := draw(presence)) != "absent":
            provider = getattr(m, name)
            provider.SetInParent()
            if p == "filled":
                provider.npi = draw(texts)
                provider.taxonomy = draw(texts)
    if (p := draw(presence)) != "absent":
        m.therapy.SetInParent()
        if p == "filled":
            m.therapy.discipline = draw(st.sampled_from(["", " ", "pt", " OT "]))
            m.therapy.amount_used_ytd = draw(opt_amounts)
            m.therapy.amount_used_ytd_pt_slp = draw(opt_amounts)
            m.therapy.amount_used_ytd_ot = draw(opt_amounts)
            _set(m.therapy, "visits_used_ytd", draw(st.sampled_from([None, 0, 11])))
            _set(
                m.therapy,
                "treatment_days_since_progress_report",
                draw(st.sampled_from([None, 0, 9])),
            )
            if draw(st.booleans()):
                m.therapy.plan_of_care.SetInParent()
                m.therapy.plan_of_care.start_date = draw(opt_dates)
    if (p := draw(presence)) != "absent":
        m.prior_authorization.SetInParent()
        if p == "filled":
            m.prior_authorization.number = draw(texts)
            m.prior_authorization.start_date = draw(opt_dates)
            m.prior_authorization.end_date = draw(opt_dates)
            _set(m.prior_authorization, "visits", draw(st.sampled_from([None, 0, 24])))
    for how in draw(st.lists(st.sampled_from(sorted(BREAKAGES)), max_size=2)):
        if m.service_lines or not how.startswith(
            ("line_", "units_", "minutes_", "date_of", "procedure", "modifier", "charge", "allowed")
        ):
            BREAKAGES[how](m, draw(st.integers(0, 11)))
            event(how)
    return m


def _general(msg: claim_pb2.Claim) -> Any:
    return parse_claim(message_to_dict(msg))


@settings(max_examples=1500, deadline=None)
@given(messages())
def test_the_shortcut_builds_what_the_parser_builds_or_gives_way(msg: claim_pb2.Claim) -> None:
    general = _general(msg)
    expected = general.claim if general.ok else None
    assert claim_from_message(msg) == expected
    event(f"valid: {general.ok}")
    # and decode_claim, whichever way it went, answers as the parser does
    # (a message with none of these is not a claim: the DLQ's, tested in test_codec)
    if msg.claim_id or msg.payer_id or msg.service_lines:
        assert decode_claim(msg.SerializeToString()) == general


def test_every_generated_and_example_claim_takes_the_shortcut() -> None:
    rng = random.Random(7)
    raws: list[Any] = [make_claim(rng, f"S-{i}") for i in range(300)]
    raws += json.loads((REPO_ROOT / "examples" / "claims.json").read_text())
    taken = 0
    for raw in raws:
        value, ctype = encode_claim_json(raw)
        if ctype != b"application/x-protobuf":
            continue
        msg = claim_pb2.Claim.FromString(value)
        general = _general(msg)
        assert claim_from_message(msg) == (general.claim if general.ok else None)
        taken += general.ok
    assert taken >= 300  # every bench claim is valid, so none may fall back
