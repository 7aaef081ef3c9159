"""Token-level recall and precision of the free-text redactor on a synthetic
annotated corpus (tests/redaction_corpus.py): several hundred Faker-made
therapy notes in seven templates (and names from three other Faker locales).
The thresholds are the issue's targets; a recall regression below them
fails here.

The rules were tuned by reading misses on corpora of seeds 2026, 5-12 and 99;
the seeds here (31, 47) were not looked at before the floors were set.
"""

from __future__ import annotations

import functools

import pytest

from claimscrub.redaction.known import known_phi
from claimscrub.redaction.text import default_redactor
from tests.redaction_corpus import Note, Scores, generate, score, table

NOTES = 600
SEEDS = (31, 47)

# The targets, and floors for the rest set just under what was measured.
RECALL_FLOORS = {
    "KNOWN": 1.0,  # the claim's own PHI values, every type
    "OTHER_NAME": 0.95,
    "OTHER_DATE": 0.95,
    "NAME": 0.95,
    "DATE": 0.95,
    "PHONE": 0.99,
    "FAX": 0.99,
    "EMAIL": 0.99,
    "SSN": 0.99,
    "MRN": 0.99,
    "MEMBER_ID": 0.99,
    "ACCOUNT": 0.99,
    "ADDRESS": 0.99,
    "CITY": 0.95,
    "ZIP": 0.99,
    "URL": 0.99,
    "IP": 0.99,
    "DEVICE": 0.99,
    "VEHICLE": 0.95,
    "AGE": 0.99,
    "ID": 0.99,
}
PRECISION_FLOOR = 0.98


@functools.cache
def scores() -> Scores:
    redactor = default_redactor()

    def find(note: Note) -> list[tuple[int, int]]:
        return [(s.start, s.end) for s in redactor.find(note.text, known_phi(note.claim))]

    notes = [n for seed in SEEDS for n in generate(NOTES // len(SEEDS), seed)]
    return score(notes, find)


def test_corpus_covers_every_phi_type_and_the_claims_own_values() -> None:
    s = scores()
    for key in RECALL_FLOORS:
        assert s.total[key] >= 50, f"too few {key} tokens in the corpus to measure"


@pytest.mark.parametrize("key", sorted(RECALL_FLOORS))
def test_recall_per_phi_type(key: str) -> None:
    s = scores()
    assert s.recall(key) >= RECALL_FLOORS[key], f"{key} recall fell:\n{table(s)}"


def test_precision() -> None:
    s = scores()
    assert s.precision >= PRECISION_FLOOR, table(s)


def test_no_code_unit_or_minute_token_is_redacted() -> None:
    s = scores()
    assert s.codes_total > 1000
    assert s.codes_redacted == 0, table(s)


def test_print_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    # `pytest -s tests/unit/test_redaction_recall.py` shows the figures.
    with capsys.disabled():
        print(f"\n{NOTES} notes, seeds {SEEDS}\n{table(scores())}")


@pytest.mark.parametrize("locale", ["en_IN", "es_MX", "vi_VN"])
def test_recall_on_names_the_census_lists_lack(locale: str) -> None:
    # Patients and relatives named from Faker's Indian, Mexican and Vietnamese
    # name lists (accents, Nguyễn, Thị), which the US Census 1990 lists
    # mostly lack: other-name recall measured 0.99, 0.99, 0.96.
    redactor = default_redactor()
    notes = generate(150, 31, locale)
    s = score(
        notes,
        lambda n: [(sp.start, sp.end) for sp in redactor.find(n.text, known_phi(n.claim))],
    )
    assert s.recall("KNOWN") == 1.0, table(s)
    assert s.recall("OTHER_NAME") >= 0.93, table(s)
    assert s.precision >= PRECISION_FLOOR, table(s)
