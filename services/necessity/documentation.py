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

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from claimscrub.core.payers import ReferenceDataError

_SENTENCE_END = re.compile(r"[.!?;\n]+(?:\s|$)|\n")
_WORD = re.compile(r"[a-z']+")


@dataclass(frozen=True, slots=True)
class Detector:
    name: str
    label: str
    phrases: re.Pattern[str] | None
    patterns: tuple[re.Pattern[str], ...]
    negatable: bool


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

    __slots__ = ("_cache", "sentences")

    def __init__(self, text: str) -> None:
        self.sentences = [s for s in _SENTENCE_END.split(text.lower()) if s.strip()]
        self._cache: dict[str, bool] = {}


def _negated(sentence: str, start: int, negators: frozenset[str], window: int) -> bool:
    before = _WORD.findall(sentence[:start])[-window:]
    return any(word in negators for word in before)


def finds(note: Note, detector: Detector, rules: DocumentationRules) -> bool:
    """Whether ``note`` shows the detector's element."""
    cached = note._cache.get(detector.name)
    if cached is not None:
        return cached
    found = False
    for sentence in note.sentences:
        if detector.phrases is not None:
            for match in detector.phrases.finditer(sentence):
                if not detector.negatable or not _negated(
                    sentence, match.start(), rules.negators, rules.window
                ):
                    found = True
                    break
        if not found and any(p.search(sentence) for p in detector.patterns):
            found = True
        if found:
            break
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


def _phrase_regex(phrases: Iterable[str]) -> re.Pattern[str] | None:
    cleaned = sorted({p.strip().lower() for p in phrases if p.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    # A phrase must start a word (not "rom" inside "from"); it may end mid-word.
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(p) for p in cleaned) + ")")


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
    phrases = _phrase_regex(_str_list(raw, "phrases", where))
    if phrases is None and not patterns:
        raise ReferenceDataError(f"{where}: needs phrases or patterns")
    return Detector(name, label, phrases, patterns, raw.get("negatable") is True)


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
