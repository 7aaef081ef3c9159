"""One 837P claim (its 2300 loop and the hierarchy above it) → the contract's claim dict.

The table in docs/x12.md (contract §1b) is the mapping, element by element.
The dict then goes through the one claim parser
(:func:`~claimscrub.core.claim.parse_claim`), so an 837P claim is validated and
typed exactly like a JSON one: X12 is an input format, not a second model.
Values the guide lets through but the contract rejects (a fractional unit
count, an impossible date) are passed on as they are, for the parser to
answer with MALFORMED_CLAIM.
"""

from __future__ import annotations

import re
from typing import Any

from claimscrub.core.not_checked import NotChecked
from claimscrub.x12.reader import SourceClaim
from claimscrub.x12.segments import MINUTES_NOTE, Seg

#: What no 837P carries (docs/x12.md); minutes only by the NTE convention.
ALWAYS_NOT_CARRIED = frozenset(
    {
        NotChecked.PLAN_OF_CARE_CERTIFICATION,
        NotChecked.PROGRESS_REPORT,
        NotChecked.KX_THRESHOLD,
        NotChecked.VISIT_LIMIT,
        NotChecked.AUTHORIZATION,
    }
)

_MINUTES = re.compile(rf"^{MINUTES_NOTE}\s+(\d{{1,4}})$", re.IGNORECASE)
_DIAGNOSIS_QUALIFIERS = ("ABK", "ABF")  # ICD-10-CM principal, then other


def _date(d8: str) -> str:
    """CCYYMMDD → YYYY-MM-DD; anything else is passed on for the parser to reject."""
    if len(d8) == 8 and d8.isdigit():
        return f"{d8[:4]}-{d8[4:6]}-{d8[6:]}"
    return d8


def _dtp_date(seg: Seg) -> str:
    value = seg.get(3)
    if seg.get(2) == "RD8":  # a range: the line's first day (docs/x12.md, limits)
        value = value.split("-")[0]
    return _date(value)


def _icd10(code: str) -> str:
    """ICD-10-CM codes travel without their decimal point; it follows the third character."""
    code = code.strip().upper()
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code


def _number(text: str) -> Any:
    """An integral count as int; anything else as sent (the parser rejects it)."""
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else text


def _amount(text: str) -> str:
    if re.fullmatch(r"\d+", text):
        return f"{text}.00"
    if re.fullmatch(r"\d+\.\d", text):
        return f"{text}0"
    return text


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}


