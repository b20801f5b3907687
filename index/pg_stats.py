"""Publishing what a serving process reads by row or by term (schema migration 3).

Run inside the publish transaction of index/pg_store.py, from the validated folder version: the
publishing process holds the whole version (it built it); serving processes then read only the
rows and terms a question needs (index/pg_corpus.py, index/pg_lookup.py).

    BM25      the eager scores bm25s precomputed (its CSC arrays: term -> chunk rows, score),
              one row per posting, so a query's score is a sum over its terms' postings in SQL
              and ranks as the folder's bm25s does
    stats     the corpus statistics of index/corpus_stats.py (document frequencies, bigrams,
              acronyms and their expansions, reference surnames with years)
    tokens    each chunk's late-interaction ids and float16 vectors as bytes, and each word
              piece's document frequency (the squared-IDF weights)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from peerqa.index.corpus_stats import MemoryStats
from peerqa.index.store import LoadedIndex


def publish_by_row(conn: Any, vid: int, loaded: LoadedIndex, folder: Path) -> None:
    _postings(conn, vid, folder / "bm25")
    _stats(conn, vid, MemoryStats.from_chunks(loaded.chunks, loaded.references.values()))
    if loaded.token_vectors is not None:
        _tokens(conn, vid, loaded)
    conn.execute("UPDATE peerqa_versions SET by_row = true WHERE id = %s", (vid,))


def _copy(conn: Any, table: str, columns: list[str], types: list[str], rows: Any) -> None:
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _postings(conn: Any, vid: int, bm25: Path) -> None:
    vocab: dict[str, int] = json.loads((bm25 / "vocab.index.json").read_text(encoding="utf-8"))
    data = np.load(bm25 / "data.csc.index.npy", allow_pickle=False)
    indices = np.load(bm25 / "indices.csc.index.npy", allow_pickle=False)
    indptr = np.load(bm25 / "indptr.csc.index.npy", allow_pickle=False)

    def rows() -> Any:
        for term, tid in vocab.items():
            if not term or tid + 1 >= len(indptr):
                continue  # bm25s's empty-string entry has no column
            a, b = int(indptr[tid]), int(indptr[tid + 1])
            for doc, score in zip(indices[a:b].tolist(), data[a:b].tolist(), strict=True):
                yield [vid, term, doc, score]

    _copy(conn, "peerqa_postings", ["version_id", "term", "chunk_row", "score"], ["int8", "text", "int4", "float4"],
          rows())


def _stats(conn: Any, vid: int, stats: MemoryStats) -> None:
    _copy(conn, "peerqa_terms", ["version_id", "term", "df"], ["int8", "text", "int4"],
          ([vid, t, n] for t, n in stats.dfs.items()))
    _copy(conn, "peerqa_bigrams", ["version_id", "first", "second"], ["int8", "text", "text"],
          ([vid, a, b] for a, b in stats.bigrams))
    keys = sorted(stats.printed_acronyms | set(stats.expansions))
    _copy(conn, "peerqa_acronyms", ["version_id", "acronym", "printed", "expansion"], ["int8", "text", "bool", "text"],
          ([vid, k, k in stats.printed_acronyms, stats.expansions.get(k, "")] for k in keys))
    _copy(conn, "peerqa_surnames", ["version_id", "surname", "years"], ["int8", "text", "int4[]"],
          ([vid, s, sorted(y)] for s, y in stats.surnames.items()))


def _tokens(conn: Any, vid: int, loaded: LoadedIndex) -> None:
    tv = loaded.token_vectors
    assert tv is not None
    df: dict[int, int] = {}

    def rows() -> Any:
        for r in range(tv.rows):
            ids, vecs = tv.row_tokens(r)
            for piece in np.unique(ids).tolist():
                df[piece] = df.get(piece, 0) + 1
            yield [vid, r, np.ascontiguousarray(ids, dtype="<i4").tobytes(),
                   np.ascontiguousarray(vecs, dtype="<f2").tobytes()]

    _copy(conn, "peerqa_tokens", ["version_id", "chunk_row", "ids", "vectors"], ["int8", "int4", "bytea", "bytea"],
          rows())
    _copy(conn, "peerqa_pieces", ["version_id", "piece", "df"], ["int8", "int4", "int4"],
          ([vid, p, n] for p, n in df.items()))
