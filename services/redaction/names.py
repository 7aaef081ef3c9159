"""Finding people's names in free text without a language model.

Evidence, strongest first (lists and cue words are data, see rules.py):

1. a title before a capitalised word ("Mr. Quinn", "Dr. J. Rivera");
2. a cue word before it: a relation or role ("daughter Maria", "Patient: Ada
   Lovelace"), when the words after it are in the Census name lists;
3. a capitalised word in the name lists that is not also an English word
   ("Ada", "Lovelace", "Gutierrez");
4. a capitalised word beside a name found so far ("Ada Brown": "Brown" is
   also a colour, but not next to "Ada");
5. a name-list word that is also an English word ("Rose", "Hunter"),
   capitalised in the middle of a sentence where a common word would not be.

Therapy vocabulary and clinical eponyms that the lists hold ("Berg" of the
Berg Balance Scale, "Walker") count only through 1, 2 or 4. The claim's own
names are found elsewhere (known.py), in any case and position.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from claimscrub.redaction.rules import NameRules
from claimscrub.redaction.spans import Span

# Words of letters in any script ("Nguyễn", "José"), with inner apostrophes
# and hyphens, not glued to digits.
_L = r"[^\W\d_]"
_TOKEN = re.compile(rf"(?<![\w]){_L}(?:{_L}|['’])*(?:-{_L}(?:{_L}|['’])*)*(?!\d)")
_SENTENCE_END = frozenset(".!?:\n•*")
# Gaps that keep two words in one name: a space or two; after an initial or
# a title, its dot too ("J. Rivera", "Dr. Patel").
# "(wife)", ", her sister", ", the patient's son", ", DPT": a cue word or a
# credential after a name.
_CUE_AFTER = re.compile(
    r"[ \t]*[(,][ \t]*(?:(?:the|her|his|their|patient's|pt's|a|an)[ \t]+)?([A-Za-z/-]+)"
)
_SPACE_GAP = re.compile(r" {1,2}")
_KIND_CACHE = 65_536
_DOT_GAP = re.compile(r"\. ?")
# A code identifier's shape: an internal capital after a small letter
# ("KafkaConsumer", "McDonald"), or an acronym run into a word ("HTTPError").
_CAMEL = re.compile(r"[A-Za-z]*[a-z][A-Z][A-Za-z]*|[A-Z]{2,}[a-z][A-Za-z]*")
# Its humps: an acronym before a capitalised hump ("AIO" of "AIOKafkaConsumer"),
# capitalised or small runs, a trailing acronym ("DB" of "RocksDB").
_HUMP = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")


def _inside(tok: _Token, taken: Sequence[tuple[int, int]]) -> bool:
    """Whether ``tok`` lies within one of ``taken`` (sorted, not overlapping)."""
    i = bisect.bisect_right(taken, (tok.start, float("inf"))) - 1
    return i >= 0 and taken[i][0] <= tok.start and tok.end <= taken[i][1]


class Kind(IntEnum):
    UNKNOWN = 0  # not in the name lists, an English word (or a part of one)
    NOT_NAME = 1  # therapy vocabulary, eponyms: a name only with strong context
    FOREIGN = 2  # in no list and no English word: a name the Census lacks ("Nguyen")
    AMBIGUOUS = 3  # a name that is also an English word
    NAME = 4  # a name and nothing else


@dataclass(slots=True)
class _Token:
    start: int
    end: int
    word: str
    key: str
    # "title" (Ada, McDonald), "upper" (ADA), "initial" (J.), "lower"
    shape: str
    kind: Kind


def _shape(word: str, text: str, end: int) -> str:
    if len(word) == 1:
        return "initial" if word.isupper() and text[end : end + 1] == "." else "lower"
    parts = word.split("-")
    if word.isupper():
        return "upper"
    if all(p[:1].isupper() for p in parts):
        return "title"
    return "lower"


class NameFinder:
    """Name spans in free text.

    ``code_identifiers`` is for log lines, where library messages name
    classes ("AIOKafkaConsumer", "KafkaConnectionError") that the lists hold
    no word of and that would otherwise read as rare surnames: a CamelCase
    word made of dictionary or software words, with no hump that is only a
    name ("Mc" + "Donald", "De" + "Shawn" stay names), then counts as
    vocabulary, a name only after a title or a cue or beside another name.
    Notes do not get it: a name written run together is still a name there.
    """

    def __init__(self, rules: NameRules, *, code_identifiers: bool = False) -> None:
        self._r = rules
        self._code_identifiers = code_identifiers
        self._max_cue = max((len(c) for c in rules.strong_cues), default=1)
        self._cue_starts = frozenset(c[0] for c in rules.strong_cues)
        # Notes reuse a small vocabulary: each word is worked out once.
        self._kinds: dict[str, Kind] = {}
        self._words: dict[str, tuple[str, str, str | None, Kind]] = {}

    def _kind(self, key: str) -> Kind:
        kind = self._kinds.get(key)
        if kind is None:
            if len(self._kinds) >= _KIND_CACHE:
                self._kinds.clear()
            kind = self._kinds[key] = self._kind_of(key)
        return kind

    def _kind_of(self, key: str) -> Kind:
        r = self._r
        best = Kind.UNKNOWN
        for part in key.split("-"):
            if part in r.not_names:
                kind = Kind.NOT_NAME
            elif part in r.ambiguous:
                kind = Kind.AMBIGUOUS
            elif part in r.first or part in r.last:
                kind = Kind.NAME
            elif len(part) > 2 and part not in r.english and part.isalpha():
                kind = Kind.FOREIGN
            else:
                kind = Kind.UNKNOWN
            best = max(best, kind)
        return best

    def _adjacent(self, text: str, a: _Token, b: _Token) -> bool:
        gap = text[a.end : b.start]
        if _SPACE_GAP.fullmatch(gap):
            return True
        dotted = a.shape == "initial" or a.key in self._r.titles
        return dotted and _DOT_GAP.fullmatch(gap) is not None

    @staticmethod
    def _sentence_start(text: str, start: int) -> bool:
        """After a full stop, a colon, a line break or a line's bullet."""
        i = start - 1
        while i >= 0 and text[i] in " \t\r\n":
            if text[i] == "\n":
                return True
            i -= 1
        if i >= 0 and text[i] in "-–•*":
            j = i - 1
            while j >= 0 and text[j] in " \t":
                j -= 1
            return j < 0 or text[j] == "\n"
        return i < 0 or text[i] in _SENTENCE_END

    def _cue_after(self, text: str, end: int) -> bool:
        m = _CUE_AFTER.match(text, end)
        if not m:
            return False
        word = m.group(1).lower()
        return (word,) in self._r.strong_cues or word in self._r.credentials

    def _organisation(self, text: str, toks: list[_Token], i: int, j: int) -> bool:
        """ "St. Mary Hospital", "Johnson Rehab": a place, not a person."""
        after = re.match(r"[ \t]+([A-Za-z]+)", text[toks[j].end :])
        if after and after.group(1).lower() in self._r.organisation_words:
            return True
        before = re.search(
            r"([A-Za-z]+)\.?[ \t]+$", text[max(0, toks[i].start - 12) : toks[i].start]
        )
        return bool(before and before.group(1).lower() in self._r.saint_words)

    def _first_name(self, key: str) -> bool:
        return all(p in self._r.first for p in key.split("-"))

    def _last_name(self, key: str) -> bool:
        return any(p in self._r.last for p in key.split("-"))

    def _word(self, raw: str) -> tuple[str, str, str | None, Kind]:
        """A token's word (possessive and trailing apostrophes off), its key,
        its shape when the word alone decides it, and its kind."""
        word = raw
        if len(word) > 3 and word[-2:] in ("'s", "’s"):
            word = word[:-2]
        word = word.rstrip("'’")
        key = word.lower().replace("'", "").replace("’", "")
        # A one-letter word's shape depends on the dot after it, in the text.
        shape = _shape(word, "", 0) if len(word) > 1 else None
        if self._code_identifiers and self._code_identifier(word):
            return word, key, shape, Kind.NOT_NAME
        return word, key, shape, self._kind(key)

    def _code_identifier(self, word: str) -> bool:
        if not (word.isascii() and word.isalpha() and _CAMEL.fullmatch(word)):
            return False
        r = self._r
        humps = [h.lower() for h in _HUMP.findall(word)]
        vocabulary = [h for h in humps if h in r.english or h in r.not_names]
        only_a_name = [h for h in humps if (h in r.first or h in r.last) and h not in vocabulary]
        return not only_a_name and any(len(h) >= 4 for h in vocabulary)

    def _tokens(self, text: str) -> list[_Token]:
        out: list[_Token] = []
        words = self._words
        for m in _TOKEN.finditer(text):
            raw = m.group()
            info = words.get(raw)
            if info is None:
                if len(words) >= _KIND_CACHE:
                    words.clear()
                info = words[raw] = self._word(raw)
            word, key, shape, kind = info
            start = m.start()
            end = start + len(word)
            if shape is None:
                shape = _shape(word, text, end)
            out.append(_Token(start, end, word, key, shape, kind))
        return out

    def find(self, text: str, taken: Sequence[tuple[int, int]] = ()) -> list[Span]:
        """Name spans; words inside ``taken`` (spans other recognizers found,
        such as the "May" of a date) are neither names nor evidence."""
        toks = self._tokens(text)
        if taken:
            toks = [t for t in toks if not _inside(t, taken)]
        n = len(toks)
        if n == 0:
            return []
        r = self._r
        adjacent = [i + 1 < n and self._adjacent(text, toks[i], toks[i + 1]) for i in range(n)]
        candidate = [
            t.shape in ("title", "upper", "initial")
            and t.key not in r.credentials
            and t.key not in r.titles
            for t in toks
        ]
        marked = [False] * n
        # Strong evidence may pull a therapy word beside it into the name
        # ("John Walker"); weak evidence (rule 5) only other name-list words.
        strong = [False] * n
        # Made a name by a title or a cue word: a person, whatever follows.
        strong_context = [False] * n

        def chain(i: int, limit: int = 3) -> list[int]:
            """Candidate tokens from ``i`` on, each adjacent to the one before."""
            out: list[int] = []
            j = i
            while j < n and len(out) < limit and candidate[j]:
                out.append(j)
                if not adjacent[j]:
                    break
                j += 1
            return out

        def title_case_phrase(i: int) -> bool:
            """A capitalised non-name word beside ``i``: "Berg Balance Scale"."""
            for j in (i - 1, i + 1):
                if (
                    0 <= j < n
                    and adjacent[min(i, j)]
                    and toks[j].shape == "title"
                    and toks[j].kind in (Kind.UNKNOWN, Kind.NOT_NAME)
                ):
                    return True
            return False

        for i, t in enumerate(toks):
            # 1. titles: whatever capitalised words follow
            if t.key in r.titles and i + 1 < n and adjacent[i]:
                for j in chain(i + 1):
                    marked[j] = strong[j] = strong_context[j] = True
            # 2. strong cues, when the words after them are in the name lists
            for size in range(self._max_cue, 0, -1) if t.key in self._cue_starts else ():
                cue = tuple(tok.key for tok in toks[i : i + size])
                if len(cue) == size and cue in r.strong_cues and i + size < n:
                    gap = text[toks[i + size - 1].end : toks[i + size].start]
                    if re.fullmatch(r"\s*(?:'s|’s)?\s*[:,-]?\s*", gap):
                        names = chain(i + size)
                        if any(toks[j].kind >= Kind.FOREIGN for j in names):
                            for j in names:
                                marked[j] = strong[j] = strong_context[j] = True
                    break
            # 3. unambiguous names
            if t.kind is Kind.NAME and t.shape == "title":
                marked[i] = strong[i] = True
            # 5. ambiguous names capitalised mid-sentence, or right after a weak cue
            weak_kind = t.kind in (Kind.AMBIGUOUS, Kind.FOREIGN)
            if weak_kind and t.shape == "title" and not title_case_phrase(i):
                mid_sentence = not self._sentence_start(text, t.start)
                after_weak = (
                    i > 0
                    and toks[i - 1].key in r.weak_cues
                    and toks[i - 1].shape == "lower"
                    and text[toks[i - 1].end : t.start].isspace()
                )
                if mid_sentence or after_weak:
                    marked[i] = True
        # 6. a first name then a surname ("John Walker", "JOHN SMITH"), whatever
        #    else the words mean; ALL CAPS words count only in such a pair
        for i in range(n - 1):
            a, b = toks[i], toks[i + 1]
            if (
                adjacent[i]
                and a.shape == b.shape
                and a.shape in ("title", "upper")
                and a.kind >= Kind.AMBIGUOUS
                and self._first_name(a.key)
                and self._last_name(b.key)
                # two English words at a sentence start ("Will Continue") need more
                and (Kind.NAME in (a.kind, b.kind) or not self._sentence_start(text, a.start))
            ):
                marked[i] = marked[i + 1] = strong[i] = strong[i + 1] = True
        # 8. two capitalised words in no list and no dictionary ("Priya Sharma",
        #    "Nguyen Thi"), or one beside a name-list word: names the Census lacks
        for i in range(n - 1):
            a, b = toks[i], toks[i + 1]
            kinds = (a.kind, b.kind)
            if (
                adjacent[i]
                and a.shape == b.shape == "title"
                and Kind.FOREIGN in kinds
                and min(kinds) >= Kind.FOREIGN
            ):
                marked[i] = marked[i + 1] = strong[i] = strong[i + 1] = True
        # 2b. a cue word or credential right after: "Heather (wife)", "Amber,
        #     her sister,", "Mark Berg (PTA)"
        for i, t in enumerate(toks):
            if not candidate[i] or t.kind is Kind.UNKNOWN or not self._cue_after(text, t.end):
                continue
            names = [i]
            while len(names) < 3 and names[-1] > 0 and adjacent[names[-1] - 1]:
                j = names[-1] - 1
                unknown_start = toks[j].kind is Kind.UNKNOWN and self._sentence_start(
                    text, toks[j].start
                )
                if not candidate[j] or unknown_start:
                    break
                names.append(j)
            if any(toks[j].kind >= Kind.FOREIGN for j in names):
                for j in names:
                    marked[j] = strong[j] = strong_context[j] = True
        # 7. an initial before a name-list word ("M. Green", "J. Huff")
        for i in range(n - 1):
            if (
                toks[i].shape == "initial"
                and adjacent[i]
                and toks[i + 1].shape == "title"
                and toks[i + 1].kind >= Kind.FOREIGN
            ):
                marked[i] = marked[i + 1] = strong[i] = strong[i + 1] = True
        # Titles and credentials are never part of the name ("Mrs.", "PT").
        marked = [m and c for m, c in zip(marked, candidate, strict=True)]
        # 4. one word on either side of a name found so far, through initials
        #    and suffixes ("John Q. Smith Jr."); never a run of unknown words
        evidence = [i for i in range(n) if marked[i]]
        for i in evidence:
            lowest = Kind.NOT_NAME if strong[i] else Kind.FOREIGN
            for step in (-1, 1):
                j = i + step
                while 0 <= j < n and candidate[j] and adjacent[min(j, j - step)]:
                    tok = toks[j]
                    if tok.shape == "initial" or tok.key in r.suffixes:
                        marked[j] = True
                        j += step
                        continue
                    if tok.kind >= lowest and (tok.shape != "upper" or tok.kind >= Kind.AMBIGUOUS):
                        marked[j] = True
                    break
        spans: list[Span] = []
        i = 0
        while i < n:
            if not marked[i]:
                i += 1
                continue
            j = i
            while j + 1 < n and marked[j + 1] and adjacent[j]:
                j += 1
            if strong_context[i] or not self._organisation(text, toks, i, j):
                spans.append(Span(toks[i].start, toks[j].end, "NAME"))
            i = j + 1
        return spans
