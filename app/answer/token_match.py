"""Late interaction at sentence level: how well a question's word pieces are matched inside one
sentence (or unit) of a passage, from the token vectors the index already stores per chunk.

The index keeps each chunk's contextual word-piece vectors for passage-level late interaction
(index/late_interaction.py) but not their character offsets; the model's tokenizer gives them
back (the same pieces of the same embedded text), so a sentence's span selects its own vectors.
Chosen because the sentence cosine alone picked a sentence holding the answer for fewer than half
of the curated questions: a single pooled vector blurs the one phrase that answers.

A row's offsets are worked out when a question first needs them (`row_tokens` of the store's
token vectors: in memory for the folder store, fetched by row for PostgreSQL) and kept in a
bounded cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from peerqa.index.late_interaction import TokenEmbedding, query_pieces
from peerqa.records import Chunk

_Row = tuple[np.ndarray, np.ndarray] | None  # (start offsets in chunk.text, float16 vectors)


class TokenSpans:
    """Per chunk row, the character offset (in chunk.text) where each stored token vector starts."""

    def __init__(self, chunk_of: Callable[[int], Chunk], vectors: Any, tokenizer_file: Path, cache_rows: int = 4096):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_file))
        tok.no_truncation()
        self.tok = tok
        self.chunk_of = chunk_of
        self.vectors = vectors  # TokenVectors or the database store's PgTokenVectors: row_tokens, weight
        self.cache_rows = cache_rows
        self._rows: OrderedDict[int, _Row] = OrderedDict()
        self._lock = threading.Lock()

    def _row(self, row: int) -> _Row:
        with self._lock:
            if row in self._rows:
                self._rows.move_to_end(row)
                return self._rows[row]
        chunk = self.chunk_of(row)
        stored, vecs = self.vectors.row_tokens(row)
        enc = self.tok.encode(chunk.embed_text, add_special_tokens=False)
        n = len(stored)
        ids = np.asarray(enc.ids[:n], dtype="int32")
        found: _Row = None
        if len(ids) == n and np.array_equal(ids, stored):  # else another tokenizer than the index's
            header = len(chunk.embed_text) - len(chunk.text)
            found = (np.asarray([s - header for s, _e in enc.offsets[:n]], dtype="int64"), vecs)
        with self._lock:
            self._rows[row] = found
            while len(self._rows) > self.cache_rows:
                self._rows.popitem(last=False)
        return found

    def score(self, query: TokenEmbedding, parts: list[tuple[int, int, int]]) -> float | None:
        """The question's weighted MaxSim over the tokens of `parts` ((chunk row, start, end) spans
        of chunk.text); None when no part has token positions."""
        keep = query_pieces(query)
        if len(keep) == 0:
            return None
        picked: list[np.ndarray] = []
        for row, start, end in parts:
            found = self._row(row)
            if found is None:
                continue
            starts, vecs = found
            idx = np.flatnonzero((starts >= start) & (starts < end))
            if len(idx):
                picked.append(vecs[idx])
        if not picked:
            return None
        tokens = np.concatenate(picked).astype("float32")
        q = query.vectors[keep].astype("float32")
        w = np.asarray([self.vectors.weight(int(query.ids[i])) for i in keep], dtype="float32")
        total = float(w.sum()) or 1.0
        return float(w @ (q @ tokens.T).max(axis=1) / total)

    def sentences_score(self, query: TokenEmbedding, sentences: list[Any]) -> float | None:
        """`score` over document sentences (app/answer/sentences.DocSentence), each read in the
        first chunk that holds it."""
        parts = []
        for s in sentences:
            start = self.chunk_of(s.rows[0]).char_start
            parts.append((s.rows[0], s.start - start, s.end - start))
        return self.score(query, parts)
