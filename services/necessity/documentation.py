"""Documentation detectors: explainable phrase lists, no language model.

Each detector answers one question about a treatment note ("does it state a
level of assistance?") from the phrase lists in ``data/documentation.json``.
A detector finds its element when one of its phrases starts a word of the
note, case-insensitive ("transfer" finds "transfers"), or one of its regular
expressions matches. A negatable detector ignores a phrase preceded, within
its sentence, by a negator among the last few words ("no improvement").

The detectors return element names only. Nothing here returns, logs or
stores any part of the note: edits name the missing elements by their labels.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from claimscrub.core.payers import ReferenceDataError

# A sentence ends at a run of .!?;\n followed by whitespace or the end, or at a
# lone newline: r"[.!?;\n]+(?:\s|$)|\n", written to start with a character
# class so the regex engine skips ordinary text quickly (same matches, 3x faster).
_SENTENCE_END = re.compile(r"[.!?;\n](?:[.!?;\n]*(?:\s|$)|(?<=\n))")
_WORD = re.compile(r"[a-z']+")


@dataclass(frozen=True, slots=True)
class Detector:
    name: str
    label: str
    phrases: re.Pattern[str] | None
    patterns: tuple[re.Pattern[str], ...]
    negatable: bool
    #: The same phrases as one scan over the whole note (:func:`_phrase_scan`);
    #: None: sentence by sentence with ``phrases`` only.
    scan: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class CodeChoice:
    reads_as: str
    unless: str
    consider: str
    describes: str


@dataclass(frozen=True, slots=True)
class CodeDocumentation:
    code: str
    elements: tuple[str, ...]
    code_choice: CodeChoice | None


@dataclass(frozen=True, slots=True)
class DocumentationRules:
    detectors: Mapping[str, Detector]
    negators: frozenset[str]
    window: int
    by_code: Mapping[str, CodeDocumentation]

    def label(self, element: str) -> str:
        return self.detectors[element].label


class Note:
    """A note prepared once for every detector: lower-cased, split into sentences."""

    __slots__ = ("_cache", "_scan_text", "_sentences", "_spans", "_starts")

    def __init__(self, text: str) -> None:
        # One leading space: the scan pattern consumes the character before a
        # phrase, so a phrase at the very start of the note needs one too.
        scan_text = " " + text.lower()
        # Sentences are the pieces _SENTENCE_END.split leaves that are not
        # blank; their spans let a detector scan the whole note once (see
        # _phrase_scan). Bounds: start, each separator's start and end, end.
        bounds = [1]
        for m in _SENTENCE_END.finditer(scan_text, 1):
            bounds += m.span()
        bounds.append(len(scan_text))
        self._spans = [
            (a, b)
            for a, b in zip(bounds[0::2], bounds[1::2], strict=True)
            if scan_text[a:b].strip()
        ]
        self._starts = [a for a, _ in self._spans]
        self._scan_text = scan_text
        self._sentences: list[str] | None = None
        self._cache: dict[str, bool] = {}

    @property
    def sentences(self) -> list[str]:
        if self._sentences is None:
            self._sentences = [self._scan_text[a:b] for a, b in self._spans]
        return self._sentences


def _negated(sentence: str, start: int, negators: frozenset[str], window: int) -> bool:
    before = _WORD.findall(sentence[:start])[-window:]
    return any(word in negators for word in before)


def _phrase_in_sentences(note: Note, detector: Detector, rules: DocumentationRules) -> bool:
    """The definition: a phrase match, not negated, in some sentence."""
    assert detector.phrases is not None
    for sentence in note.sentences:
        for match in detector.phrases.finditer(sentence):
            if not detector.negatable or not _negated(
                sentence, match.start(), rules.negators, rules.window
            ):
                return True
    return False


def _phrase_scan(note: Note, detector: Detector, rules: DocumentationRules) -> bool:
    """:func:`_phrase_in_sentences` from one scan of the whole note.

    The scan reports every position where a phrase starts a word, with the
    phrase ``phrases`` would match there; keeping those that do not overlap
    the previous one gives ``phrases.finditer``'s matches over the whole
    note. While each lies inside one sentence they are exactly the
    sentence-by-sentence matches, in order (phrases are plain text, so one
    that fits a sentence is chosen the same way in the whole note). A match
    across a sentence boundary, which no bundled phrase can make, falls back
    to the definition.
    """
    assert detector.scan is not None
    text = note._scan_text
    starts = note._starts
    last_end = 0
    for match in detector.scan.finditer(text):
        start, end = match.span(1)
        if start < last_end:
            continue
        last_end = end
        i = bisect.bisect_right(starts, start) - 1  # the sentence holding the match
        if i < 0 or end > note._spans[i][1]:
            return _phrase_in_sentences(note, detector, rules)
        if not detector.negatable:
            return True
        # The words before the phrase in its sentence (findall's bounds slice).
        before = _WORD.findall(text, starts[i], start)[-rules.window :]
        if rules.negators.isdisjoint(before):
            return True
    return False


def finds(note: Note, detector: Detector, rules: DocumentationRules) -> bool:
    """Whether ``note`` shows the detector's element."""
    cached = note._cache.get(detector.name)
    if cached is not None:
        return cached
    if detector.scan is not None:
        found = _phrase_scan(note, detector, rules)
    elif detector.phrases is not None:
        found = _phrase_in_sentences(note, detector, rules)
    else:
        found = False
    if not found and detector.patterns:
        found = any(p.search(s) for s in note.sentences for p in detector.patterns)
    note._cache[detector.name] = found
    return found


