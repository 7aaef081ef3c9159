"""The redaction rules as data (``data/``), loaded and compiled once.

``text_rules.json`` holds the regex recognizers, the word lists they splice
in and the identifier labels; ``names_rules.json`` the context of the name
recognizer; the ``*_names.txt`` files the US Census name lists. Nothing here
decides what is PHI: it only turns the files into compiled patterns.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

_PACKAGE = "claimscrub.redaction"


class RulesError(ValueError):
    """A rules file is missing a part or holds an invalid pattern."""


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    regex: re.Pattern[str]
    # Type of the whole match when the regex has no named groups.
    type: str | None
    # Relabel a span (e.g. PHONE -> FAX) when the text before it matches.
    retype: tuple[str, re.Pattern[str]] | None
    # Identifier patterns: a span without a digit is a word, not an identifier.
    needs_digit: bool = False
    # Found in every match: a text without it cannot match, so the pattern is
    # skipped after this cheaper scan (most notes hold no date, phone or label).
    gate: re.Pattern[str] | None = None
    # The same for identifier labels, whose case-blind alternations scan slowly:
    # each label as its lower-cased words; an ASCII text that does not hold
    # every word of at least one label cannot match.
    gate_words: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class TextRules:
    patterns: tuple[Pattern, ...]
    priority: Mapping[str, int]
    placeholders: Mapping[str, str]
    not_phi: Mapping[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class NameRules:
    first: frozenset[str]
    last: frozenset[str]
    ambiguous: frozenset[str]
    not_names: frozenset[str]
    titles: frozenset[str]
    strong_cues: tuple[tuple[str, ...], ...]
    weak_cues: frozenset[str]
    credentials: frozenset[str]
    suffixes: frozenset[str]
    organisation_words: frozenset[str]
    saint_words: frozenset[str]
    short_name_stopwords: frozenset[str]
    english: frozenset[str]


def data_text(name: str) -> str:
    return resources.files(_PACKAGE).joinpath(f"data/{name}").read_text(encoding="utf-8")


def data_json(name: str) -> Any:
    try:
        return json.loads(data_text(name))
    except json.JSONDecodeError as exc:
        raise RulesError(f"{name}: not valid JSON (line {exc.lineno})") from exc


def _alternation(words: list[str]) -> str:
    ordered = sorted(set(words), key=lambda w: (-len(w), w))
    return "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in ordered) + ")"


def _splice(regex: str, lists: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in lists:
            raise RulesError(f"text_rules.json: unknown list {{{{{key}}}}}")
        return lists[key]

    return re.sub(r"\{\{([A-Z_]+)\}\}", one, regex)


def _compile(where: str, regex: str, flags: str = "") -> re.Pattern[str]:
    try:
        return re.compile(regex, re.IGNORECASE if "i" in flags else 0)
    except re.error as exc:
        raise RulesError(f"{where}: invalid regex ({exc})") from exc


def _label_patterns(labels: Mapping[str, Any]) -> list[Pattern]:
    """One pattern per identifier type: a label, then an identifier with a digit."""
    out: list[Pattern] = []
    default_shape = r"(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{2,24}"
    for type_, kinds in labels.items():
        shape = kinds.get("shape", default_shape)
        ident = r"#?\s*(?P<" + type_ + ">" + shape + r")(?![\w-])"
        strong = _alternation(kinds.get("strong", []))
        weak = _alternation(kinds.get("weak", []))
        sep = r"\s*(?:(?:number|no\.?|num|#)\s*)?[:#=-]?\s*"
        weak_sep = r"\s*(?:(?:number|no\.?|num)\s*[:#=]?|[:#=])\s*"
        regex = (
            rf"(?<![\w/])(?:{strong}\b\.?{sep}|{weak}\b\.?{weak_sep})" + ident
            if kinds.get("weak")
            else rf"(?<![\w/]){strong}\b\.?{sep}" + ident
        )
        compiled = _compile(f"id_labels.{type_}", regex, "i")
        # Every match holds one of its labels, so each word of that label.
        words = {
            tuple(sorted(w.lower().split(), key=lambda t: (-len(t), t)))
            for w in kinds.get("strong", []) + kinds.get("weak", [])
        }
        out.append(
            Pattern(
                f"label-{type_}",
                compiled,
                None,
                None,
                needs_digit=True,
                gate_words=tuple(sorted(words)),
            )
        )
    return out


@functools.cache
def text_rules() -> TextRules:
    raw = data_json("text_rules.json")
    upper = set(raw.get("upper_variants", []))
    lists: dict[str, str] = {}
    for key, words in raw["lists"].items():
        words = list(words)
        if key in upper:
            words += [w.upper() for w in words]
        lists[key] = _alternation(words)
    patterns: list[Pattern] = []
    for i, p in enumerate(raw["patterns"]):
        where = f"text_rules.json pattern {p.get('name', i)}"
        regex = _compile(where, _splice(p["regex"], lists), p.get("flags", ""))
        gate = None
        if "gate" in p:
            gate = _compile(f"{where} gate", _splice(p["gate"], lists), p.get("flags", ""))
        if not regex.groupindex and not p.get("type"):
            raise RulesError(f"{where}: needs a 'type' or named groups")
        retype = None
        if "retype" in p:
            retype = (p["retype"]["type"], _compile(where, p["retype"]["before"]))
        patterns.append(Pattern(p.get("name", str(i)), regex, p.get("type"), retype, gate=gate))
    patterns.extend(_label_patterns(raw["id_labels"]))
    priority = {t: i for i, t in enumerate(raw["type_priority"])}
    return TextRules(
        patterns=tuple(patterns),
        priority=priority,
        placeholders=dict(raw.get("placeholders", {})),
        not_phi={k: frozenset(v) for k, v in raw.get("not_phi", {}).items()},
    )


def _name_list(name: str) -> frozenset[str]:
    return frozenset(
        line.strip().lower()
        for line in data_text(name).splitlines()
        if line.strip() and not line.startswith("#")
    )


@functools.cache
def name_rules() -> NameRules:
    raw = data_json("names_rules.json")
    return NameRules(
        first=_name_list("first_names.txt"),
        last=_name_list("last_names.txt"),
        ambiguous=_name_list("ambiguous_names.txt"),
        not_names=frozenset(w.lower() for w in raw["not_names"]),
        titles=frozenset(w.lower() for w in raw["titles"]),
        strong_cues=tuple(tuple(c.lower().split()) for c in raw["strong_cues"]),
        weak_cues=frozenset(w.lower() for w in raw["weak_cues"]),
        credentials=frozenset(w.lower() for w in raw["credentials"]),
        suffixes=frozenset(w.lower() for w in raw["name_suffixes"]),
        organisation_words=frozenset(w.lower() for w in raw["organisation_words"]),
        saint_words=frozenset(w.lower() for w in raw["saint_words"]),
        short_name_stopwords=frozenset(w.lower() for w in raw["short_name_stopwords"]),
        english=_name_list("english_words.txt"),
    )
