"""Term lookups of the PostgreSQL store: BM25 in SQL, corpus statistics, late-interaction tokens.

`PgBM25` scores a query as bm25s does over the folder (the sum of its stems' precomputed scores,
a stem counted as often as the query repeats it), from `peerqa_postings`. `PgStats` answers
index/corpus_stats.py's `CorpusStats` with indexed lookups. `PgTokenVectors` stands where the
folder's `TokenVectors` stands: it fetches the candidate rows' token vectors and the question's
word-piece weights, never the whole array. Every lookup goes through a bounded cache.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from peerqa.index.bm25 import tokenize
from peerqa.index.late_interaction import TokenEmbedding, weighted_query
from peerqa.index.pg_corpus import BoundedCache, PgReader

BM25_DEPTH_MAX = 1000  # a filtered question asks for every row; the database gives the best 1000


class PgBM25:
    def __init__(self, reader: PgReader, size: int) -> None:
        self.reader, self.size = reader, size

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        counts = Counter(tokenize(query))
        if not counts or self.size == 0:
            return []
        k = min(k, self.size, BM25_DEPTH_MAX)
        got = self.reader.rows(
            "SELECT p.chunk_row, sum(p.score::float8 * q.n) AS s FROM peerqa_postings p "
            "JOIN unnest(%s::text[], %s::int[]) AS q(term, n) ON p.term = q.term "
            f"WHERE p.version_id = {self.reader.vid} GROUP BY p.chunk_row ORDER BY s DESC, p.chunk_row LIMIT {int(k)}",
            [list(counts), list(counts.values())])
        return [(int(r), float(s)) for r, s in got if s > 0]


class PgStats:
    def __init__(self, reader: PgReader, n_chunks: int, cache: int = 8192) -> None:
        self.reader, self.n_chunks = reader, n_chunks
        self._cache = BoundedCache(cache)

    def _one(self, key: tuple[Any, ...], sql: str, params: list[Any]) -> Any:
        def fetch(_keys: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], Any]:
            got = self.reader.rows(sql.format(v=self.reader.vid), params)
            return {key: got[0] if got else None}

        return self._cache.get_many([key], fetch)[key]

    def df(self, term: str) -> int:
        row = self._one(("df", term), "SELECT df FROM peerqa_terms WHERE version_id = {v} AND term = %s", [term])
        return int(row[0]) if row else 0

    def has_bigram(self, first: str, second: str) -> bool:
        return self._one(("bi", first, second), "SELECT 1 FROM peerqa_bigrams WHERE version_id = {v} AND first = %s "
                         "AND second = %s", [first, second]) is not None

    def _acronym(self, acronym: str) -> tuple[bool, str]:
        row = self._one(("ac", acronym), "SELECT printed, expansion FROM peerqa_acronyms WHERE version_id = {v} "
                        "AND acronym = %s", [acronym])
        return (bool(row[0]), str(row[1])) if row else (False, "")

    def printed(self, acronym: str) -> bool:
        return self._acronym(acronym)[0]

    def expansion(self, acronym: str) -> str:
        return self._acronym(acronym)[1]

    def has_prefix(self, root: str) -> bool:
        like = root.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self._one(("pre", root), "SELECT 1 FROM peerqa_terms WHERE version_id = {v} AND term LIKE %s LIMIT 1",
                         [like]) is not None

    def surname_years(self, surname: str) -> set[int] | None:
        row = self._one(("sn", surname), "SELECT years FROM peerqa_surnames WHERE version_id = {v} AND surname = %s",
                        [surname])
        return {int(y) for y in row[0]} if row else None


class PgTokenVectors:
    def __init__(self, reader: PgReader, rows: int, dim: int, cache_rows: int = 512) -> None:
        self.reader, self._n, self.dim = reader, rows, dim
        self._rows = BoundedCache(cache_rows)
        self._weights = BoundedCache(8192)

    @property
    def rows(self) -> int:
        return self._n

    def _fetch(self, rows: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        got = self.reader.rows(f"SELECT chunk_row, ids, vectors FROM peerqa_tokens WHERE version_id = {self.reader.vid} "
                               "AND chunk_row = ANY(%s)", [rows], binary=True)
        out = {r: (np.zeros(0, dtype="int32"), np.zeros((0, self.dim), dtype="float16")) for r in rows}
        for row, ids, vecs in got:
            out[int(row)] = (np.frombuffer(bytes(ids), dtype="<i4").astype("int32"),
                             np.frombuffer(bytes(vecs), dtype="<f2").reshape(-1, self.dim).astype("float16"))
        return out

    def row_tokens(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        return self._rows.get_many([int(row)], self._fetch)[int(row)]

    def _weights_of(self, pieces: list[int]) -> dict[int, float]:
        def fetch(missing: list[int]) -> dict[int, float]:
            got = dict(self.reader.rows(f"SELECT piece, df FROM peerqa_pieces WHERE version_id = {self.reader.vid} "
                                        "AND piece = ANY(%s)", [missing]))
            n = self._n
            # As TokenVectors: squared IDF; a piece no passage uses weighs as much as the rarest.
            return {p: (math.log((n + 1) / (got[p] + 1)) ** 2 if p in got else math.log(n + 1) ** 2) for p in missing}

        return self._weights.get_many(pieces, fetch)

    def weight(self, piece: int) -> float:
        return self._weights_of([int(piece)])[int(piece)]

    def scores(self, query: TokenEmbedding, rows: list[int]) -> np.ndarray:
        """The late-interaction score of each row in `rows` (0 for a row without tokens)."""
        out = np.zeros(len(rows), dtype="float32")
        side = weighted_query(query, self._weights_of) if rows else None
        if side is None:
            return out
        q, w = side
        # Fetched in batches the cache can hold; each batch is scored (one product) before the next is read.
        step = max(1, self._rows.size)
        for a in range(0, len(rows), step):
            part = [int(r) for r in rows[a : a + step]]
            got = self._rows.get_many(part, self._fetch)
            filled = [(i, got[r][1]) for i, r in enumerate(part, start=a) if len(got[r][1])]
            if not filled:
                continue
            tokens = np.concatenate([v for _i, v in filled]).astype("float32")
            starts = np.cumsum([0] + [len(v) for _i, v in filled[:-1]])
            best = np.maximum.reduceat(q @ tokens.T, starts, axis=1)  # (pieces, rows with tokens)
            out[[i for i, _v in filled]] = (w @ best) / float(w.sum())
        return out
