"""Hybrid search over a loaded index: dense (FAISS), sentence-level dense and BM25 candidates, fused.

Fusion "linear" (default) adds the chunk's cosine, its best sentence's cosine, its BM25 score
(divided by the best BM25 score of the query) and, when the index has token vectors, its
late-interaction score (index/late_interaction.py) with fixed weights; "rrf" is reciprocal rank
fusion of the dense and BM25 ranks. On the curated questions the weights sit on a plateau: with
late interaction, evidence hit@5 stayed within 0.89-0.90 and MRR@10 within 0.76-0.78 for every
chunk/sentence weight from 0.1 to 0.4 and BM25 0.2-0.3; without it, 0.85-0.87 (eval/REPORT.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peerqa.index.embedder import Embedder
from peerqa.index.late_interaction import TokenEmbedding
from peerqa.index.sections import SectionLevel
from peerqa.index.store import LoadedIndex
from peerqa.index.vectors import search_faiss
from peerqa.records import Chunk, Passage

ChunkFilter = Callable[[Chunk], bool]


@dataclass
class HybridSearcher:
    index: LoadedIndex
    embedder: Embedder
    pool: int = 50
    rrf_k: int = 60
    hybrid: bool = True
    fusion: str = "linear"
    late_interaction: bool = True
    weights: tuple[float, float, float] = (0.4, 0.3, 0.3)  # chunk dense, best sentence dense, BM25
    # ... and with late interaction: chunk dense, best sentence dense, BM25, late interaction
    late_weights: tuple[float, float, float, float] = (0.2, 0.2, 0.2, 1.0)
    # the section level (index/sections.py): heading-path cosine and best-of weights; (0, 0) = off
    section_weights: tuple[float, float] = (0.0, 0.0)
    _sections: SectionLevel | None = None
    _sentence_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))

    def __post_init__(self) -> None:
        spans = self.index.sentence_spans
        self._sentence_rows = np.asarray([row for row, _s, _e in spans], dtype="int64")

    @property
    def sections(self) -> SectionLevel:
        """The section level, built on first use (the headings are embedded once)."""
        if self._sections is None:
            self._sections = SectionLevel.build(self.index.chunks, self.embedder)
        return self._sections

    def embed_query(self, text: str) -> np.ndarray:
        return self.embedder.embed([text])[0]

    def sparse(self, query: str, k: int) -> list[tuple[int, float]]:
        return self.index.bm25.search(query, k)

    def _dense(self, qv: np.ndarray, depth: int, keep: ChunkFilter | None) -> list[tuple[int, float]]:
        """Dense chunk candidates. A store that filters in SQL (index/pg_search.py) gets the engine's
        filters (carried by `keep`) and returns only passing rows, so it need not look n deep."""
        in_sql = getattr(self.index.faiss, "search_filtered", None)
        if in_sql is not None:
            filters = getattr(keep, "filters", None)
            return in_sql(qv, min(depth, 4 * self.pool) if filters is not None else depth, filters)
        return search_faiss(self.index.faiss, qv, depth)

    def _sentence_max(self, query_vec: np.ndarray) -> np.ndarray | None:
        vectors = self.index.sentence_vectors
        if vectors is None or len(self._sentence_rows) == 0:
            return None
        best = np.full(len(self.index.chunks), -1.0, dtype="float32")
        np.maximum.at(best, self._sentence_rows, vectors @ query_vec)
        return best

    def _chunk_cosines(self, rows: list[int], dense: dict[int, float], query_vec: np.ndarray) -> dict[int, float]:
        out = dict(dense)
        batch = getattr(self.index.faiss, "cosines", None)  # a database store: one query, not one per row
        if batch is not None:
            out.update(batch([r for r in rows if r not in out], query_vec))
        floor = min(dense.values(), default=0.0)
        for row in rows:
            if row not in out:
                try:
                    out[row] = float(self.index.faiss.reconstruct(row) @ query_vec)
                except RuntimeError:  # an IVF index without a direct map cannot reconstruct
                    out[row] = floor
        return out

    def search(
        self,
        query: str,
        k: int = 10,
        keep: ChunkFilter | None = None,
        dense_query: str | None = None,
        query_vec: np.ndarray | None = None,
        query_tokens: TokenEmbedding | None = None,
    ) -> list[Passage]:
        """Top-k passages. BM25 reads `query`; the dense side embeds `dense_query` (or takes
        `query_vec` and `query_tokens`, so a caller that already embedded the question does not
        do it twice)."""
        n = len(self.index.chunks)
        if n == 0:
            return []
        depth = n if keep is not None else min(n, self.pool)  # with a filter, look deeper
        late = self.late_interaction and self.fusion == "linear" and self.index.token_vectors is not None
        if late and (query_vec is None or query_tokens is None):
            vecs, toks = self.embedder.embed_with_tokens([dense_query or query])
            query_vec, query_tokens = vecs[0], toks[0]
        qv = query_vec if query_vec is not None else self.embed_query(dense_query or query)
        dense = self._dense(qv, depth, keep)
        sparse = self.sparse(query, depth) if self.hybrid else []
        sent_best: Any = self._sentence_max(qv)
        scores: dict[int, float]
        if self.fusion == "rrf":
            scores = {}
            for ranked in (dense, sparse):
                for rank, (row, _s) in enumerate(ranked):
                    scores[row] = scores.get(row, 0.0) + 1.0 / (self.rrf_k + rank + 1)
            cos = dict(dense)
        else:
            rows = {r for r, _ in dense} | {r for r, _ in sparse}
            if sent_best is not None:
                rows |= {int(r) for r in np.argsort(-sent_best, kind="stable")[:depth]}
            elif (in_sql := getattr(self.index, "sentence_best", None)) is not None:
                sent_best = in_sql(qv, depth, rows)  # a database store: {row: best}, its top rows included
                rows |= set(sent_best)
            ordered = sorted(rows)
            cos = self._chunk_cosines(ordered, dict(dense), qv)
            bm = dict(sparse)
            top_bm = max(bm.values(), default=0.0) or 1.0
            late_scores: dict[int, float] = {}
            if late and query_tokens is not None and self.index.token_vectors is not None:  # narrows for mypy
                wd, ws, wb, wl = self.late_weights
                late_scores = dict(zip(ordered, self.index.token_vectors.scores(query_tokens, ordered).tolist(),
                                       strict=True))
            else:
                (wd, ws, wb), wl = self.weights, 0.0
            if sent_best is None:
                wd, ws = wd + ws, 0.0
            if not self.hybrid:
                wb = 0.0
            scores = {
                r: wd * cos[r] + (ws * float(sent_best[r]) if sent_best is not None else 0.0)
                + wb * bm.get(r, 0.0) / top_bm + wl * late_scores.get(r, 0.0)
                for r in ordered
            }
            if any(self.section_weights):
                scores = self.sections.fold(scores, qv, *self.section_weights)
        sparse_scores = dict(sparse)
        out: list[Passage] = []
        by_score = sorted(scores, key=lambda r: (-scores[r], r))  # ties broken by row: deterministic
        prefetch = getattr(self.index.chunks, "prefetch", None)  # a database store: one query, not one per row
        if prefetch is not None:
            prefetch(by_score[: 2 * k])
        for row in by_score:
            chunk = self.index.chunks[row]
            if keep is not None and not keep(chunk):
                continue
            out.append(
                Passage(chunk=chunk, score=round(scores[row], 6), dense_score=cos.get(row),
                        bm25_score=sparse_scores.get(row), rank=len(out) + 1)
            )
            if len(out) >= k:
                break
        return out


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    """Exact top-k by inner product with NumPy, the reference FAISS is checked against."""
    scores = vectors @ query
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]
