"""What the answer engine reads of an index version beyond retrieval, behind one small interface.

`Corpus` gives chunks by row, a chunk's row by id, the stored sentences (offsets and vectors) of
given rows, and the corpus statistics (index/corpus_stats.py). The folder store implements it
with its in-memory arrays (`MemoryCorpus`: the engine then builds its document-level sentence
table once, as before); the PostgreSQL store fetches by row with bounded caches
(index/pg_corpus.py), and the engine builds a sentence table per question from the candidate
rows and their neighbours, so a serving process's memory does not grow with the corpus.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Protocol

import numpy as np

from peerqa.index.corpus_stats import CorpusStats, MemoryStats
from peerqa.records import Chunk

if TYPE_CHECKING:
    from peerqa.index.store import LoadedIndex

# (start, end, vector) of one stored sentence, offsets in its chunk's text
StoredSentence = tuple[int, int, np.ndarray]


class Corpus(Protocol):
    in_memory: bool  # every row is at hand: the engine may build whole-corpus tables once

    @property
    def n_chunks(self) -> int: ...

    @property
    def stats(self) -> CorpusStats: ...

    def chunk(self, row: int) -> Chunk: ...

    def chunks(self, rows: list[int]) -> dict[int, Chunk]: ...

    def row_of(self, chunk_id: str) -> int | None: ...

    def sentences(self, rows: list[int]) -> dict[int, list[StoredSentence]]:
        """The stored sentences of each row (rows without any are left out), in reading order."""
        ...


class MemoryCorpus:
    """The folder store's corpus: lists and arrays already in memory."""

    in_memory = True

    def __init__(self, index: LoadedIndex) -> None:
        self.index = index
        self._row_of = {c.id: i for i, c in enumerate(index.chunks)}
        by_row: dict[int, list[int]] = defaultdict(list)
        for i, (row, _s, _e) in enumerate(index.sentence_spans):
            by_row[row].append(i)
        self.sentence_rows = dict(by_row)  # chunk row -> its rows in index.sentence_vectors
        self._stats: MemoryStats | None = None

    @property
    def n_chunks(self) -> int:
        return len(self.index.chunks)

    @property
    def stats(self) -> MemoryStats:
        if self._stats is None:
            self._stats = MemoryStats.from_chunks(self.index.chunks, self.index.references.values())
        return self._stats

    def chunk(self, row: int) -> Chunk:
        return self.index.chunks[row]

    def chunks(self, rows: list[int]) -> dict[int, Chunk]:
        n = len(self.index.chunks)
        return {r: self.index.chunks[r] for r in rows if 0 <= r < n}

    def row_of(self, chunk_id: str) -> int | None:
        return self._row_of.get(chunk_id)

    def row_map(self) -> dict[str, int]:
        return self._row_of

    def sentences(self, rows: list[int]) -> dict[int, list[StoredSentence]]:
        vectors = self.index.sentence_vectors
        if vectors is None:
            return {}
        spans = self.index.sentence_spans
        out: dict[int, list[StoredSentence]] = {}
        for row in rows:
            idx = self.sentence_rows.get(row)
            if idx:
                out[row] = [(spans[i][1], spans[i][2], vectors[i]) for i in idx]
        return out


class RowLookup:
    """`row_of.get(chunk_id)` over a corpus that is not in memory (a dict's `get` for callers)."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    def get(self, chunk_id: str, default: int | None = None) -> int | None:
        row = self.corpus.row_of(chunk_id)
        return default if row is None else row
