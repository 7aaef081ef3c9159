"""Edit codes (contract §4) and the :class:`Edit` every check reports.

The catalogue is the contract's table: stable code, the check that owns it,
its severity and the denial code (CARC) a payer would most likely answer with.
Messages are written by the rules from codes and numbers only, never from
claim text, because results leave the clinical boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "ERROR"
    WARNING = "WARNING"


class CheckName(StrEnum):
    CLAIM = "CLAIM"
    UNITS = "UNITS"
    NECESSITY = "NECESSITY"
    ENROLLMENT = "ENROLLMENT"


@dataclass(frozen=True, slots=True)
class EditSpec:
    code: str
    check: CheckName
    severity: Severity
    carc: str = ""
    reference: str = ""


_E, _W = Severity.ERROR, Severity.WARNING
_C = CheckName

_CATALOGUE: tuple[EditSpec, ...] = (
    EditSpec("MALFORMED_CLAIM", _C.CLAIM, _E, "CO-16"),
    EditSpec("TIMELY_FILING", _C.CLAIM, _E, "CO-29", "42 CFR 424.44"),
    EditSpec("DUPLICATE_CLAIM", _C.CLAIM, _E, "CO-18"),
    EditSpec("CHECK_INCOMPLETE", _C.CLAIM, _E),
    EditSpec("UNITS_EXCEED_TIME", _C.UNITS, _E, "", "CMS Pub. 100-04 Ch.5 §20.2"),
    EditSpec("UNITS_BELOW_TIME", _C.UNITS, _W, "", "CMS Pub. 100-04 Ch.5 §20.2"),
    EditSpec("UNITS_ALLOCATION", _C.UNITS, _W, "", "CMS Pub. 100-04 Ch.5 §20.2"),
    EditSpec("TIMED_UNDER_8_MINUTES", _C.UNITS, _E, "", "CMS Pub. 100-04 Ch.5 §20.2"),
    EditSpec("TIMED_MINUTES_MISSING", _C.UNITS, _E, "", "CMS Pub. 100-02 Ch.15 §220.3"),
    EditSpec("UNTIMED_MULTIPLE_UNITS", _C.UNITS, _E, "", "CMS Pub. 100-04 Ch.5 §20.2"),
    EditSpec("MUE_EXCEEDED", _C.UNITS, _E, "CO-96/N362", "CMS NCCI MUE"),
    EditSpec("THERAPY_MODIFIER_MISSING", _C.NECESSITY, _E, "CO-4", "CR10176"),
    EditSpec("THERAPY_MODIFIER_CONFLICT", _C.NECESSITY, _E, "CO-4", "CR10176"),
    EditSpec("ASSISTANT_MODIFIER_MISSING", _C.NECESSITY, _E, "CO-4"),
    EditSpec("KX_MODIFIER_REQUIRED", _C.NECESSITY, _E, "PR-119"),
    EditSpec("MEDICAL_REVIEW_THRESHOLD", _C.NECESSITY, _W),
    EditSpec("PTP_CONFLICT", _C.NECESSITY, _E, "CO-236", "CMS NCCI PTP"),
    EditSpec("NCCI_MODIFIER_MISUSE", _C.NECESSITY, _W, "", "CMS NCCI Policy Manual ch.1"),
    EditSpec("PROCEDURE_NOT_VALID_FOR_PAYER", _C.NECESSITY, _E, "CO-181", "CMS PFS status"),
    EditSpec("PROCEDURE_BUNDLED", _C.NECESSITY, _W, "CO-97", "CMS PFS status"),
    EditSpec("DIAGNOSIS_MISSING", _C.NECESSITY, _E, "CO-16"),
    EditSpec("DIAGNOSIS_NOT_SUPPORTED", _C.NECESSITY, _E, "CO-50"),
    EditSpec("PLAN_OF_CARE_MISSING", _C.NECESSITY, _E, "CO-50", "CMS Pub. 100-02 Ch.15 §220.1"),
    EditSpec("PLAN_OF_CARE_EXPIRED", _C.NECESSITY, _E, "CO-50", "CMS Pub. 100-02 Ch.15 §220.1.3"),
    EditSpec("PLAN_OF_CARE_CERT_LATE", _C.NECESSITY, _W, "CO-50", "CMS Pub. 100-02 Ch.15 §220.1.3"),
    EditSpec("VISIT_LIMIT_EXCEEDED", _C.NECESSITY, _E, "CO-119"),
    EditSpec("AUTHORIZATION_MISSING", _C.NECESSITY, _E, "CO-197"),
    # Severity and CARC come from each payer rule (contract §4: "per rule").
    EditSpec("PAYER_RULE", _C.NECESSITY, _E),
    EditSpec("PROGRESS_REPORT_OVERDUE", _C.NECESSITY, _W, "", "CMS Pub. 100-02 Ch.15 §220.3.D"),
    EditSpec("DOCUMENTATION_INCOMPLETE", _C.NECESSITY, _W, "CO-50"),
    EditSpec("CODE_CHOICE_REVIEW", _C.NECESSITY, _W),
    EditSpec("NPI_INVALID", _C.ENROLLMENT, _E, "CO-16/N290"),
    EditSpec("PROVIDER_NOT_ENROLLED", _C.ENROLLMENT, _E, "CO-B7", "42 CFR 424.520-521"),
    EditSpec("CREDENTIAL_EXPIRED", _C.ENROLLMENT, _E, "CO-B7"),
    EditSpec("PROVIDER_EXCLUDED", _C.ENROLLMENT, _E, "CO-B7"),
    EditSpec("TAXONOMY_MISMATCH", _C.ENROLLMENT, _W),
)

EDIT_CODES: dict[str, EditSpec] = {spec.code: spec for spec in _CATALOGUE}


@dataclass(frozen=True, slots=True)
class Edit:
    code: str
    severity: Severity
    check: CheckName
    line_number: int
    message: str
    carc: str = ""
    reference: str = ""

    def to_json(self) -> dict[str, object]:
        """The contract's JSON shape (§3), every field present."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "check": self.check.value,
            "lineNumber": self.line_number,
            "message": self.message,
            "carc": self.carc,
            "reference": self.reference,
        }


def edit(
    code: str,
    line_number: int,
    message: str,
    *,
    reference: str | None = None,
    severity: Severity | None = None,
    carc: str | None = None,
) -> Edit:
    """Build an edit from the catalogue; an unknown code is a programming error.

    ``severity`` and ``carc`` stand in for the catalogue's where the contract
    leaves them to the rule (PAYER_RULE)."""
    spec = EDIT_CODES[code]
    return Edit(
        code=spec.code,
        severity=spec.severity if severity is None else severity,
        check=spec.check,
        line_number=line_number,
        message=message,
        carc=spec.carc if carc is None else carc,
        reference=spec.reference if reference is None else reference,
    )
