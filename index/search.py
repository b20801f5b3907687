"""Hybrid search over a loaded index: dense (FAISS) and BM25 candidates fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from index.embedder import Embedder
from index.store import LoadedIndex
from index.vectors import search_faiss
from peerqa.records import Chunk, Passage

ChunkFilter = Callable[[Chunk], bool]


@dataclass
class HybridSearcher:
    index: LoadedIndex
    embedder: Embedder
    pool: int = 50
    rrf_k: int = 60
    hybrid: bool = True

    def dense(self, query: str, k: int) -> list[tuple[int, float]]:
        vec = self.embedder.embed([query])[0]
        return search_faiss(self.index.faiss, vec, k)

    def sparse(self, query: str, k: int) -> list[tuple[int, float]]:
        return self.index.bm25.search(query, k)

    def search(
        self,
        query: str,
        k: int = 10,
        keep: ChunkFilter | None = None,
        dense_query: str | None = None,
    ) -> list[Passage]:
        """Top-k passages; `dense_query` lets the caller embed a different text than BM25 reads."""
        n = len(self.index.chunks)
        # With a filter, look deeper so that k survive it.
        depth = n if keep is not None else min(n, self.pool)
        dense = self.dense(dense_query or query, depth)
        sparse = self.sparse(query, depth) if self.hybrid else []
        fused: dict[int, float] = {}
        for ranked in (dense, sparse):
            for rank, (row, _score) in enumerate(ranked):
                fused[row] = fused.get(row, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        dense_scores = dict(dense)
        sparse_scores = dict(sparse)
        rows = sorted(fused, key=lambda r: (-fused[r], r))  # ties broken by row: deterministic
        out: list[Passage] = []
        for row in rows:
            chunk = self.index.chunks[row]
            if keep is not None and not keep(chunk):
                continue
            out.append(
                Passage(
                    chunk=chunk,
                    score=fused[row],
                    dense_score=dense_scores.get(row),
                    bm25_score=sparse_scores.get(row),
                    rank=len(out) + 1,
                )
            )
            if len(out) >= k:
                break
        return out


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    """Exact top-k by inner product with NumPy, the reference FAISS is checked against."""
    scores = vectors @ query
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]
