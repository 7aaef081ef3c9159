"""837P intake (contract §1b): mapping element by element, 999s for bad files,
the rebuilt ready interchange, notChecked, and no PHI in what comes out."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from claimscrub.core.not_checked import NotChecked
from claimscrub.runtime.testing import REPO_ROOT
from claimscrub.x12.compose import interchange
from claimscrub.x12.intake import intake
from claimscrub.x12.reader import Interchange, NotX12, open_text
from claimscrub.x12.writer import ReadyWriter

EXAMPLES = {c["claimId"]: c for c in json.loads((REPO_ROOT / "examples/claims.json").read_text())}


def _segments(ack: str, *ids: str) -> list[str]:
    return [s for s in ack.replace("\n", "").split("~") if s.split("*")[0] in ids]


def _hand_written() -> str:
    """An interchange written by hand from the guide's segment layouts (not by
    compose.py), the patient apart from the subscriber, a 2420A rendering
    provider on every line and the minutes convention on one line of two."""
    segs = [
        "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       "
        "*260601*1200*^*00501*000000042*0*T*:",
        "GS*HC*SUBMITTER*RECEIVER*20260601*1200*42*X*005010X222A1",
        "ST*837*0001*005010X222A1",
        "BHT*0019*00*REF1*20260601*1200*CH",
        "NM1*41*2*SUBMITTER*****46*S1",
        "PER*IC*OFFICE*TE*5165550100",
        "NM1*40*2*RECEIVER*****46*R1",
        "HL*1**20*1",
        "PRV*BI*PXC*225100000X",
        "NM1*85*2*HARBOR PT GROUP*****XX*1558598797",
        "N3*1 PLAZA",
        "N4*HEMPSTEAD*NY*115501234",
        "REF*EI*123456789",
        "HL*2*1*22*1",
        "SBR*P********MB",
        "NM1*IL*1*SUBSCRIBERLAST*SUBFIRST****MI*1EG4TE5MK73",
        "N3*9 OAK ST",
        "N4*HEMPSTEAD*NY*11550",
        "DMG*D8*19480101*M",
        "NM1*PR*2*MEDICARE*****PI*MEDICARE",
        "HL*3*2*23*0",
        "PAT*01",
        "NM1*QC*1*PATIENTLAST*PATFIRST",
        "N3*12 ELM ST",
        "N4*HEMPSTEAD*NY*11550",
        "DMG*D8*19500302*F",
        "CLM*CLM-7*162***11:B:1*Y*A*Y*Y",
        "DTP*454*D8*20260420",
        "REF*G1*PA77812",
        "NTE*ADD*PATIENT TOLERATED TRANSFERS",
        "HI*ABK:M6281*ABF:R2689*ABF:Z9689",
        "LX*1",
        "SV1*HC:97530:GP:KX*120*UN*2*11**1:2",
        "DTP*472*D8*20260504",
        "NTE*ADD*MINUTES 30",
        "NM1*82*1*RIVERA*J****XX*1234567893",
        "PRV*PE*PXC*225100000X",
        "LX*2",
        "SV1*HC:97161:GP*42.5*UN*1***3",
        "DTP*472*D8*20260504",
        "NM1*82*1*RIVERA*J****XX*1234567893",
        "PRV*PE*PXC*225100000X",
    ]
    count = len(segs) - 2 + 1
    segs += [f"SE*{count}*0001", "GE*1*42", "IEA*1*000000042"]
    return "~\n".join(segs) + "~\n"


def test_mapping_element_by_element() -> None:
    claims, ack = intake(_hand_written().encode())
    assert _segments(ack, "IK5") == ["IK5*A"]
    [parsed] = claims
    assert parsed.ok and parsed.claim is not None
    c = parsed.claim
    assert c.claim_id == "CLM-7"  # CLM01
    assert c.payer_id == "MEDICARE"  # 2010BB NM109
    p = c.patient
    assert p is not None and p.address is not None
    assert p.member_id == "1EG4TE5MK73"  # 2010BA NM109: 5010 gives the patient no ID of its own
    assert (p.last_name, p.first_name) == ("PATIENTLAST", "PATFIRST")  # 2010CA NM103/NM104
    assert p.birth_date is not None and p.birth_date.isoformat() == "1950-03-02"  # DMG02
    assert p.sex == "F"  # DMG03
    assert (p.address.line1, p.address.city, p.address.state, p.address.zip) == (
        "12 ELM ST",
        "HEMPSTEAD",
        "NY",
        "11550",
    )
    b = c.billing_provider
    assert b is not None and (b.npi, b.name, b.tax_id) == (
        "1558598797",
        "HARBOR PT GROUP",
        "123456789",
    )
    r = c.rendering_provider  # 2420A on every line, the same provider
    assert r is not None and (r.npi, r.taxonomy) == ("1234567893", "225100000X")
    assert c.diagnoses == ("M62.81", "R26.89", "Z96.89")  # ABK then ABF, point restored
    first, second = c.service_lines
    assert first.line_number == 1 and first.procedure_code == "97530"
    assert first.modifiers == ("GP", "KX")
    assert str(first.charge_amount) == "120.00"
    assert first.units == 2 and first.minutes == 30
    assert first.place_of_service == "11"  # SV105
    assert first.diagnosis_pointers == (1, 2)
    assert first.date_of_service.isoformat() == "2026-05-04"
    assert second.place_of_service == "11"  # CLM05-1 when SV105 is empty
    assert str(second.charge_amount) == "42.50" and second.minutes is None
    assert second.diagnosis_pointers == (3,)
    assert c.therapy is not None and c.therapy.plan_of_care is not None
    assert c.therapy.plan_of_care.start_date is not None
    assert c.therapy.plan_of_care.start_date.isoformat() == "2026-04-20"  # DTP*454
    assert c.therapy.plan_of_care.certified_date is None
    assert c.note == "PATIENT TOLERATED TRANSFERS"
    # minutes came by the convention on one line: TIMED_MINUTES is checked
    assert c.not_checked == {
        NotChecked.PLAN_OF_CARE_CERTIFICATION,
        NotChecked.PROGRESS_REPORT,
        NotChecked.KX_THRESHOLD,
        NotChecked.VISIT_LIMIT,
        NotChecked.AUTHORIZATION,
    }


def test_prior_authorization_reaches_the_contract_dict() -> None:
    interchange_ = Interchange(open_text(_hand_written().encode()))
    from claimscrub.x12.intake import claims_of

    [(_tset, claim)] = list(claims_of(interchange_))
    assert claim.contract["priorAuthorization"] == {"number": "PA77812"}  # REF*G1
    # parse_claim ignores keys the model does not hold yet: the claim still parses
    assert claim.parsed.ok


def test_without_the_minutes_convention_timed_minutes_is_not_checked() -> None:
    text = _hand_written().replace("NTE*ADD*MINUTES 30~\n", "")
    text = re.sub(r"SE\*(\d+)\*0001", lambda m: f"SE*{int(m[1]) - 1}*0001", text)
    [parsed], _ack = intake(text.encode())
    assert parsed.claim is not None
    assert NotChecked.TIMED_MINUTES in parsed.claim.not_checked


def _three_sets() -> str:
    claims = [EXAMPLES[k] for k in ("EX-001", "EX-002", "EX-029")]
    return interchange(claims, claims_per_set=1)


def test_round_trip_through_the_ready_interchange(tmp_path: Path) -> None:
    source = _three_sets()
    first = Interchange(open_text(source.encode()))
    sets = list(first.sets())
    assert [t.accepted for t in sets] == [True, True, True]
    out = tmp_path / "ready.x12"
    assert first.isa is not None and first.gs is not None
    with out.open("w", encoding="latin-1", newline="") as f:
        writer = ReadyWriter(f, first.delimiters, first.isa, first.gs, control_number=777)
        for tset in (sets[0], sets[2]):
            for claim in tset.claims:
                writer.add(tset.header, claim)
        writer.close()
    text = out.read_text(encoding="latin-1")
    again, ack = intake(text.encode())
    assert _segments(ack, "IK5") == ["IK5*A", "IK5*A"]
    original, _ = intake(source.encode())
    kept = {p.claim_id: p.claim for p in original}
    assert {p.claim_id: p.claim for p in again} == {k: kept[k] for k in ("EX-001", "EX-029")}
    isa = _segments(text, "ISA")[0].split("*")
    assert isa[13] == "000000777" and _segments(text, "IEA") == ["IEA*1*000000777"]
    assert _segments(text, "GE") == ["GE*2*777"]
    assert [s.split("*")[2] for s in _segments(text, "ST")] == ["0001", "0002"]


def test_ready_writer_shares_the_billing_provider_loop_and_numbers_hl_afresh(
    tmp_path: Path,
) -> None:
    claims = [dict(EXAMPLES["EX-001"], claimId=f"R{i}") for i in range(3)]
    first = Interchange(open_text(interchange(claims).encode()))
    [tset] = list(first.sets())
    assert first.isa is not None and first.gs is not None
    out = tmp_path / "ready.x12"
    with out.open("w", encoding="latin-1", newline="") as f:
        writer = ReadyWriter(f, first.delimiters, first.isa, first.gs, control_number=1)
        for claim in tset.claims[1:]:
            writer.add(tset.header, claim)
        writer.close()
    text = out.read_text(encoding="latin-1")
    assert _segments(text, "HL") == ["HL*1**20*1", "HL*2*1*22*0", "HL*3*1*22*0"]
    _claims, ack = intake(text.encode())
    assert _segments(ack, "IK5") == ["IK5*A"]


# --- bad files: each gets a 999 rejecting its set, or a one-line NotX12 -------


def _bump_se(text: str, control: str) -> str:
    return re.sub(rf"SE\*(\d+)\*{control}", lambda m: f"SE*{int(m[1]) + 1}*{control}", text)


def test_se_count_that_does_not_match_rejects_that_set_only() -> None:
    claims, ack = intake(_bump_se(_three_sets(), "0002").encode())
    assert [c.claim_id for c in claims] == ["EX-001", "EX-029"]
    assert _segments(ack, "AK2", "IK5") == [
        "AK2*837*0001*005010X222A1",
        "IK5*A",
        "AK2*837*0002*005010X222A1",
        "IK5*R*4",  # 4: number of included segments does not match actual count
        "AK2*837*0003*005010X222A1",
        "IK5*A",
    ]
    assert _segments(ack, "AK9") == ["AK9*R*3*3*2"]


def test_missing_clm01_names_the_segment_and_element() -> None:
    claims, ack = intake(_three_sets().replace("CLM*EX-002*", "CLM**").encode())
    assert [c.claim_id for c in claims] == ["EX-001", "EX-029"]
    ik3 = _segments(ack, "IK3")
    assert len(ik3) == 1 and ik3[0].startswith("IK3*CLM*")
    assert _segments(ack, "IK4") == ["IK4*1*1028*1"]  # CLM01 (element 1028) missing
    assert "IK5*R*5" in _segments(ack, "IK5")


def test_truncated_interchange_keeps_the_complete_sets() -> None:
    text = _three_sets()
    claims, ack = intake(text[: text.index("CLM*EX-029") + 20].encode())
    assert [c.claim_id for c in claims] == ["EX-001", "EX-002"]
    assert _segments(ack, "IK5") == ["IK5*A", "IK5*A", "IK5*R*2"]  # 2: missing SE


def test_wrong_separator_inside_a_set_rejects_that_set() -> None:
    claims, ack = intake(_three_sets().replace("CLM*EX-002*", "CLM|EX-002|").encode())
    assert [c.claim_id for c in claims] == ["EX-001", "EX-029"]
    assert _segments(ack, "IK5")[1].startswith("IK5*R")


def test_wrong_separators_in_the_header_are_one_line_errors() -> None:
    text = _three_sets()
    isa = text.split("~")[0]
    broken = isa.replace("*", "|").replace("ISA|", "ISA*", 1) + text[len(isa) :]
    with pytest.raises(NotX12, match=r"segment 1 \(ISA\).*wrong separators"):
        intake(broken.encode())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x01\xff garbage" * 50, "does not start with an ISA"),
        (b'{"claimId": "C-1"}', "does not start with an ISA"),
        (b"ISA" + b"x" * 10_000_000, "ISA"),
        (b"ISA*00*", "ISA: truncated"),
    ],
)
def test_non_x12_bytes_are_one_line_errors(data: bytes, reason: str) -> None:
    with pytest.raises(NotX12, match=reason) as info:
        intake(data)
    assert "\n" not in str(info.value)


def test_a_10_mb_single_line_file_keeps_the_sets_before_its_giant_segment() -> None:
    text = _three_sets().replace("\n", "")
    giant = "NTE*ADD*" + "A" * 10_000_000 + "~"
    at = text.index("CLM*EX-029")
    data = (text[:at] + giant + text[at:]).encode()
    assert len(data) > 10_000_000 and b"\n" not in data
    claims, ack = intake(data)
    assert [c.claim_id for c in claims] == ["EX-001", "EX-002"]
    assert _segments(ack, "IK5") == ["IK5*A", "IK5*A", "IK5*R*2"]


# --- no PHI out ---------------------------------------------------------------

PHI = ["ZEBEDIAHQ", "XANTHIPPEQ", "9ZZ9ZZ9ZZ99", "19311113", "1931-11-13", "77 QUIXOTE"]


def _phi_claim() -> dict[str, Any]:
    claim = dict(EXAMPLES["EX-001"], claimId="PHI-1")
    claim["patient"] = {
        "memberId": "9ZZ9ZZ9ZZ99",
        "firstName": "Xanthippeq",
        "lastName": "Zebediahq",
        "birthDate": "1931-11-13",
        "sex": "F",
        "address": {"line1": "77 QUIXOTE LANE", "city": "Q", "state": "NY", "zip": "11550"},
    }
    return claim


def test_acks_and_errors_carry_no_patient_values() -> None:
    # "Q" is too short for a city (N401 min 2): pyx12 rejects the element and
    # would copy its value into IK404; the address and names are in the set too.
    claims, ack = intake(interchange([_phi_claim()]).encode())
    assert claims == []
    assert "IK4" in ack and "*Q~" not in ack
    for value in PHI:
        assert value.upper() not in ack.upper()