def _person(nm1: Seg | None, dmg: Seg | None, n3: Seg | None, n4: Seg | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if nm1 is not None:
        out["lastName"] = nm1.get(3)
        out["firstName"] = nm1.get(4)
    if dmg is not None and dmg.get(1) == "D8":
        out["birthDate"] = _date(dmg.get(2))
        out["sex"] = dmg.get(3)
    address = _compact(
        {
            "line1": n3.get(1) if n3 else None,
            "city": n4.get(1) if n4 else None,
            "state": n4.get(2) if n4 else None,
            "zip": n4.get(3) if n4 else None,
        }
    )
    if address:
        out["address"] = address
    return out


def _first(segs: list[Seg], seg_id: str, qualifier: str | None = None) -> Seg | None:
    for seg in segs:
        if seg.id == seg_id and (qualifier is None or seg.get(1) == qualifier):
            return seg
    return None


def _lines(claim: SourceClaim, component: str, claim_pos: str) -> tuple[list[Any], bool]:
    """The service lines, and whether any carried minutes by the convention."""
    lines: list[dict[str, Any]] = []
    by_convention = False
    current: dict[str, Any] | None = None
    for seg in claim.body:
        if seg.loop != "2400":
            continue
        if seg.id == "LX":
            current = {"lineNumber": _number(seg.get(1))}
            lines.append(current)
        elif current is None:
            continue
        elif seg.id == "SV1":
            proc = seg.parts(1, component)
            current["procedureCode"] = proc[1] if len(proc) > 1 else ""
            current["modifiers"] = [m for m in proc[2:6] if m]
            current["chargeAmount"] = _amount(seg.get(2))
            current["units"] = _number(seg.get(4))
            current["placeOfService"] = seg.get(5) or claim_pos
            current["diagnosisPointers"] = [_number(p) for p in seg.parts(7, component) if p]
        elif seg.id == "DTP" and seg.get(1) == "472":
            current["dateOfService"] = _dtp_date(seg)
        elif seg.id == "NTE" and seg.get(1) == "ADD":
            match = _MINUTES.match(seg.get(2))
            if match:
                current["minutes"] = int(match.group(1))
                by_convention = True
    return [_compact(line) for line in lines], by_convention


def _rendering(claim: SourceClaim, billing: dict[str, Any]) -> dict[str, Any]:
    """2310B, else one 2420A shared by every line, else the billing provider
    (with the 2000A PRV taxonomy): the guide sends 2310B only when the
    rendering provider differs from the billing one."""
    body = list(claim.body)
    nm1 = _first([s for s in body if s.loop == "2310B"], "NM1", "82")
    prv = _first([s for s in body if s.loop == "2310B"], "PRV", "PE")
    per_line = {s.get(9) for s in body if s.loop == "2420A" and s.id == "NM1" and s.get(1) == "82"}
    line_prv = {s.get(3) for s in body if s.loop == "2420A" and s.id == "PRV"}
    if len(per_line) == 1 and len(line_prv) <= 1:
        return _compact({"npi": per_line.pop(), "taxonomy": line_prv.pop() if line_prv else None})
    if nm1 is not None:
        return _compact({"npi": nm1.get(9), "taxonomy": prv.get(3) if prv else None})
    billing_prv = _first(list(claim.loops("2000A")), "PRV", "BI")
    return _compact(
        {"npi": billing.get("npi"), "taxonomy": billing_prv.get(3) if billing_prv else None}
    )


def to_contract(claim: SourceClaim, component: str) -> tuple[dict[str, Any], frozenset[str]]:
    """The contract claim dict, and the inputs this claim's source could not carry."""
    body = list(claim.body)
    clm = body[0]
    header = [s for s in body if s.loop == "2300"]
    b2010aa = list(claim.loops("2010AA"))
    b2010ba = list(claim.loops("2010BA"))
    b2010bb = list(claim.loops("2010BB"))
    b2010ca = list(claim.loops("2010CA"))
    who = b2010ca or b2010ba
    patient = _person(_first(who, "NM1"), _first(who, "DMG"), _first(who, "N3"), _first(who, "N4"))
    subscriber_nm1 = _first(b2010ba, "NM1", "IL")
    if subscriber_nm1 is not None:
        patient["memberId"] = subscriber_nm1.get(9)
    billing_nm1 = _first(b2010aa, "NM1", "85")
    billing_ref = _first(b2010aa, "REF", "EI")
    billing = _compact(
        {
            "npi": billing_nm1.get(9) if billing_nm1 else None,
            "name": billing_nm1.get(3) if billing_nm1 else None,
            "taxId": billing_ref.get(2) if billing_ref else None,
        }
    )
    payer = _first(b2010bb, "NM1", "PR")
    diagnoses: list[str] = []
    for qualifier in _DIAGNOSIS_QUALIFIERS:
        for hi in (s for s in header if s.id == "HI"):
            for position in range(1, len(hi.elements)):
                parts = hi.parts(position, component)
                if len(parts) > 1 and parts[0] == qualifier and parts[1]:
                    diagnoses.append(_icd10(parts[1]))
    clm05 = clm.parts(5, component)
    lines, minutes_sent = _lines(claim, component, clm05[0] if clm05 else "")
    data: dict[str, Any] = {
        "claimId": clm.get(1),
        "payerId": payer.get(9) if payer else None,
        "patient": _compact(patient),
        "billingProvider": billing,
        "renderingProvider": _rendering(claim, billing),
        "diagnoses": diagnoses,
        "serviceLines": lines,
    }
    start = _first(header, "DTP", "454")
    if start is not None:
        data["therapy"] = {"planOfCare": {"startDate": _dtp_date(start)}}
    auth = _first(header, "REF", "G1")
    if auth is not None:
        data["priorAuthorization"] = {"number": auth.get(2)}
    note = _first(header, "NTE", "ADD")
    if note is not None and not _MINUTES.match(note.get(2)):
        data["note"] = note.get(2)
    gaps = ALWAYS_NOT_CARRIED if minutes_sent else ALWAYS_NOT_CARRIED | {NotChecked.TIMED_MINUTES}
    return _compact(data), gaps
