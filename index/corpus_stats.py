"""Corpus statistics the answer engine reads, behind one small interface (`CorpusStats`).

What the abstention signals and the term weights need from the whole corpus: document
frequencies of the BM25 stems, which stem bigrams occur, which acronyms the sources print, what
they spell an acronym out as, and the authors' surnames with their years from the reference
lists. `MemoryStats` counts them from the chunks of a loaded version (the folder store, and the
publishing process of the PostgreSQL store, which writes them into tables: index/pg_stats.py);
the PostgreSQL store answers the same questions with indexed lookups, so a serving process never
walks every chunk.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from peerqa.index.bm25 import STOPWORDS, tokenize
from peerqa.records import Chunk, Reference

ACRONYM = re.compile(r"\b([A-Z][A-Z&]{1,6})(s?)\b")
CAP_RUN = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:(?:of|for|and|the|in|on|&)\s+)?[A-Z][\w'’-]*){1,6}")
LOWER_WORD = re.compile(r"[a-z][a-z-]{2,}")


def initials(phrase: str) -> set[str]:
    words = phrase.replace("&", " and ").split()
    caps = "".join(w[0] for w in words if w[:1].isupper()).upper()
    every = "".join(w[0] for w in words).upper()
    return {caps, every}


class CorpusStats(Protocol):
    n_chunks: int

    def df(self, term: str) -> int:
        """In how many chunks (text and section) the BM25 stem occurs."""

    def has_bigram(self, first: str, second: str) -> bool:
        """Whether the two stems stand next to each other somewhere."""

    def printed(self, acronym: str) -> bool:
        """Whether the sources print the acronym."""

    def expansion(self, acronym: str) -> str:
        """What the sources spell the acronym out as ("" when nothing)."""

    def has_prefix(self, root: str) -> bool:
        """Whether some stem of the corpus starts with `root`."""

    def surname_years(self, surname: str) -> set[int] | None:
        """The years of the references with an author of that (lower-case) name part, None if none."""


@dataclass
class MemoryStats:
    n_chunks: int = 0
    dfs: Counter[str] = field(default_factory=Counter)
    bigrams: set[tuple[str, str]] = field(default_factory=set)
    printed_acronyms: set[str] = field(default_factory=set)
    expansions: dict[str, str] = field(default_factory=dict)
    surnames: dict[str, set[int]] = field(default_factory=dict)
    _by_initial: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_chunks(cls, chunks: Iterable[Chunk], references: Iterable[Reference]) -> MemoryStats:
        df: Counter[str] = Counter()
        printed: set[str] = set()
        bigrams: set[tuple[str, str]] = set()
        phrases: dict[str, Counter[str]] = {}
        lower: dict[str, Counter[str]] = {}
        n = 0
        for chunk in chunks:
            n += 1
            text = chunk.text + " " + chunk.section
            stems = tokenize(text)
            df.update(set(stems))
            bigrams.update(zip(stems, stems[1:], strict=False))
            printed.update(m.group(1) for m in ACRONYM.finditer(text))
            for m in CAP_RUN.finditer(text):
                for key in initials(m.group(0)):
                    if len(key) >= 2:
                        phrases.setdefault(key, Counter())[m.group(0)] += 1
            # Lower-case terms spelled out in running text ("occupational therapists" for OTs): runs
            # of 2-4 content words, kept below when printed at least twice.
            words = [w for w in LOWER_WORD.findall(text.lower())]
            for size in (2, 3, 4):
                for i in range(len(words) - size + 1):
                    gram = words[i : i + size]
                    if not any(g in STOPWORDS for g in gram):
                        lower.setdefault("".join(g[0] for g in gram).upper(), Counter())[" ".join(gram)] += 1
        expansions = {k: c.most_common(1)[0][0] for k, c in phrases.items()}
        for key, counts in lower.items():
            phrase, count = counts.most_common(1)[0]
            if key not in expansions and count >= 2:
                expansions[key] = phrase
        surnames: dict[str, set[int]] = {}
        for ref in references:
            for name in ref.authors:
                for part in re.findall(r"[a-z'’-]{3,}", name.lower()):
                    surnames.setdefault(part, set()).update([ref.year] if ref.year else [])
        return cls(n, df, bigrams, printed, expansions, surnames)

    def __post_init__(self) -> None:
        for w in self.dfs:
            self._by_initial.setdefault(w[:2], []).append(w)

    def df(self, term: str) -> int:
        return self.dfs.get(term, 0)

    def has_bigram(self, first: str, second: str) -> bool:
        return (first, second) in self.bigrams

    def printed(self, acronym: str) -> bool:
        return acronym in self.printed_acronyms

    def expansion(self, acronym: str) -> str:
        return self.expansions.get(acronym, "")

    def has_prefix(self, root: str) -> bool:
        return any(w.startswith(root) for w in self._by_initial.get(root[:2], ()))

    def surname_years(self, surname: str) -> set[int] | None:
        return self.surnames.get(surname)
