"""Build 005010X222A1 837P interchanges from contract-JSON claims.

The inverse of :mod:`claimscrub.x12.mapping` for the fields that mapping
reads, so tests and ``make bench`` can make valid interchanges with therapy
lines (the implementation guide's own examples are copyrighted and hold no
therapy codes). Claims with the same billing provider in a row share one
2000A loop; each claim gets its own subscriber (2000B) loop, and a 2000C
patient loop when the claim has a ``subscriber`` object of its own (a key
only this builder reads: the contract claim has no subscriber).

What the contract claim does not hold but the guide requires (submitter,
receiver, the billing provider's address, claim frequency, signatures) gets
fixed placeholder values.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from claimscrub.x12.segments import MINUTES_NOTE, Delimiters

DEFAULT = Delimiters(segment="~", element="*", component=":", repetition="^")


def _d8(iso: str) -> str:
    return iso.replace("-", "")


def _money(value: Any) -> str:
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    return format(amount.normalize(), "f") if amount == amount.to_integral() else str(amount)


def _icd(code: str) -> str:
    return code.replace(".", "").upper()


def _free_text(text: str) -> str:
    """An NTE02: at most 80 characters of the basic character set."""
    kept = re.sub(r"[^A-Za-z0-9 .,()/&'+=?-]", " ", text)
    return " ".join(kept.split())[:80].strip() or "NOTE"


def _pad(text: str, width: int) -> str:
    return text[:width].ljust(width)


class _Writer:
    def __init__(self, delims: Delimiters) -> None:
        self.d = delims
        self.out: list[str] = []
        self.in_set = 0

    def seg(self, *elements: str) -> None:
        fields = list(elements)
        while len(fields) > 1 and fields[-1] == "":
            fields.pop()
        self.out.append(self.d.element.join(fields) + self.d.segment)
        self.in_set += 1

    def comp(self, *parts: str) -> str:
        fields = list(parts)
        while len(fields) > 1 and fields[-1] == "":
            fields.pop()
        return self.d.component.join(fields)


def _claim_segments(w: _Writer, claim: Mapping[str, Any]) -> None:
    lines = claim.get("serviceLines") or []
    total = sum((Decimal(str(ln.get("chargeAmount") or 0)) for ln in lines), Decimal(0))
    pos = next((ln.get("placeOfService") for ln in lines if ln.get("placeOfService")), "11")
    w.seg("CLM", claim["claimId"], _money(total), "", "", w.comp(pos, "B", "1"), "Y", "A", "Y", "Y")
    therapy = claim.get("therapy") or {}
    start = (therapy.get("planOfCare") or {}).get("startDate")
    if start:
        w.seg("DTP", "454", "D8", _d8(start))
    auth = (claim.get("priorAuthorization") or {}).get("number")
    if auth:
        w.seg("REF", "G1", auth)
    if claim.get("note"):
        w.seg("NTE", "ADD", _free_text(claim["note"]))
    diagnoses = claim.get("diagnoses") or []
    if diagnoses:
        codes = [w.comp("ABK", _icd(diagnoses[0]))]
        codes += [w.comp("ABF", _icd(c)) for c in diagnoses[1:12]]
        w.seg("HI", *codes)
    rendering = claim.get("renderingProvider") or {}
    if rendering.get("npi"):
        w.seg("NM1", "82", "1", "RENDERING", "PROVIDER", "", "", "", "XX", rendering["npi"])
        if rendering.get("taxonomy"):
            w.seg("PRV", "PE", "PXC", rendering["taxonomy"])
    for line in lines:
        w.seg("LX", str(line["lineNumber"]))
        proc = w.comp("HC", line["procedureCode"], *line.get("modifiers", [])[:4])
        pointers = w.comp(*(str(p) for p in line.get("diagnosisPointers", [1])[:4]))
        w.seg(
            "SV1",
            proc,
            _money(line.get("chargeAmount") or 0),
            "UN",
            str(line["units"]),
            line.get("placeOfService") or "",
            "",
            pointers,
        )
        w.seg("DTP", "472", "D8", _d8(line["dateOfService"]))
        if line.get("minutes") is not None:
            w.seg("NTE", "ADD", f"{MINUTES_NOTE} {line['minutes']}")


def _person(w: _Writer, qualifier: str, who: Mapping[str, Any], member_id: str | None) -> None:
    ids = ("MI", member_id) if member_id else ("", "")
    w.seg(
        "NM1",
        qualifier,
        "1",
        (who.get("lastName") or "UNKNOWN").upper(),
        (who.get("firstName") or "").upper(),
        "",
        "",
        "",
        *ids,
    )
    address = who.get("address") or {}
    if address:
        w.seg("N3", address.get("line1") or "UNKNOWN")
        w.seg(
            "N4",
            address.get("city") or "UNKNOWN",
            address.get("state") or "NY",
            (address.get("zip") or "11550").replace("-", ""),
        )
    if who.get("birthDate"):
        w.seg("DMG", "D8", _d8(who["birthDate"]), who.get("sex") or "U")


def _transaction(
    w: _Writer, claims: Sequence[Mapping[str, Any]], st_control: str, now: dt.datetime
) -> None:
    w.in_set = 0
    w.seg("ST", "837", st_control, "005010X222A1")
    w.seg("BHT", "0019", "00", f"B{st_control}", now.strftime("%Y%m%d"), now.strftime("%H%M"), "CH")
    w.seg("NM1", "41", "2", "CLAIMSCRUB TEST SUBMITTER", "", "", "", "", "46", "SUBMIT01")
    w.seg("PER", "IC", "BILLING OFFICE", "TE", "5165550100")
    w.seg("NM1", "40", "2", "CLAIMSCRUB TEST RECEIVER", "", "", "", "", "46", "RECEIVE01")
    hl = 0
    billing_key: tuple[str, str] | None = None
    billing_hl = 0
    for claim in claims:
        billing = claim.get("billingProvider") or {}
        key = (billing.get("npi") or "", billing.get("name") or "")
        if key != billing_key:
            hl += 1
            billing_hl, billing_key = hl, key
            w.seg("HL", str(hl), "", "20", "1")
            w.seg(
                "NM1",
                "85",
                "2",
                (billing.get("name") or "BILLING PROVIDER").upper(),
                "",
                "",
                "",
                "",
                "XX",
                billing.get("npi") or "1558598797",
            )
            w.seg("N3", "1 BILLING PLAZA")
            w.seg("N4", "HEMPSTEAD", "NY", "115501234")
            w.seg("REF", "EI", (billing.get("taxId") or "123456789").replace("-", ""))
        patient = claim.get("patient") or {}
        subscriber = claim.get("subscriber")
        hl += 1
        subscriber_hl = hl
        w.seg("HL", str(hl), str(billing_hl), "22", "1" if subscriber else "0")
        w.seg("SBR", "P", "" if subscriber else "18", "", "", "", "", "", "", "MB")
        _person(w, "IL", subscriber or patient, patient.get("memberId") or "UNKNOWN")
        w.seg("NM1", "PR", "2", "PAYER", "", "", "", "", "PI", claim.get("payerId") or "UNKNOWN")
        if subscriber:
            hl += 1
            w.seg("HL", str(hl), str(subscriber_hl), "23", "0")
            w.seg("PAT", "19")
            _person(w, "QC", patient, None)
        _claim_segments(w, claim)
    w.seg("SE", str(w.in_set + 1), st_control)


def interchange(
    claims: Iterable[Mapping[str, Any]],
    *,
    control_number: int = 1,
    claims_per_set: int = 5000,
    delimiters: Delimiters = DEFAULT,
    now: dt.datetime | None = None,
    newline: bool = True,
) -> str:
    """One ISA/IEA interchange holding ``claims`` in transaction sets of at
    most ``claims_per_set`` claims (the guide's recommended limit is 5,000)."""
    when = now or dt.datetime(2026, 6, 1, 12, 0)
    w = _Writer(delimiters)
    icn = f"{control_number:09d}"
    w.seg(
        "ISA",
        "00",
        _pad("", 10),
        "00",
        _pad("", 10),
        "ZZ",
        _pad("CLAIMSCRUB", 15),
        "ZZ",
        _pad("RECEIVER", 15),
        when.strftime("%y%m%d"),
        when.strftime("%H%M"),
        delimiters.repetition,
        "00501",
        icn,
        "0",
        "T",
        delimiters.component,
    )
    w.seg(
        "GS",
        "HC",
        "CLAIMSCRUB",
        "RECEIVER",
        when.strftime("%Y%m%d"),
        when.strftime("%H%M"),
        str(control_number),
        "X",
        "005010X222A1",
    )
    batch: list[Mapping[str, Any]] = []
    sets = 0
    for claim in claims:
        batch.append(claim)
        if len(batch) == claims_per_set:
            sets += 1
            _transaction(w, batch, f"{sets:04d}", when)
            batch = []
    if batch or not sets:
        sets += 1
        _transaction(w, batch, f"{sets:04d}", when)
    w.seg("GE", str(sets), str(control_number))
    w.seg("IEA", "1", icn)
    return ("\n" if newline else "").join(w.out) + ("\n" if newline else "")