def missing_elements(note: Note, code: CodeDocumentation, rules: DocumentationRules) -> list[str]:
    return [e for e in code.elements if not finds(note, rules.detectors[e], rules)]


def reads_as_other_code(note: Note, code: CodeDocumentation, rules: DocumentationRules) -> bool:
    """The code-choice detector: the note shows the other service and not this one's."""
    choice = code.code_choice
    if choice is None:
        return False
    return finds(note, rules.detectors[choice.reads_as], rules) and not finds(
        note, rules.detectors[choice.unless], rules
    )


# --- loading -------------------------------------------------------------------


def _phrase_alternation(phrases: Iterable[str]) -> str | None:
    cleaned = sorted({p.strip().lower() for p in phrases if p.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    return "(?:" + "|".join(re.escape(p) for p in cleaned) + ")"


def _phrase_regex(phrases: Iterable[str]) -> re.Pattern[str] | None:
    alternation = _phrase_alternation(phrases)
    if alternation is None:
        return None
    # A phrase must start a word (not "rom" inside "from"); it may end mid-word.
    return re.compile(r"(?<![a-z0-9])" + alternation)


def _trie(phrases: Iterable[str]) -> str:
    """The phrases as one regex that, at any position, matches the longest phrase
    starting there, as the longest-first alternation of ``_phrase_regex`` does,
    but branching on one character at a time instead of trying every phrase."""
    root: dict[str, Any] = {}
    for phrase in phrases:
        node = root
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + build(node[ch]) for ch in sorted(node) if ch]
        if not branches:
            return ""
        ends_here = "" in node
        if len(branches) == 1 and not ends_here:
            return branches[0]
        # Greedy: a longer phrase first, this one only when none continues.
        return "(?:" + "|".join(branches) + (")?" if ends_here else ")")

    return build(root)


def _phrase_scan_regex(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """``_phrase_regex`` as a scan: the character before the word, then the phrase
    in a group. Starting with a character class lets the regex engine skip
    letters quickly instead of testing the look-behind at every position."""
    cleaned = {p.strip().lower() for p in phrases if p.strip()}
    if not cleaned:
        return None
    return re.compile(r"[^a-z0-9](?=(" + _trie(cleaned) + "))")


def _str_list(raw: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReferenceDataError(f"{where}: '{key}' must be a list of strings")
    return value


def _detector(name: str, raw: Any, where: str) -> Detector:
    if not isinstance(raw, dict):
        raise ReferenceDataError(f"{where}: a detector must be an object")
    label = raw.get("label")
    if not isinstance(label, str) or not label:
        raise ReferenceDataError(f"{where}: 'label' missing")
    try:
        patterns = tuple(re.compile(p, re.IGNORECASE) for p in _str_list(raw, "patterns", where))
    except re.error as exc:
        raise ReferenceDataError(f"{where}: invalid pattern ({exc.msg})") from exc
    phrase_list = _str_list(raw, "phrases", where)
    phrases = _phrase_regex(phrase_list)
    if phrases is None and not patterns:
        raise ReferenceDataError(f"{where}: needs phrases or patterns")
    return Detector(
        name,
        label,
        phrases,
        patterns,
        raw.get("negatable") is True,
        _phrase_scan_regex(phrase_list),
    )


def parse_documentation(data: Any, name: str) -> DocumentationRules:
    if not isinstance(data, dict):
        raise ReferenceDataError(f"{name}: expected a JSON object")
    raw_detectors = data.get("detectors")
    if not isinstance(raw_detectors, dict):
        raise ReferenceDataError(f"{name}: 'detectors' must be an object")
    detectors = {k: _detector(k, v, f"{name} detector {k}") for k, v in raw_detectors.items()}
    negators_raw = data.get("negators", {})
    if not isinstance(negators_raw, dict):
        raise ReferenceDataError(f"{name}: 'negators' must be an object")
    negators = frozenset(w.lower() for w in _str_list(negators_raw, "words", f"{name} negators"))
    window = negators_raw.get("window", 3)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ReferenceDataError(f"{name}: negators.window must be a positive integer")
    by_code: dict[str, CodeDocumentation] = {}
    raw_codes = data.get("codes", {})
    if not isinstance(raw_codes, dict):
        raise ReferenceDataError(f"{name}: 'codes' must be an object")
    for code, raw in raw_codes.items():
        where = f"{name} code {code}"
        if not isinstance(raw, dict):
            raise ReferenceDataError(f"{where}: must be an object")
        elements = _str_list(raw, "elements", where)
        unknown = [e for e in elements if e not in detectors]
        choice = None
        raw_choice = raw.get("codeChoice")
        if raw_choice is not None:
            if not isinstance(raw_choice, dict):
                raise ReferenceDataError(f"{where}: 'codeChoice' must be an object")
            choice = CodeChoice(
                reads_as=str(raw_choice.get("reads_as", "")),
                unless=str(raw_choice.get("unless", "")),
                consider=str(raw_choice.get("consider", "")),
                describes=str(raw_choice.get("describes", "")),
            )
            unknown += [d for d in (choice.reads_as, choice.unless) if d not in detectors]
        if unknown:
            raise ReferenceDataError(f"{where}: unknown detector {', '.join(unknown)}")
        by_code[code.upper()] = CodeDocumentation(code.upper(), tuple(elements), choice)
    return DocumentationRules(detectors, negators, window, by_code)
