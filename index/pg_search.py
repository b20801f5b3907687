"""Dense chunk search in PostgreSQL: pgvector's `<=>` over the version's HNSW index, filters in SQL.

`PgDenseIndex` stands where a FAISS index stands in a `LoadedIndex` (`ntotal`, `search`,
`reconstruct`), plus `cosines` (one query for many rows) and `search_filtered` (section, source
and kind in the WHERE clause), which index/search.py uses when present. The chunk vectors stay
in the database: no process holds them.

Vectors are unit length, so cosine = 1 - cosine distance = the inner product FAISS returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peerqa.index.pg_schema import _first_line, psycopg_module
from peerqa.index.store_backend import StoreUnavailable, redact_url
from peerqa.records import SECTION_SEP


@contextmanager
def answering_errors(url: str) -> Iterator[None]:
    """A database that times out or drops mid-question becomes one clear StoreUnavailable."""
    psycopg = psycopg_module()
    from psycopg_pool import PoolTimeout

    try:
        yield
    except psycopg.errors.QueryCanceled as exc:
        raise StoreUnavailable(
            f"the index database {redact_url(url)} took longer than the statement timeout; "
            "the question was not answered"
        ) from exc
    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
        raise StoreUnavailable(
            f"the index database {redact_url(url)} stopped answering ({_first_line(exc)}); "
            "the question was not answered, ask again when it is back"
        ) from exc


def vector_literal(vec: np.ndarray) -> str:
    return "[" + ",".join(f"{float(x):.8g}" for x in np.asarray(vec, dtype="float32").ravel()) + "]"


def chunk_where(version_id: int, filters: Any) -> tuple[str, list[Any]]:
    """The WHERE clause for one version and the engine's Filters (section prefix, source, kind)."""
    clauses, params = [f"version_id = {int(version_id)}"], []  # a literal: the partial HNSW index matches
    section = (getattr(filters, "section", "") or "").rstrip()
    if section:
        clauses.append("(section = %s OR starts_with(section || %s, %s))")
        params += [section, SECTION_SEP, section + SECTION_SEP]
    source = getattr(filters, "source", "") or ""
    if source:
        clauses.append("(starts_with(source_id, %s) OR source_path = %s)")
        params += [source, source]
    kind = getattr(filters, "kind", "") or ""
    if kind:
        clauses.append("source_kind = %s")
        params.append(kind)
    return " AND ".join(clauses), params


@dataclass
class PgDenseIndex:
    pool: Any  # psycopg_pool.ConnectionPool
    url: str
    version_id: int
    dim: int
    ntotal: int
    ef_search: int = 100
    _expr: str = field(init=False, default="")

    def __post_init__(self) -> None:
        # The HNSW index is on this expression (a typed cast: the column itself has no dimension).
        self._expr = f"(embedding::vector({int(self.dim)}))"

    def _query(self, sql: str, params: list[Any], hnsw: bool = True) -> list[tuple[Any, ...]]:
        with answering_errors(self.url), self.pool.connection() as conn, conn.transaction():
            if hnsw:
                conn.execute(f"SET LOCAL hnsw.ef_search = {int(self.ef_search)}")
                # With a filter, keep walking the graph until LIMIT rows pass it (pgvector >= 0.8).
                conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            return list(conn.execute(sql, params).fetchall())

    def search_filtered(self, query: np.ndarray, k: int, filters: Any = None) -> list[tuple[int, float]]:
        """The k nearest chunk rows (row, cosine) of this version that pass the filters."""
        if self.ntotal == 0 or k <= 0:
            return []
        rows = self._query(*self.nearest_sql(query, k, filters))
        if not rows and filters is None:
            self._check_version_exists()
        return [(int(r), float(c)) for r, c in rows]

    def nearest_sql(self, query: np.ndarray, k: int, filters: Any = None) -> tuple[str, list[Any]]:
        """The k-nearest query; its ORDER BY is the expression the version's HNSW index is on."""
        where, params = chunk_where(self.version_id, filters)
        q = vector_literal(query)
        return (
            f"SELECT row_no, 1 - ({self._expr} <=> %s::vector({int(self.dim)})) AS cos FROM peerqa_chunks "
            f"WHERE {where} ORDER BY {self._expr} <=> %s::vector({int(self.dim)}) LIMIT {int(k)}",
            [q, *params, q],
        )

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's shape: (scores, ids) for each query row, -1 where there are fewer than k."""
        queries = np.atleast_2d(queries)
        scores = np.full((len(queries), k), -np.inf, dtype="float32")
        ids = np.full((len(queries), k), -1, dtype="int64")
        for i, q in enumerate(queries):
            for j, (row, cos) in enumerate(self.search_filtered(q, k)):
                ids[i, j], scores[i, j] = row, cos
        return scores, ids

    def cosines(self, rows: list[int], query: np.ndarray) -> dict[int, float]:
        """Exact cosines of the given rows (no HNSW: a primary-key lookup)."""
        if not rows:
            return {}
        out = self._query(
            f"SELECT row_no, 1 - ({self._expr} <=> %s::vector({int(self.dim)})) FROM peerqa_chunks "
            f"WHERE version_id = {int(self.version_id)} AND row_no = ANY(%s)",
            [vector_literal(query), [int(r) for r in rows]], hnsw=False,
        )
        return {int(r): float(c) for r, c in out}

    def reconstruct(self, row: int) -> np.ndarray:
        out = self._query(
            f"SELECT embedding::text FROM peerqa_chunks WHERE version_id = {int(self.version_id)} AND row_no = %s",
            [int(row)], hnsw=False,
        )
        if not out:
            raise RuntimeError(f"no chunk row {row} in version {self.version_id}")
        return np.asarray(out[0][0].strip("[]").split(","), dtype="float32")

    def _check_version_exists(self) -> None:
        found = self._query(f"SELECT 1 FROM peerqa_versions WHERE id = {int(self.version_id)}", [], hnsw=False)
        if not found:
            raise StoreUnavailable(
                "the index version being served was pruned from the database by later builds; "
                "reload to serve the active version"
            )
