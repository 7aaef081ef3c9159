"""Gates only skip work: a gated pattern is skipped on a text only when it
could not have matched there, so the redactor finds exactly what it found
without them."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from claimscrub.bench.claims import make_claims
from claimscrub.redaction.known import known_phi
from claimscrub.redaction.rules import TextRules, name_rules, text_rules
from claimscrub.redaction.text import (
    Redactor,
    default_redactor,
    digit_gate_passes,
    digit_led,
    digit_positions,
)
from tests.redaction_corpus import Note, generate


@functools.cache
def corpus() -> list[Note]:
    return [n for seed in (5, 99) for n in generate(250, seed)] + generate(100, 7, "en_IN")


def ungated() -> Redactor:
    rules = text_rules()
    bare = tuple(dataclasses.replace(p, gate=None, gate_words=()) for p in rules.patterns)
    bare_rules = TextRules(bare, rules.priority, rules.placeholders, rules.not_phi)
    return Redactor(bare_rules, name_rules())


def _holds_gate(pattern: object, matched: str) -> bool:
    gate = getattr(pattern, "gate", None)
    words = getattr(pattern, "gate_words", ())
    if gate is not None and gate.search(matched) is None:
        return False
    lowered = matched.lower()
    return not words or any(all(w in lowered for w in label) for label in words)


# At least one text for every form of every gated pattern, beside the corpus.
EXAMPLES = [
    "SSN 123 45 6789 and 123-45-6789; social security no. 123456789",
    "mail a.b@example.org, see https://x.org/a or www.example.com or portal.health/x",
    "host 10.1.2.3 and fe80::1:2 and ::1 and 2001:db8::7",
    "call (212) 555-0100 ext 4 or 2125550100; DOB: 19990504; seen 4/5; on 04/05/2026, 2026-05-04",
    "on May 3rd, 2026 and the 4th of June 2026 and 04-Jun-2026 and June 2026",
    "a 95 yo; age: 91; 12 Main St Apt 4, Springfield, IL 62704; PO Box 9; lives in Dayton, Ohio",
    "IL 62704; zip code 62704; 12A Main St; 100 3rd Ave",
    "MRN: A12345; acct no 55512; member id W123456789; DL# D1234567; plate TRB G64; "
    "S/N 12AB34; patient id 778899; MBI 1EG4-TE5-MK73; AB12345678",
]


def test_every_match_of_a_gated_pattern_holds_its_gate() -> None:
    gated = [p for p in text_rules().patterns if p.gate is not None or p.gate_words]
    assert len(gated) >= 25
    matched: Counter[str] = Counter()
    for text in EXAMPLES + [n.text for n in corpus()]:
        for p in gated:
            for m in p.regex.finditer(text):
                assert _holds_gate(p, m.group()), (p.name, m.group())
                matched[p.name] += 1
    # The check is only as good as the matches it saw: every gated pattern must match.
    assert not {p.name for p in gated} - set(matched)


def test_gated_and_ungated_redaction_find_the_same_spans_in_the_corpus() -> None:
    fast, slow = default_redactor(), ungated()
    for note in corpus():
        known = known_phi(note.claim)
        assert fast.find(note.text, known) == slow.find(note.text, known)


def test_and_in_the_bench_notes_which_most_gates_skip() -> None:
    fast, slow = default_redactor(), ungated()
    for claim in make_claims(200, "G"):
        assert fast.find(claim["note"]) == slow.find(claim["note"])


# Pieces of PHI and near-misses, with the characters case-blind matching
# pairs with ASCII letters (Kelvin sign, long s, dotted capital I).
pieces = st.sampled_from(
    [
        " ", "\n", ", ", ": ", "#", "-", "/", ".", "MRN", "mrn", "Acct", "ACCOUNT no", "member id",
        "Medicare", "policy number", "\u212aey", "\u017ferial no", "S/N", "plate", "VIN",
        "DOB", "Patient ID", "May", "3rd", "of", "June", "2026", "1999", "04/05", "20260504",
        "555", "123-45-6789", "123 45 6789",
        "(212) 555-0100", "5550100", "90210", "Springfield", "IL",
        "Ohio", "12 Main St", "PO Box 9", "95 yo", "age 91", "fe80::1", "10.0.0.1",
        "a@b.co", "www.x.org", "ab.com/x", "1EG4-TE5-MK73", "AB12345678", "\u0130D", "x10",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(pieces, min_size=1, max_size=14).map("".join))
def test_gated_and_ungated_agree_on_any_mix_of_phi_pieces(text: str) -> None:
    assert default_redactor().find(text) == _UNGATED.find(text)


_UNGATED = ungated()


def _digit_gates() -> list[re.Pattern[str]]:
    gates = {p.gate for p in text_rules().patterns if p.gate is not None}
    return sorted((g for g in gates if digit_led(g)), key=lambda g: g.pattern)


def test_digit_led_gates_are_those_whose_matches_start_with_a_digit() -> None:
    assert digit_led(re.compile(r"\d{4}")) and digit_led(re.compile(r"\d[/.-]\d"))
    assert not digit_led(re.compile(r"9\d|1[01]\d"))  # starts with a digit, but not as \d
    assert not digit_led(re.compile(r"\d{3}|x\d"))
    assert not digit_led(re.compile(r"[0-9a-f]:[0-9a-f:]|::"))
    assert len(_digit_gates()) >= 8


def _check_digit_gates(text: str) -> None:
    digits = digit_positions(text)
    for gate in _digit_gates():
        assert digit_gate_passes(gate, text, digits) == (gate.search(text) is not None), (
            gate.pattern,
            text,
        )


def test_a_digit_gate_tried_at_the_digits_answers_as_its_search_on_the_corpus() -> None:
    for text in EXAMPLES + [n.text for n in corpus()]:
        _check_digit_gates(text)


def test_and_on_the_bench_notes_which_have_few_digits() -> None:
    for claim in make_claims(200, "DG"):
        _check_digit_gates(claim["note"])


# Few digits in much text (tried at each digit) and many (searched from the
# first): both ways, with the separators the gates look for.
_DIGIT_PIECES = ["1", "23", "4567", "89012", " ", "-", ".", "/", "\t", "A", "b", "\u0663"]
_FILLER = "patient tolerated sit-to-stand transfers with minimal assistance "


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*_DIGIT_PIECES, _FILLER]), max_size=40).map("".join))
def test_a_digit_gate_tried_at_the_digits_answers_as_its_search(text: str) -> None:
    _check_digit_gates(text)
