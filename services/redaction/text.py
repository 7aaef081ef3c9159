"""Free-text redaction: every PHI span replaced by a ``[TYPE]`` placeholder.

Recognizers (all rules are data, see rules.py): the claim's own known values
(known.py), regexes for dates, phone/fax, e-mail, SSN, identifiers behind
their labels (MRN, account, member ID, licence, plate, serial), Medicare
Beneficiary Identifiers, street addresses, cities and ZIPs in address form,
URLs, IP addresses and ages over 89, and the name finder (names.py).
Procedure codes (97530, G0283), ICD-10 codes (M62.81), units and minutes
match none of them and survive.

The log processor of every service (runtime/logs.py) uses the same rules
through :func:`log_redactor`, which also keeps code identifiers (library class
names such as ``AIOKafkaConsumer``) that would otherwise read as rare surnames.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claimscrub.redaction.known import KnownPhi, known_phi
from claimscrub.redaction.names import NameFinder
from claimscrub.redaction.rules import NameRules, TextRules, name_rules, text_rules
from claimscrub.redaction.spans import Span, merge

_TRAILING_PUNCTUATION = ".,;:!?"
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class Redacted:
    text: str
    # Spans removed, by type: counts only, never values.
    counts: Mapping[str, int]


def _holds_a_label(lowered: str, labels: tuple[tuple[str, ...], ...]) -> bool:
    for label in labels:
        for word in label:  # longest first: the rarest, most often absent
            if word not in lowered:
                break
        else:
            return True
    return False


def digit_led(gate: re.Pattern[str]) -> bool:
    """Whether every match of ``gate`` starts with a digit: it opens with
    ``\\d`` and has no alternation that could start otherwise."""
    return gate.pattern.startswith("\\d") and "|" not in gate.pattern


# A search walks every character; trying a match at one position costs
# about as much as a search over this many characters.
_TRIES_PER_SEARCH_CHAR = 20


def digit_positions(text: str) -> list[int]:
    """Where ``text``'s digits are, as :func:`digit_gate_passes` needs them:
    all of them where they are few, else only enough to tell that they are many."""
    limit = len(text) // _TRIES_PER_SEARCH_CHAR
    out: list[int] = []
    for m in _DIGIT.finditer(text):
        out.append(m.start())
        if len(out) > limit:
            break
    return out


def digit_gate_passes(gate: re.Pattern[str], text: str, digits: list[int]) -> bool:
    """``gate.search(text) is not None`` for a :func:`digit_led` gate, given
    :func:`digit_positions` of ``text``.

    A match can only start at a digit, so where digits are few the gate is
    tried at each of them; otherwise it is searched from the first one.
    """
    if not digits:
        return False
    if len(digits) * _TRIES_PER_SEARCH_CHAR <= len(text):
        return any(gate.match(text, i) for i in digits)
    return gate.search(text, digits[0]) is not None


class Redactor:
    def __init__(
        self, rules: TextRules, names: NameRules, *, code_identifiers: bool = False
    ) -> None:
        self._rules = rules
        self._names = NameFinder(names, code_identifiers=code_identifiers)
        self._digit_led = frozenset(
            p.gate for p in rules.patterns if p.gate is not None and digit_led(p.gate)
        )

    def find(self, text: str, known: KnownPhi | None = None) -> list[Span]:
        """The PHI spans of ``text``, merged so that none overlap."""
        if not text:
            return []
        spans: list[Span] = []
        protected = known.protected if known is not None else frozenset()
        # Patterns share gates (a month name, five digits): each scanned once.
        gates: dict[re.Pattern[str], bool] = {}
        digits: list[int] | None = None  # where the text's digits are, once needed
        # Case-blind matching can pair a non-ASCII character with an ASCII
        # letter (the Kelvin sign with k), which lower() would not: word gates
        # apply to ASCII text only.
        lowered = text.lower() if text.isascii() else None
        for pattern in self._rules.patterns:
            gate = pattern.gate
            if gate is not None:
                found = gates.get(gate)
                if found is None:
                    if gate in self._digit_led:
                        if digits is None:
                            digits = digit_positions(text)
                        found = digit_gate_passes(gate, text, digits)
                    else:
                        found = gate.search(text) is not None
                    gates[gate] = found
                if not found:
                    continue
            if (
                pattern.gate_words
                and lowered is not None
                and not _holds_a_label(lowered, pattern.gate_words)
            ):
                continue
            for m in pattern.regex.finditer(text):
                groups = [
                    (name, m.start(name), m.end(name))
                    for name in pattern.regex.groupindex
                    if m.group(name) is not None and name.isupper()
                ]
                if not pattern.regex.groupindex and pattern.type is not None:
                    groups = [(pattern.type, m.start(), m.end())]
                for type_, start, end in groups:
                    if type_ == "URL":
                        while end > start and text[end - 1] in _TRAILING_PUNCTUATION:
                            end -= 1
                    value = text[start:end]
                    if value in self._rules.not_phi.get(type_, ()) or value in protected:
                        continue
                    if pattern.needs_digit and not any(c.isdigit() for c in value):
                        continue
                    if pattern.retype is not None:
                        new_type, before = pattern.retype
                        if before.search(text[max(0, start - 40) : start]):
                            type_ = new_type
                    spans.append(Span(start, end, type_))
        taken = [(s.start, s.end) for s in merge(spans, self._rules.priority)]
        spans.extend(
            s
            for s in self._names.find(text, taken)
            if text[s.start : s.end].upper() not in protected
        )
        if known is not None and not known.empty:
            spans.extend(known.find(text))
        return merge(spans, self._rules.priority)

    def placeholder(self, type_: str) -> str:
        return self._rules.placeholders.get(type_, f"[{type_}]")

    def redact(self, text: str, known: KnownPhi | None = None) -> Redacted:
        spans = self.find(text, known)
        if not spans:
            return Redacted(text, {})
        parts: list[str] = []
        last = 0
        for s in spans:
            parts.append(text[last : s.start])
            parts.append(self.placeholder(s.type))
            last = s.end
        parts.append(text[last:])
        return Redacted("".join(parts), dict(Counter(s.type for s in spans)))


@functools.cache
def default_redactor() -> Redactor:
    """The redactor with the bundled rules, built once per process."""
    return Redactor(text_rules(), name_rules())


@functools.cache
def log_redactor() -> Redactor:
    """The redactor for log lines: the bundled rules, keeping code identifiers
    (:class:`~claimscrub.redaction.names.NameFinder`), built once per process."""
    return Redactor(text_rules(), name_rules(), code_identifiers=True)


def redact_log_text(text: str) -> str:
    """A log line's ``text`` with its PHI replaced (no claim: free text only)."""
    return log_redactor().redact(text).text


def redact_text(text: str, claim: Mapping[str, Any] | None = None) -> str:
    """``text`` with its PHI replaced; ``claim`` (contract JSON) adds its known values."""
    known = known_phi(claim) if claim is not None else None
    return default_redactor().redact(text, known).text
