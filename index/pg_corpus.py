"""The PostgreSQL store's corpus, read by row: what a question needs, never the whole version.

`PgCorpus` implements index/corpus.py's `Corpus` over one version's rows: chunk records and
their stored sentences are fetched for the rows a question touches and kept in bounded LRU caches
(`PostgresSettings.cache_rows`); `sentence_best` gives the best sentence cosine per chunk row in
SQL (pgvector's HNSW over sentence vectors for the top rows, exact cosines for the other
candidates), which index/search.py adds to its fused score as it does the folder's in-memory max.
`LazyChunks` stands where the folder's list of chunks stands (`len`, `[row]`; iterating streams
the rows in batches and is counted, so tests can tell that serving never walks them).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, overload

import numpy as np

from peerqa.index.corpus import StoredSentence
from peerqa.index.pg_search import answering_errors, vector_literal
from peerqa.records import Chunk, Reference

K = TypeVar("K")
V = TypeVar("V")
_registered: weakref.WeakSet[Any] = weakref.WeakSet()
SENTENCE_DEPTH_MAX = 200  # rows taken from the sentence HNSW search (the folder takes `depth` rows of all)


class BoundedCache:
    """A thread-safe LRU of at most `size` entries; `peak` is the most it ever held."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.peak = 0
        self.fetched = 0  # entries read from the database

    def __len__(self) -> int:
        return len(self._data)

    def get_many(self, keys: Iterable[K], fetch: Callable[[list[K]], dict[K, V]]) -> dict[K, V]:
        keys = list(dict.fromkeys(keys))
        out: dict[K, V] = {}
        with self._lock:
            for k in keys:
                if k in self._data:
                    self._data.move_to_end(k)
                    out[k] = self._data[k]
        missing = [k for k in keys if k not in out]
        if missing:
            got = fetch(missing)
            out.update(got)
            with self._lock:
                self.fetched += len(got)
                for k, v in got.items():
                    self._data[k] = v
                    self._data.move_to_end(k)
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
                self.peak = max(self.peak, len(self._data))
        return out


class PgReader:
    """Queries against one version through the process's pool, with clear errors."""

    def __init__(self, pool: Any, url: str, version_id: int, dim: int, ef_search: int) -> None:
        self.pool, self.url, self.vid, self.dim, self.ef_search = pool, url, int(version_id), int(dim), ef_search

    def rows(self, sql: str, params: Sequence[Any] = (), binary: bool = False, hnsw: bool = False) -> list[tuple[Any, ...]]:
        with answering_errors(self.url), self.pool.connection() as conn:
            if binary and conn not in _registered:
                from pgvector.psycopg import register_vector

                register_vector(conn)
                _registered.add(conn)
            with conn.transaction(), conn.cursor(binary=binary) as cur:
                if hnsw:
                    cur.execute(f"SET LOCAL hnsw.ef_search = {int(self.ef_search)}")
                    cur.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                cur.execute(sql, list(params))
                return list(cur.fetchall())


def _vector(value: Any) -> np.ndarray:
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy is not None else value, dtype="float32")


