"""A synthetic, annotated corpus of therapy notes, and the token-level scores.

Each note is written from a template with Faker identities (en_US): the
patient, whose PHI is also on the note's claim ("known" values), and other
people, dates, numbers and places that only the text holds. Every PHI piece
is recorded as a span with its type while the note is written, so the truth
never comes from the redactor. Formats vary on purpose: dates in a dozen
styles, names as "First Last", "Last, First", "Mr. Last", ALL CAPS,
possessive, initials; phones in Faker's 25 US formats; identifiers with and
without separators.

``python -m tests.redaction_corpus [N] [LOCALE]`` prints the table for an
N-note corpus (default 500, en_US; e.g. ``300 en_IN`` for names the US Census
lists rarely hold).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from faker import Faker

# Codes, units and minutes a note carries: none of them is PHI.
CPT = ["97110", "97112", "97116", "97140", "97530", "97535", "97150", "97161", "97164", "97035"]
HCPCS = ["G0283", "G0151", "G0157"]
ICD10 = ["M62.81", "R26.89", "M25.561", "S83.511A", "Z96.651", "M54.50", "R26.2", "I69.351"]
MODIFIERS = ["GP", "GO", "KX", "CQ", "59"]


@dataclass(frozen=True, slots=True)
class Truth:
    start: int
    end: int
    type: str
    # One of the claim's own values (patient name, IDs, contact data, dates).
    known: bool


@dataclass
class Note:
    text: str
    spans: list[Truth]
    claim: dict[str, Any]
    # Code/units/minutes tokens that must survive redaction.
    keep: list[tuple[int, int]] = field(default_factory=list)


class _Writer:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[Truth] = []
        self.keep: list[tuple[int, int]] = []
        self.size = 0

    def text(self, s: str) -> _Writer:
        self.parts.append(s)
        self.size += len(s)
        return self

    def phi(self, value: str, type_: str, known: bool = False) -> _Writer:
        self.spans.append(Truth(self.size, self.size + len(value), type_, known))
        return self.text(value)

    def code(self, value: str) -> _Writer:
        self.keep.append((self.size, self.size + len(value)))
        return self.text(value)

    def done(self, claim: dict[str, Any]) -> Note:
        return Note("".join(self.parts), self.spans, claim, self.keep)


_DATE_FORMATS = [
    "{m}/{d}/{Y}",
    "{mm}/{dd}/{Y}",
    "{m}/{d}/{y}",
    "{Y}-{mm}-{dd}",
    "{B} {d}, {Y}",
    "{b} {d}, {Y}",
    "{b}. {d}, {Y}",
    "{d} {B} {Y}",
    "{dd}-{b}-{Y}",
    "{mm}-{dd}-{Y}",
    "{mm}.{dd}.{Y}",
    "{A}, {B} {d}, {Y}",
    "{B} {th}",
    "{b} {d}",
    "the {th} of {B}",
    "{B} {Y}",
]


def fmt_date(day: dt.date, style: str) -> str:
    suffix = "th" if 10 <= day.day <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day.day % 10, "th")
    th = f"{day.day}{suffix}"
    return style.format(
        m=day.month,
        d=day.day,
        mm=f"{day.month:02d}",
        dd=f"{day.day:02d}",
        Y=day.year,
        y=f"{day.year % 100:02d}",
        B=day.strftime("%B"),
        b=day.strftime("%b"),
        A=day.strftime("%A"),
        th=th,
    )


class Identity:
    def __init__(self, fake: Faker, rng: random.Random, names: Faker) -> None:
        self.first = names.first_name()
        self.last = names.last_name()
        self.sex = rng.choice("MF")
        self.birth = fake.date_of_birth(minimum_age=45, maximum_age=99)
        self.dos = fake.date_between(dt.date(2025, 1, 2), dt.date(2026, 6, 30))
        self.member = rng.choice(
            [
                fake.bothify("#?#?#?#??##", letters="ACDEFGHJKMNPQRTUVWXY"),
                fake.bothify("???#########").upper(),
                fake.bothify("W#########"),
            ]
        )
        self.mrn = rng.choice([fake.bothify("MRN-######"), fake.bothify("########")])
        self.phone = fake.phone_number()
        self.email = fake.email()
        self.street = fake.street_address()
        self.city = fake.city()
        self.state = fake.state_abbr(include_territories=False)
        self.zip = fake.zipcode()
        self.ssn = fake.ssn()
        self.claim_id = fake.bothify("CLM-2026-######")


def _claim(p: Identity, codes: Sequence[str]) -> dict[str, Any]:
    return {
        "claimId": p.claim_id,
        "payerId": "MEDICARE",
        "submissionDate": (p.dos + dt.timedelta(days=7)).isoformat(),
        "patient": {
            "memberId": p.member,
            "mrn": p.mrn,
            "firstName": p.first,
            "lastName": p.last,
            "birthDate": p.birth.isoformat(),
            "sex": p.sex,
            "address": {"line1": p.street, "city": p.city, "state": p.state, "zip": p.zip},
            "phone": p.phone,
            "email": p.email,
            "ssn": p.ssn,
        },
        "diagnoses": ["M62.81"],
        "serviceLines": [
            {
                "lineNumber": i + 1,
                "dateOfService": p.dos.isoformat(),
                "procedureCode": code,
                "units": 1,
                "minutes": 15,
            }
            for i, code in enumerate(codes)
        ],
    }


class NoteFactory:
    def __init__(self, seed: int, locale: str = "en_US") -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        # People's names from ``locale``; addresses, phones and the rest stay US.
        self.names = Faker(locale)
        self.names.seed_instance(seed)

    # -- pieces ---------------------------------------------------------------

    def date(self, w: _Writer, day: dt.date, known: bool, *, with_year: bool = False) -> None:
        styles = (
            [s for s in _DATE_FORMATS if "{Y}" in s or "{y}" in s] if with_year else _DATE_FORMATS
        )
        w.phi(fmt_date(day, self.rng.choice(styles)), "DATE", known)

    def patient_name(self, w: _Writer, p: Identity) -> None:
        style = self.rng.randrange(8)
        if style == 0:
            w.phi(p.first, "NAME", True).text(" ").phi(p.last, "NAME", True)
        elif style == 1:
            w.phi(p.last, "NAME", True).text(", ").phi(p.first, "NAME", True)
        elif style == 2:
            w.text("Mr. " if p.sex == "M" else "Ms. ").phi(p.last, "NAME", True)
        elif style == 3:
            w.phi(p.first.upper(), "NAME", True).text(" ").phi(p.last.upper(), "NAME", True)
        elif style == 4:
            w.phi(p.first, "NAME", True)
        elif style == 5:
            w.phi(p.first, "NAME", True).text(" ").phi(p.last, "NAME", True).text("'s")
        elif style == 6:
            w.phi(p.first.lower(), "NAME", True).text(" ").phi(p.last.lower(), "NAME", True)
        else:
            w.text("Mrs. " if p.sex == "F" else "Mr. ").phi(p.first, "NAME", True)
            w.text(" ").phi(p.last, "NAME", True)

    def other_name(self, w: _Writer, *, full: bool | None = None) -> None:
        first, last = self.names.first_name(), self.names.last_name()
        style = self.rng.randrange(5) if full is None else (0 if full else 1)
        if style == 0:
            w.phi(first, "NAME").text(" ").phi(last, "NAME")
        elif style == 1:
            w.phi(first, "NAME")
        elif style == 2:
            w.text(self.rng.choice(["Dr. ", "Mr. ", "Ms. ", "Mrs. "])).phi(last, "NAME")
        elif style == 3:
            w.phi(first[0] + ".", "NAME").text(" ").phi(last, "NAME")
        else:
            w.phi(first, "NAME").text(" ").phi(last[0] + ".", "NAME")

    def codes(self, w: _Writer) -> list[str]:
        picked = self.rng.sample(CPT, 2)
        m1, m2 = self.rng.randint(8, 40), self.rng.randint(8, 40)
        w.code(picked[0]).text(" x").code(str(self.rng.randint(1, 3))).text(" units, ")
        w.code(str(m1)).text(" min; ").code(picked[1]).text(" ").code(str(m2)).text(" minutes")
        w.text(" (").code(self.rng.choice(MODIFIERS)).text("). Dx ").code(self.rng.choice(ICD10))
        w.text(", ").code(self.rng.choice(ICD10)).text(". ")
        if self.rng.random() < 0.4:
            w.text("Supervised modality ").code(self.rng.choice(HCPCS)).text(" 1 unit. ")
        if self.rng.random() < 0.5:
            w.text("Quad strength ").code(f"{self.rng.randint(3, 5)}/5").text(", pain ")
            w.code(f"{self.rng.randint(1, 9)}/10").text(". ")
        w.text(f"Age {self.rng.randint(40, 89)}. ")
        return picked

    # -- templates ------------------------------------------------------------

    def note(self) -> Note:
        p = Identity(self.fake, self.rng, self.names)
        w = _Writer()
        template = self.rng.choice(self._templates())
        codes = template(w, p)
        return w.done(_claim(p, codes))

    def _templates(self) -> list[Callable[[_Writer, Identity], list[str]]]:
        return [
            self._soap,
            self._header_block,
            self._phone_log,
            self._narrative,
            self._letter,
            self._discharge,
            self._bullets,
        ]

    def _soap(self, w: _Writer, p: Identity) -> list[str]:
        w.text("S: ")
        self.patient_name(w, p)
        w.text(" reports knee pain since a fall on ")
        self.date(w, self.fake.date_between(dt.date(2024, 1, 1), p.dos), False)
        w.text(". Lives with ")
        w.text(self.rng.choice(["her daughter ", "his wife ", "a roommate, ", "son "]))
        self.other_name(w)
        w.text(" at ").phi(p.street, "ADDRESS", True).text(", ").phi(p.city, "CITY", True)
        w.text(f", {p.state} ").phi(p.zip, "ZIP", True).text(".\nO: ")
        codes = self.codes(w)
        w.text("Seen ")
        self.date(w, p.dos, True)
        w.text(" by ")
        self.other_name(w, full=True)
        w.text(", PT.\nA: Progressing toward goals. P: continue POC; next visit ")
        self.date(w, p.dos + dt.timedelta(days=self.rng.randint(2, 9)), False)
        w.text(".")
        return codes

    def _header_block(self, w: _Writer, p: Identity) -> list[str]:
        w.text("Patient: ")
        self.patient_name(w, p)
        w.text("\nDOB: ")
        self.date(w, p.birth, True, with_year=True)
        w.text("\nMRN: ").phi(p.mrn, "MRN", True)
        w.text("\nMember ID: ").phi(p.member, "MEMBER_ID", True)
        w.text("\nPhone: ").phi(p.phone, "PHONE", True)
        w.text("\nEmail: ").phi(p.email, "EMAIL", True)
        w.text("\nDate of service: ")
        self.date(w, p.dos, True, with_year=True)
        w.text("\nEmergency contact: ")
        self.other_name(w, full=True)
        w.text(", ").phi(self.fake.phone_number(), "PHONE")
        w.text("\nReferring physician: Dr. ")
        self.other_name(w, full=True)
        w.text(", fax ").phi(self.fake.phone_number(), "FAX")
        w.text("\nTreatment: ")
        codes = self.codes(w)
        age = self.rng.randint(90, 104)
        if self.rng.random() < 0.5:
            w.text("\nPatient is a ").phi(f"{age}-year-old", "AGE").text(" with falls.")
        return codes

    def _phone_log(self, w: _Writer, p: Identity) -> list[str]:
        w.text("Phone call ")
        self.date(w, p.dos, True)
        w.text(": spoke with ")
        self.other_name(w)
        w.text(self.rng.choice([" (daughter)", " (caregiver)", ", the patient's son,", ""]))
        w.text(" about ")
        self.patient_name(w, p)
        w.text(". Call back at ").phi(self.fake.phone_number(), "PHONE")
        w.text(" or e-mail ").phi(self.fake.email(), "EMAIL").text(". Portal link ")
        w.phi(self.fake.uri(), "URL").text(" sent; login from IP ")
        w.phi(self.fake.ipv4_public(), "IP").text(". Member ")
        w.phi(p.member, "MEMBER_ID", True).text(", SSN ").phi(p.ssn, "SSN", True).text(". ")
        codes = self.codes(w)
        w.text("Acct #").phi(self.fake.bothify("########"), "ACCOUNT").text(".")
        return codes

    def _narrative(self, w: _Writer, p: Identity) -> list[str]:
        age = self.rng.randint(90, 104)
        w.phi(f"{age} y/o", "AGE").text(" ").text("female" if p.sex == "F" else "male")
        w.text(" (")
        self.patient_name(w, p)
        w.text(", DOB ")
        self.date(w, p.birth, True, with_year=True)
        w.text(") s/p TKA on ")
        self.date(w, self.fake.date_between(dt.date(2024, 6, 1), p.dos), False)
        w.text(" at ").text(self.rng.choice(["St. Mary", "County General", "Mercy"]))
        w.text(" Hospital. Uses a walker, serial no. ").phi(
            self.fake.bothify("WK-####-??"), "DEVICE"
        )
        w.text(". Today ")
        self.date(w, p.dos, True)
        w.text(": ")
        codes = self.codes(w)
        w.text("Her neighbor ")
        self.other_name(w, full=True)
        w.text(" drives her from ").phi(self.fake.street_address(), "ADDRESS").text(", ")
        w.phi(self.fake.city(), "CITY").text(f", {self.fake.state_abbr()} ")
        w.phi(self.fake.zipcode(), "ZIP").text(". ")
        self.other_name(w, full=True)
        w.text(" (PTA) assisted.")
        return codes

    def _letter(self, w: _Writer, p: Identity) -> list[str]:
        w.text("RE: ")
        self.patient_name(w, p)
        w.text(", claim ").phi(p.claim_id, "ID", True).text("\n")
        self.date(w, p.dos + dt.timedelta(days=3), False, with_year=True)
        w.text("\n\nDear Dr. ")
        w.phi(self.names.last_name(), "NAME")
        w.text(",\nYour patient was evaluated on ")
        self.date(w, p.dos, True)
        w.text(". Home address on file: ").phi(p.street, "ADDRESS", True).text(", ")
        w.phi(p.city, "CITY", True).text(f", {p.state} ").phi(p.zip, "ZIP", True)
        w.text(". Reach the family at ").phi(p.phone, "PHONE", True)
        w.text(" or ").phi(p.email, "EMAIL", True).text(". ")
        codes = self.codes(w)
        w.text("Sincerely,\n")
        self.other_name(w, full=True)
        w.text(", DPT")
        return codes

    def _discharge(self, w: _Writer, p: Identity) -> list[str]:
        w.text("DISCHARGE SUMMARY\n")
        w.phi(p.last, "NAME", True).text(", ").phi(p.first, "NAME", True)
        age = self.rng.randint(60, 104)
        if age >= 90:
            w.text(" (").phi(f"{age} yo", "AGE").text(f" {p.sex})")
        else:
            w.text(f" ({age} yo {p.sex})")
        w.text("\nAdmitted ")
        self.date(w, p.dos - dt.timedelta(days=self.rng.randint(20, 60)), False)
        w.text(", discharged ")
        self.date(w, p.dos, True)
        w.text(". Attending: ")
        self.other_name(w, full=True)
        w.text(", MD. PCP Dr. ").phi(self.names.last_name(), "NAME").text(". ")
        w.phi(self.names.first_name(), "NAME")
        w.text(self.rng.choice([" (husband)", " (wife)", ", her sister,", ", his partner,"]))
        w.text(" will assist at home. Follow-up with ")
        self.other_name(w, full=True)
        w.text(", OT on ")
        self.date(w, p.dos + dt.timedelta(days=14), False)
        w.text(". ")
        codes = self.codes(w)
        w.text("Home: ").phi(p.street, "ADDRESS", True).text(", ").phi(p.city, "CITY", True)
        w.text(f", {p.state} ").phi(p.zip, "ZIP", True).text(". Parking placard for plate ")
        w.phi(self.fake.license_plate(), "VEHICLE").text(".")
        return codes

    def _bullets(self, w: _Writer, p: Identity) -> list[str]:
        w.text("Visit note - ")
        self.date(w, p.dos, True, with_year=True)
        w.text("\n- ")
        w.phi(p.last if self.rng.random() < 0.5 else p.first, "NAME", True)
        w.text(" tolerated session well; ")
        w.phi(self.names.first_name(), "NAME").text(" (aide) present.\n- ")
        codes = self.codes(w)
        w.text("\n- HEP reviewed with ").phi(self.names.first_name(), "NAME")
        w.text(". Next visit on ").phi(f"{p.dos.month}/{min(28, p.dos.day + 2)}", "DATE")
        w.text(".\n- Chart ").phi(p.mrn, "MRN", True).text("; Medicare no. ")
        w.phi(p.member, "MEMBER_ID", True).text("\n- Telehealth link ")
        w.phi(self.fake.url(), "URL").text(" from ").phi(self.fake.ipv6(), "IP").text(".")
        return codes


def generate(n: int, seed: int = 2026, locale: str = "en_US") -> list[Note]:
    """``locale``: Faker's, for names the US Census lists may lack (en_IN, vi_VN)."""
    factory = NoteFactory(seed, locale)
    return [factory.note() for _ in range(n)]


