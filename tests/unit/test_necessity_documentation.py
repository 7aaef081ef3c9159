"""97530 documentation elements and the strengthening/ROM/endurance code-choice detector
(domain §5). Notes here are written for the test; edits must never echo them."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from claimscrub.core.edits import Edit
from claimscrub.necessity.documentation import (
    _SENTENCE_END,
    Detector,
    DocumentationRules,
    Note,
    finds,
    parse_documentation,
)
from claimscrub.necessity.reference import NecessityReference
from tests.unit.necessity_support import FULL_97530_NOTE, base_claim, codes, line, run


def _97530(note: str | None) -> list[tuple[str, int]]:
    return codes(_edits(note))


def _edits(note: str | None) -> list[Edit]:
    data = base_claim(serviceLines=[line(1, "97530", "GP", units=2, minutes=30)], note=note)
    return run(data)


def test_a_note_showing_every_element_is_complete() -> None:
    assert _97530(FULL_97530_NOTE) == []


def test_no_note_lists_every_element() -> None:
    edits = _edits(None)
    assert codes(edits) == [("DOCUMENTATION_INCOMPLETE", 1)]
    for label in (
        "specific functional activity",
        "functional limitation addressed",
        "direct minutes",
        "level of assistance",
        "patient response",
        "objective progress",
        "need for skilled therapy",
    ):
        assert label in edits[0].message


@pytest.mark.parametrize(
    ("replaced", "label"),
    [
        (
            {
                "min assist, verbal cues for hip hinge": "hip hinge practice",
                "transfers now with contact guard": "sit-to-stand time improved from 20 s to 14 s",
            },
            "level of assistance",
        ),
        ({"30 min ": ""}, "direct minutes"),
        (
            {"Skilled facilitation needed for safe body mechanics.": ""},
            "need for skilled therapy",
        ),
        ({"transfers now with contact guard": "contact guard"}, "objective progress"),
        ({" to address difficulty with transfers": ""}, "functional limitation addressed"),
    ],
)
def test_each_missing_element_is_named(replaced: dict[str, str], label: str) -> None:
    note = FULL_97530_NOTE
    for old, new in replaced.items():
        assert old in note
        note = note.replace(old, new)
    edits = _edits(note)
    assert codes(edits) == [("DOCUMENTATION_INCOMPLETE", 1)]
    assert edits[0].message == f"the 97530 note does not show: {label}"


def test_a_negated_phrase_does_not_count() -> None:
    note = FULL_97530_NOTE.replace(
        "transfers now with contact guard", "no improvement in transfer quality"
    )
    edits = _edits(note)
    assert edits[0].message == "the 97530 note does not show: objective progress"


def test_strengthening_without_a_functional_task_reads_as_97110() -> None:
    note = (
        "Therapeutic activities 30 min direct one-on-one: leg press and knee range of motion "
        "exercises for strength and endurance; weakness limits her function. Independent. "
        "Tolerated well. Knee flexion improved from 100 to 110 degrees. Skilled progression needed."
    )
    edits = _edits(note)
    assert codes(edits) == [("CODE_CHOICE_REVIEW", 1)]
    assert "consider 97110" in edits[0].message


def test_strengthening_inside_a_functional_task_is_97530() -> None:
    note = FULL_97530_NOTE + " Lifting progressed to build strength for carrying groceries."
    assert _97530(note) == []


def test_code_choice_and_other_missing_elements_together() -> None:
    note = "Leg press and stretching for strength. Tolerated well."
    edits = _edits(note)
    assert codes(edits) == [("CODE_CHOICE_REVIEW", 1), ("DOCUMENTATION_INCOMPLETE", 1)]
    incomplete = edits[1].message
    assert "specific functional activity" not in incomplete  # said by CODE_CHOICE_REVIEW
    assert "direct minutes" in incomplete


def test_only_codes_with_documentation_rules_are_read() -> None:
    assert run(base_claim(note=None)) == []  # 97110


def test_edits_never_echo_the_note() -> None:
    note = (
        "Ada Lovelace of 12 Elm St, seen 2026-05-04, MRN-88123: leg press for strength; "
        "pt Ada tolerated."
    )
    for e in _edits(note):
        for secret in ("Ada", "Lovelace", "Elm", "2026-05-04", "MRN-88123", "leg press"):
            assert secret not in e.message


# --- the one-scan matcher gives the sentence-by-sentence definition's answer ---------

_DEFINITION_SENTENCE_END = re.compile(r"[.!?;\n]+(?:\s|$)|\n")
_DEFINITION_WORD = re.compile(r"[a-z']+")


def _by_definition(text: str, detector: Detector, rules: DocumentationRules) -> bool:
    """The detector as documented: per sentence, a phrase starting a word and not
    negated within the window, or a pattern."""
    sentences = [s for s in _DEFINITION_SENTENCE_END.split(text.lower()) if s.strip()]
    for sentence in sentences:
        if detector.phrases is not None:
            for match in detector.phrases.finditer(sentence):
                before = _DEFINITION_WORD.findall(sentence[: match.start()])[-rules.window :]
                if not detector.negatable or not any(w in rules.negators for w in before):
                    return True
        if any(p.search(sentence) for p in detector.patterns):
            return True
    return False


# Overlapping phrases, a phrase inside another, phrases that cross a sentence end
# or start with punctuation: the cases where one scan and the sentences could part.
_EDGE_RULES = parse_documentation(
    {
        "negators": {"words": ["no", "not", "did not"], "window": 2},
        "detectors": {
            "overlap": {
                "label": "overlap",
                "negatable": True,
                "phrases": ["car transfer", "transfer", "sit to stand", "stand", "to s", "a"],
            },
            "crossing": {
                "label": "crossing",
                "negatable": True,
                "phrases": ["pain. no", "ok;", "walk", "-gait", "'s gait"],
            },
            "plain": {
                "label": "plain",
                "negatable": False,
                "phrases": ["assist", "assisted by", "b. c", "min"],
                "patterns": ["^min", "\\d+\\s*min"],
            },
        },
        "codes": {},
    },
    "edge rules",
)

_WORDS = [
    "car", "transfer", "transfers", "sit", "to", "stand", "stands", "pain", "no", "not",
    "did", "ok", "walk", "-gait", "'s", "gait", "assist", "assisted", "by", "b", "c", "min",
    "30", "a", "from", "rom", "strength", "tolerated", "improved", "independent", "lift",
    "İ", "ß", "Ü",
]  # fmt: skip
_GAPS = [" ", "  ", ". ", "; ", "!\n", "\n", ".", "? ", ", ", "-", "'", ".\t", ";"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_WORDS), st.sampled_from(_GAPS)), max_size=25))
# "stand" inside a negated "sit to stand" is no match of its own
@example([("no", " "), ("sit", " "), ("to", " "), ("stand", "")])
# "pain. no" crosses a sentence end; "walk" after it is negated only in one sentence
@example([("pain", ". "), ("no", " "), ("walk", ".")])
@example([("İ", " "), ("no", " "), ("car", " "), ("transfer", "; "), ("assist", "")])
def test_one_scan_gives_the_sentence_by_sentence_answer(parts: list[tuple[str, str]]) -> None:
    text = "".join(w + g for w, g in parts)
    bundled = NecessityReference.load().documentation
    for rules in (bundled, _EDGE_RULES):
        note = Note(text)
        for detector in rules.detectors.values():
            assert finds(note, detector, rules) == _by_definition(text, detector, rules), (
                detector.name
            )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=".!?;\n \t\r\x0b\u2028\u00a0ab", max_size=14))
def test_sentence_ends_are_the_documented_pattern(text: str) -> None:
    spans = [m.span() for m in _SENTENCE_END.finditer(text)]
    assert spans == [m.span() for m in _DEFINITION_SENTENCE_END.finditer(text)]
