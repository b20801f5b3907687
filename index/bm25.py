"""BM25 over chunk texts with bm25s (sparse matrices, saved as .npy/.json, never pickle)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in into is it
    its may might more most no not of on or our should so such than that the their them then there these they
    this those through to was we were what when where which while who why will with would you your about also
    any some other""".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:[+][a-z0-9]*)?")


def _quiet_bm25s() -> None:
    import logging

    import bm25s  # noqa: F401 - it sets its own logger to DEBUG on import

    logging.getLogger("bm25s").setLevel(logging.WARNING)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    return list(_stemmer().stemWords(words))


class BM25Index:
    def __init__(self, retriever, size: int):  # type: ignore[no-untyped-def]
        self._r = retriever
        self.size = size
        self._vocab = set(getattr(retriever, "vocab_dict", {}) or {})

    @classmethod
    def build(cls, texts: list[str]) -> BM25Index:
        import bm25s

        _quiet_bm25s()
        retriever = bm25s.BM25()
        corpus = [tokenize(t) or ["_empty_"] for t in texts]
        retriever.index(corpus, show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        self._r.save(str(folder), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> BM25Index:
        import bm25s

        _quiet_bm25s()
        retriever = bm25s.BM25.load(str(folder), allow_pickle=False, mmap=False)
        return cls(retriever, size)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        tokens = [t for t in tokenize(query) if t in self._vocab]
        if not tokens or self.size == 0:
            return []
        k = min(k, self.size)
        docs, scores = self._r.retrieve([tokens], k=k, show_progress=False, n_threads=1)
        out = [(int(d), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
        return out

    def scores_for(self, query: str, rows: list[int]) -> np.ndarray:
        tokens = [t for t in tokenize(query) if t in self._vocab]
        if not tokens:
            return np.zeros(len(rows), dtype="float32")
        all_scores = self._r.get_scores(tokens)
        return np.asarray([all_scores[r] for r in rows], dtype="float32")