# -- scoring -----------------------------------------------------------------

_TOKEN = re.compile(r"\w+")


@dataclass
class Scores:
    total: Counter[str] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    predicted: int = 0
    true_positive: int = 0
    codes_total: int = 0
    codes_redacted: int = 0

    def recall(self, key: str) -> float:
        return self.caught[key] / self.total[key] if self.total[key] else 1.0

    @property
    def precision(self) -> float:
        return self.true_positive / self.predicted if self.predicted else 1.0


def _covered(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(s <= start and end <= e for s, e in spans)


def _touched(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


def score(notes: Iterable[Note], find: Callable[[Note], Sequence[tuple[int, int]]]) -> Scores:
    """Token-level scores: a PHI token is caught when found spans cover it
    whole; a token is predicted when a found span touches it."""
    s = Scores()
    for note in notes:
        found = find(note)
        for m in _TOKEN.finditer(note.text):
            a, b = m.span()
            truth = next((t for t in note.spans if t.start <= a and b <= t.end), None)
            predicted = _touched(a, b, found)
            if predicted:
                s.predicted += 1
                s.true_positive += truth is not None
            if truth is not None:
                caught = _covered(a, b, found)
                keys = [truth.type, "ALL"]
                keys.append("KNOWN" if truth.known else f"OTHER_{truth.type}")
                for key in keys:
                    s.total[key] += 1
                    s.caught[key] += caught
            elif _covered(a, b, note.keep):
                s.codes_total += 1
                s.codes_redacted += predicted
    return s


def table(s: Scores) -> str:
    rows = ["| PHI type | tokens | recall |", "|---|---:|---:|"]
    order = sorted(k for k in s.total if k not in ("ALL", "KNOWN") and not k.startswith("OTHER_"))
    for key in [*order, "KNOWN", "OTHER_NAME", "OTHER_DATE", "ALL"]:
        label = {
            "KNOWN": "claim's own values (all types)",
            "OTHER_NAME": "other names",
            "OTHER_DATE": "other dates",
            "ALL": "all PHI",
        }.get(key, key)
        rows.append(f"| {label} | {s.total[key]} | {s.recall(key):.4f} |")
    rows.append(f"| precision (tokens redacted that are PHI) | {s.predicted} | {s.precision:.4f} |")
    rows.append(f"| codes, units, minutes redacted | {s.codes_total} | {s.codes_redacted} |")
    return "\n".join(rows)


def main() -> int:
    from claimscrub.redaction.known import known_phi
    from claimscrub.redaction.text import default_redactor

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    locale = sys.argv[2] if len(sys.argv) > 2 else "en_US"
    notes = generate(n, 31, locale)
    redactor = default_redactor()

    def find(note: Note) -> list[tuple[int, int]]:
        return [(sp.start, sp.end) for sp in redactor.find(note.text, known_phi(note.claim))]

    print(f"{n} notes ({locale}), {sum(len(x.text) for x in notes)} characters")
    print(table(score(notes, find)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