class PgCorpus:
    in_memory = False

    def __init__(self, reader: PgReader, n_chunks: int, stats: Any, cache_rows: int = 4096) -> None:
        self.reader = reader
        self._n = int(n_chunks)
        self._stats = stats
        self.chunk_cache = BoundedCache(cache_rows)
        self.sentence_cache = BoundedCache(cache_rows)
        self._ids = BoundedCache(cache_rows)  # chunk id -> row
        self.full_scans = 0

    @property
    def n_chunks(self) -> int:
        return self._n

    @property
    def stats(self) -> Any:
        return self._stats

    def loaded_rows(self) -> int:
        """The most chunk rows this process held at once (bounded by the cache)."""
        return max(self.chunk_cache.peak, self.sentence_cache.peak)

    def _fetch_chunks(self, rows: list[int]) -> dict[int, Chunk]:
        got = self.reader.rows(f"SELECT row_no, record::text FROM peerqa_chunks WHERE version_id = {self.reader.vid} "
                               "AND row_no = ANY(%s)", [rows])
        out = {int(r): Chunk.model_validate_json(text) for r, text in got}
        by_id = {c.id: r for r, c in out.items()}
        self._ids.get_many(list(by_id), lambda _ids: by_id)  # a chunk fetched by row knows its id's row
        return out

    def chunks(self, rows: list[int]) -> dict[int, Chunk]:
        wanted = [int(r) for r in rows if 0 <= int(r) < self._n]
        return self.chunk_cache.get_many(wanted, self._fetch_chunks)

    def chunk(self, row: int) -> Chunk:
        found = self.chunks([row])
        if row not in found:
            raise IndexError(f"no chunk row {row} in this index version")
        return found[row]

    def row_of(self, chunk_id: str) -> int | None:
        def fetch(ids: list[str]) -> dict[str, int]:
            got = self.reader.rows(f"SELECT chunk_id, row_no FROM peerqa_chunks WHERE version_id = {self.reader.vid} "
                                   "AND chunk_id = ANY(%s)", [ids])
            return {str(i): int(r) for i, r in got}

        return self._ids.get_many([chunk_id], fetch).get(chunk_id)

    def sentences(self, rows: list[int]) -> dict[int, list[StoredSentence]]:
        def fetch(missing: list[int]) -> dict[int, list[StoredSentence]]:
            got = self.reader.rows(
                f"SELECT chunk_row, start_char, end_char, embedding FROM peerqa_sentences WHERE version_id = "
                f"{self.reader.vid} AND chunk_row = ANY(%s) ORDER BY sentence_no", [missing], binary=True)
            out: dict[int, list[StoredSentence]] = {r: [] for r in missing}
            for row, start, end, emb in got:
                out[int(row)].append((int(start), int(end), _vector(emb)))
            return out

        found = self.sentence_cache.get_many([int(r) for r in rows], fetch)
        return {r: v for r, v in found.items() if v}

    def sentence_best(self, query: np.ndarray, depth: int, rows: Iterable[int]) -> dict[int, float]:
        """The best sentence cosine of each candidate row, plus the `depth` rows whose best
        sentence is nearest (HNSW); rows without a stored sentence get -1, as in the folder."""
        r = self.reader
        expr, q = f"(embedding::vector({r.dim}))", vector_literal(query)
        depth = min(depth, SENTENCE_DEPTH_MAX)
        best: dict[int, float] = {}
        if depth > 0:
            near = r.rows(f"SELECT chunk_row, 1 - ({expr} <=> %s::vector({r.dim})) FROM peerqa_sentences "
                          f"WHERE version_id = {r.vid} ORDER BY {expr} <=> %s::vector({r.dim}) LIMIT {4 * depth}",
                          [q, q], hnsw=True)
            for row, cos in near:
                best[int(row)] = max(best.get(int(row), -1.0), float(cos))
            best = dict(sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:depth])
        wanted = sorted({int(x) for x in rows} - set(best))
        if wanted:
            exact = r.rows(f"SELECT chunk_row, max(1 - (embedding <=> %s::vector)) FROM peerqa_sentences "
                           f"WHERE version_id = {r.vid} AND chunk_row = ANY(%s) GROUP BY chunk_row", [q, wanted])
            best.update({int(row): float(cos) for row, cos in exact})
            for row in wanted:
                best.setdefault(row, -1.0)
        return best

    def iter_chunks(self, batch: int = 1000) -> Iterator[Chunk]:
        """Every chunk in row order, a batch at a time and not cached (commands that list chunks)."""
        self.full_scans += 1
        for start in range(0, self._n, batch):
            got = self.reader.rows(f"SELECT record::text FROM peerqa_chunks WHERE version_id = {self.reader.vid} "
                                   "AND row_no >= %s AND row_no < %s ORDER BY row_no", [start, start + batch])
            for (text,) in got:
                yield Chunk.model_validate_json(text)

    def row_section_paths(self) -> list[list[str]]:
        """Every row's section path in row order (the section level's map of rows to sections)."""
        got = self.reader.rows(f"SELECT section_path FROM peerqa_chunks WHERE version_id = {self.reader.vid} "
                               "ORDER BY row_no")
        return [list(p) for (p,) in got]

    def section_paths(self) -> list[list[str]]:
        got = self.reader.rows(f"SELECT section_path FROM peerqa_chunks WHERE version_id = {self.reader.vid} "
                               "GROUP BY section_path ORDER BY min(row_no)")
        return [list(p) for (p,) in got]


class LazyChunks(Sequence[Chunk]):
    """The version's chunks as a sequence: `len` and `[row]` without loading the others."""

    def __init__(self, corpus: PgCorpus) -> None:
        self.corpus = corpus

    def __len__(self) -> int:
        return self.corpus.n_chunks

    @overload
    def __getitem__(self, row: int) -> Chunk: ...

    @overload
    def __getitem__(self, row: slice) -> list[Chunk]: ...

    def __getitem__(self, row: int | slice) -> Chunk | list[Chunk]:
        if isinstance(row, slice):
            rows = list(range(self.corpus.n_chunks)[row])
            found = self.corpus.chunks(rows)
            return [found[r] for r in rows]
        if row < 0:
            row += self.corpus.n_chunks
        return self.corpus.chunk(row)

    def __iter__(self) -> Iterator[Chunk]:
        return self.corpus.iter_chunks()

    def section_paths_by_row(self) -> list[list[str]]:
        """Every row's section path, without reading the chunk records (index/sections.py)."""
        return self.corpus.row_section_paths()

    def prefetch(self, rows: list[int]) -> None:
        """Read these rows in one query (the next `[row]` lookups are cache hits)."""
        self.corpus.chunks(rows[: self.corpus.chunk_cache.size])

    def __bool__(self) -> bool:
        return self.corpus.n_chunks > 0


class LazyReferences(Mapping[str, Reference]):
    """The version's reference records by id, fetched when a cited passage names them (cached)."""

    def __init__(self, reader: PgReader, count: int, cache_rows: int = 4096) -> None:
        self.reader, self._count = reader, int(count)
        self._cache = BoundedCache(cache_rows)

    def _fetch(self, ids: list[str]) -> dict[str, Reference | None]:
        got = self.reader.rows(f"SELECT ref_id, record::text FROM peerqa_references WHERE version_id = "
                               f"{self.reader.vid} AND ref_id = ANY(%s)", [ids])
        out: dict[str, Reference | None] = dict.fromkeys(ids)
        out.update({str(i): Reference.model_validate_json(text) for i, text in got})
        return out

    def _get(self, ref_id: object) -> Reference | None:
        if not isinstance(ref_id, str):
            return None
        return self._cache.get_many([ref_id], self._fetch)[ref_id]

    def __getitem__(self, ref_id: str) -> Reference:
        found = self._get(ref_id)
        if found is None:
            raise KeyError(ref_id)
        return found

    def __contains__(self, ref_id: object) -> bool:
        return self._get(ref_id) is not None

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        got = self.reader.rows(f"SELECT ref_id FROM peerqa_references WHERE version_id = {self.reader.vid} "
                               "ORDER BY ref_id")
        return iter([str(i) for (i,) in got])
