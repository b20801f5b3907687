"""FAISS over normalised embeddings: exact inner product by default, HNSW or IVF when asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def build_faiss(vectors: np.ndarray, kind: str = "flat", hnsw_m: int = 32, ivf_nlist: int = 1024) -> Any:
    import faiss

    index: Any

    n, dim = vectors.shape
    if kind == "flat" or n == 0:
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128  # recall@10 0.965 at 10^6 in BENCHMARKS.md (64 gave 0.913)
    elif kind == "ivf":
        nlist = max(1, min(ivf_nlist, n // 39))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = min(nlist, 16)
    else:
        raise ValueError(f"unknown FAISS index type {kind!r} (flat, hnsw, ivf)")
    if n:
        index.add(vectors)
    return index


def write_faiss(index, path: Path) -> None:  # type: ignore[no-untyped-def]
    import faiss

    faiss.write_index(index, str(path))


def read_faiss(path: Path):  # type: ignore[no-untyped-def]
    import faiss

    return faiss.read_index(str(path))


def search_faiss(index, query: np.ndarray, k: int) -> list[tuple[int, float]]:  # type: ignore[no-untyped-def]
    if index.ntotal == 0:
        return []
    k = min(k, index.ntotal)
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype="float32"), k)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
