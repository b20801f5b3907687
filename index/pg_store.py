"""The index in PostgreSQL with pgvector: publish a built version, read the active one.

A build (peerqa ingest --store postgresql://…) runs the folder builder in the work folder
(`index_dir`, which also keeps the caches), then publishes the validated version folder in ONE
transaction: version row, chunk/sentence/reference rows, blobs, the version's HNSW indexes and
the switch of `peerqa_active`. A killed build rolls back: readers only ever see complete versions.
A session-level advisory lock makes builds from any machine take turns. Old versions are pruned
after the switch (beyond `index.keep_versions`, never the active one), as in the folder store.

A serving process (`load_pg_index`) reads the version row, its references and outline, and
nothing else up front: dense chunk search runs in SQL (index/pg_search.py), BM25, corpus
statistics and token vectors are looked up by term or row (index/pg_lookup.py), chunk records
and sentences are fetched by row with bounded caches (index/pg_corpus.py). `load_pg_full` reads
the whole version (for `store copy` back to a folder).
"""

from __future__ import annotations

import atexit
import io
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from peerqa.index.bm25 import BM25Index
from peerqa.index.late_interaction import FILES as TOKEN_FILES
from peerqa.index.late_interaction import TokenVectors
from peerqa.index.pg_corpus import LazyChunks, LazyReferences, PgCorpus, PgReader
from peerqa.index.pg_lookup import PgBM25, PgStats, PgTokenVectors
from peerqa.index.pg_schema import BUILD_LOCK_KEY, connect, psycopg_module, require_schema
from peerqa.index.pg_search import PgDenseIndex
from peerqa.index.pg_stats import publish_by_row
from peerqa.index.store import IndexLoadError, LoadedIndex, load_version, sha256_path
from peerqa.index.store_backend import StoreUnavailable, check_expectations, redact_url
from peerqa.records import Chunk, Reference, SourceDoc
from peerqa.settings import Settings

ROW_FILES = ("chunks.jsonl", "references.jsonl", "outline.json", "vectors.faiss", "sentences.jsonl",
             "sentence_vectors.npy")
_pools: dict[str, Any] = {}
_pools_lock = threading.Lock()


@dataclass
class PgLoadedIndex(LoadedIndex):
    """A LoadedIndex whose `faiss` is a PgDenseIndex; `location` names the database (no password).
    Served (by `load_pg_index`), its chunks, BM25 and token vectors are read by row or term."""

    location: str = ""
    version_id: int = 0

    def sentence_best(self, query: np.ndarray, depth: int, rows: set[int]) -> dict[int, float]:
        """Best sentence cosine per row, in SQL (index/search.py calls it when present)."""
        if isinstance(self._corpus, PgCorpus):
            return self._corpus.sentence_best(query, depth, rows)
        return {}

    def sections(self) -> list[str]:
        if not isinstance(self._corpus, PgCorpus):
            return super().sections()
        seen: dict[str, None] = {}
        for path in self._corpus.section_paths():
            for depth in range(1, len(path) + 1):
                seen.setdefault(" › ".join(path[:depth]), None)
        return list(seen)


def register_vector(conn: Any) -> None:
    from pgvector.psycopg import register_vector as register

    register(conn)


def get_pool(settings: Settings) -> Any:
    """One connection pool per process and database URL, checked before each use (a dropped
    connection is replaced, not handed out)."""
    url = settings.store_url
    with _pools_lock:
        if url not in _pools:
            psycopg_module()
            from psycopg_pool import ConnectionPool

            pg = settings.pg
            pool = ConnectionPool(
                url, min_size=1, max_size=max(1, pg.pool_size), timeout=pg.connect_timeout_s, open=False,
                check=ConnectionPool.check_connection, name="peerqa",
                kwargs={
                    "autocommit": True, "connect_timeout": max(1, int(pg.connect_timeout_s)),
                    "application_name": "peerqa-serve", "keepalives": 1, "keepalives_idle": 10,
                    "keepalives_interval": 5, "keepalives_count": 3,
                    "options": f"-c statement_timeout={int(pg.statement_timeout_s * 1000)}",
                },
            )
            pool.open(wait=False)
            atexit.register(pool.close)
            _pools[url] = pool
        return _pools[url]


def close_pools() -> None:
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


@contextmanager
def pooled(settings: Settings) -> Iterator[Any]:
    from psycopg_pool import PoolTimeout

    psycopg = psycopg_module()
    try:
        with get_pool(settings).connection() as conn:
            yield conn
    except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise StoreUnavailable(
            f"the index database {redact_url(settings.store_url)} is not answering "
            f"({(str(exc).strip().splitlines() or [type(exc).__name__])[0]})"
        ) from exc


def _build_cmd(settings: Settings) -> str:
    return f"peerqa ingest --store {redact_url(settings.store_url)}"


def read_pg_active(settings: Settings) -> str | None:
    with pooled(settings) as conn:
        require_schema(conn, settings.store_url)
        row = conn.execute(
            "SELECT v.name FROM peerqa_active a JOIN peerqa_versions v ON v.id = a.version_id"
        ).fetchone()
    return row[0] if row else None


def load_pg_index(settings: Settings, expect: dict[str, Any] | None = None) -> PgLoadedIndex:
    """The active version for serving: its row, references and outline; the rest read by row."""
    label = redact_url(settings.store_url)
    with pooled(settings) as conn:
        require_schema(conn, settings.store_url)
        row = conn.execute(
            "SELECT v.id, v.name, v.manifest, v.outline, v.dim, v.chunks, v.by_row FROM peerqa_active a "
            "JOIN peerqa_versions v ON v.id = a.version_id"
        ).fetchone()
        if row is None:
            raise IndexLoadError(f"no index in {label}; build one with: {_build_cmd(settings)}")
        vid, name, manifest, outline, dim, n_chunks, by_row = row
        check_expectations(name, manifest, expect, _build_cmd(settings) + " --rebuild")
        if not by_row:
            raise IndexLoadError(f"{name} was published by an older peerqa (no rows to read by term and row); "
                                 f"publish it again with: {_build_cmd(settings)} --rebuild")
        n_refs = conn.execute("SELECT count(*) FROM peerqa_references WHERE version_id = %s", (vid,)).fetchone()[0]
        has_tokens = conn.execute("SELECT EXISTS (SELECT 1 FROM peerqa_tokens WHERE version_id = %s)",
                                  (vid,)).fetchone()[0]
    pg = settings.pg
    pool = get_pool(settings)
    reader = PgReader(pool, settings.store_url, vid, dim, pg.ef_search)
    corpus = PgCorpus(reader, n_chunks, PgStats(reader, n_chunks), pg.cache_rows)
    return PgLoadedIndex(
        folder=settings.index_dir / name, version=name, manifest=manifest, chunks=LazyChunks(corpus),
        references=LazyReferences(reader, n_refs, pg.cache_rows),
        sources={s["id"]: SourceDoc.model_validate(s) for s in manifest.get("sources", [])},
        outline=outline,
        faiss=PgDenseIndex(pool, settings.store_url, vid, dim, n_chunks, pg.ef_search),
        bm25=PgBM25(reader, n_chunks),  # type: ignore[arg-type]  # stands where the folder's BM25Index does
        token_vectors=PgTokenVectors(reader, n_chunks, dim, pg.token_cache_rows) if has_tokens else None,  # type: ignore[arg-type]
        location=label, version_id=vid, _corpus=corpus,
    )


def load_pg_full(settings: Settings, expect: dict[str, Any] | None = None) -> PgLoadedIndex:
    """The active version read whole (records, sentence vectors, BM25, token arrays), as the folder
    store loads one: for `store copy` back to a folder, not for serving."""
    label = redact_url(settings.store_url)
    with pooled(settings) as conn, conn.transaction():
        # One snapshot for every read below, so a switch in between cannot mix two versions.
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        require_schema(conn, settings.store_url)
        register_vector(conn)  # here, not when connecting: before `store init` there is no vector type
        row = conn.execute(
            "SELECT v.id, v.name, v.manifest, v.outline, v.dim, v.chunks FROM peerqa_active a "
            "JOIN peerqa_versions v ON v.id = a.version_id"
        ).fetchone()
        if row is None:
            raise IndexLoadError(f"no index in {label}; build one with: {_build_cmd(settings)}")
        vid, name, manifest, outline, dim, n_chunks = row
        check_expectations(name, manifest, expect, _build_cmd(settings) + " --rebuild")
        chunks = [Chunk.model_validate_json(r[0]) for r in conn.execute(
            "SELECT record::text FROM peerqa_chunks WHERE version_id = %s ORDER BY row_no", (vid,))]
        refs = [Reference.model_validate_json(r[0]) for r in conn.execute(
            "SELECT record::text FROM peerqa_references WHERE version_id = %s ORDER BY ref_id", (vid,))]
        spans: list[tuple[int, int, int]] = []
        vectors: list[np.ndarray] = []
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT chunk_row, start_char, end_char, embedding FROM peerqa_sentences "
                        "WHERE version_id = %s ORDER BY sentence_no", (vid,))
            for chunk_row, start, end, emb in cur:
                spans.append((int(chunk_row), int(start), int(end)))
                vectors.append(as_array(emb))
            cur.execute("SELECT name, sha256, data FROM peerqa_blobs WHERE version_id = %s", (vid,))
            blobs = {b_name: (digest, bytes(data)) for b_name, digest, data in cur}
    if len(chunks) != n_chunks:
        raise IndexLoadError(f"{name}: {len(chunks)} chunk rows for {n_chunks} in its manifest")
    _verify_blobs(name, blobs)
    sent_vectors = np.vstack(vectors).astype("float32") if vectors else np.zeros((0, dim), dtype="float32")
    token_vectors = None
    if all(f in blobs for f in TOKEN_FILES):
        arrays = [np.load(io.BytesIO(blobs[f][1]), allow_pickle=False) for f in TOKEN_FILES]
        try:
            token_vectors = TokenVectors(*arrays)
        except ValueError as exc:
            raise IndexLoadError(f"{name}: token vectors unusable ({exc})") from exc
    pg = settings.pg
    return PgLoadedIndex(
        folder=settings.index_dir / name, version=name, manifest=manifest, chunks=chunks,
        references={r.id: r for r in refs},
        sources={s["id"]: SourceDoc.model_validate(s) for s in manifest.get("sources", [])},
        outline=outline,
        faiss=PgDenseIndex(get_pool(settings), settings.store_url, vid, dim, len(chunks), pg.ef_search),
        bm25=_bm25_from_blobs(blobs, len(chunks)),
        sentence_spans=spans, sentence_vectors=sent_vectors, token_vectors=token_vectors,
        location=label, version_id=vid,
    )


def as_array(value: Any) -> np.ndarray:
    """A vector column's value as float32 (pgvector's loaders give numpy or its Vector class)."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy is not None else value, dtype="float32")


def _verify_blobs(name: str, blobs: dict[str, tuple[str, bytes]]) -> None:
    import hashlib

    for blob_name, (digest, data) in blobs.items():
        if hashlib.sha256(data).hexdigest() != digest:
            raise IndexLoadError(f"{name}: stored file {blob_name} is corrupted (checksum mismatch)")


def _bm25_from_blobs(blobs: dict[str, tuple[str, bytes]], size: int) -> BM25Index:
    # bm25s reads a folder; its files are plain .npy/.json (loaded without pickle).
    with tempfile.TemporaryDirectory(prefix="peerqa-bm25-") as tmp:
        for blob_name, (_digest, data) in blobs.items():
            if blob_name.startswith("bm25/"):
                (Path(tmp) / blob_name[len("bm25/"):]).write_bytes(data)
        return BM25Index.load(Path(tmp), size)


# -- writing ------------------------------------------------------------------------------
@contextmanager
def pg_build_lock(settings: Settings) -> Iterator[None]:
    """Held for a whole build: a second build anywhere is refused at once, as with the folder lock."""
    conn = connect(settings.store_url, settings.pg.connect_timeout_s, 0, app="peerqa-ingest-lock")
    try:
        require_schema(conn, settings.store_url)
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (BUILD_LOCK_KEY,)).fetchone()[0]
        if not got:
            raise RuntimeError(
                f"another build is running on the index database {redact_url(settings.store_url)}; "
                "try again when it ends"
            )
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (BUILD_LOCK_KEY,))
    finally:
        conn.close()  # the lock also ends with the session, e.g. when the build is killed


def publish_folder(settings: Settings, folder: Path) -> str:
    """Copy a validated version folder into the database and make it active, in one transaction.
    Returns the version name. A version already in the database is only switched to."""
    loaded = load_version(folder)  # checksums verified: only a sound version is published
    url = settings.store_url
    conn = connect(url, settings.pg.connect_timeout_s, 0, app="peerqa-publish")
    try:
        require_schema(conn, url)
        register_vector(conn)
        existing = conn.execute("SELECT id FROM peerqa_versions WHERE name = %s", (loaded.version,)).fetchone()
        with conn.transaction():
            vid = existing[0] if existing else _insert_version(conn, settings, loaded, folder)
            conn.execute(
                "INSERT INTO peerqa_active (one, version_id) VALUES (true, %s) "
                "ON CONFLICT (one) DO UPDATE SET version_id = EXCLUDED.version_id, switched = now()", (vid,))
        prune_pg_versions(conn, settings.index.keep_versions)
    finally:
        conn.close()
    return loaded.version


def _insert_version(conn: Any, settings: Settings, loaded: LoadedIndex, folder: Path) -> int:
    from psycopg.types.json import Jsonb

    m = loaded.manifest
    dim = int(m["model"]["dim"])
    vid = conn.execute(
        "INSERT INTO peerqa_versions (name, settings_hash, model_sha256, dim, chunks, manifest, outline) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (loaded.version, m["settings_hash"], m["model"]["sha256"], dim, len(loaded.chunks), Jsonb(m),
         Jsonb(loaded.outline)),
    ).fetchone()[0]
    vectors = chunk_vectors(loaded)
    kinds = {sid: doc.kind.value for sid, doc in loaded.sources.items()}
    with conn.cursor().copy(
        "COPY peerqa_chunks (version_id, row_no, chunk_id, source_id, source_path, source_kind, section, "
        "section_path, page_start, page_end, record, embedding) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "int4", "text", "text", "text", "text", "text", "text[]", "int4", "int4",
                        "jsonb", "vector"])
        for row, chunk in enumerate(loaded.chunks):
            copy.write_row([vid, row, chunk.id, chunk.source_id, chunk.source_path, kinds.get(chunk.source_id, "other"),
                            chunk.section, list(chunk.section_path), chunk.page_start, chunk.page_end,
                            Jsonb(chunk.model_dump(mode="json")), vectors[row]])
    with conn.cursor().copy(
        "COPY peerqa_sentences (version_id, sentence_no, chunk_row, start_char, end_char, embedding) "
        "FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "int4", "int4", "int4", "int4", "vector"])
        for i, (row, start, end) in enumerate(loaded.sentence_spans):
            copy.write_row([vid, i, row, start, end, np.asarray(loaded.sentence_vectors[i], dtype="float32")])
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO peerqa_references (version_id, ref_id, record) VALUES (%s, %s, %s)",
                        [(vid, r.id, Jsonb(r.model_dump(mode="json"))) for r in loaded.references.values()])
        blob_names = [n for n in m.get("files", {}) if n not in ROW_FILES]
        cur.executemany("INSERT INTO peerqa_blobs (version_id, name, sha256, data) VALUES (%s, %s, %s, %s)",
                        [(vid, n, sha256_path(folder / n), (folder / n).read_bytes()) for n in blob_names])
    publish_by_row(conn, vid, loaded, folder)
    _create_hnsw(conn, settings, vid, dim)
    counted = conn.execute("SELECT count(*) FROM peerqa_chunks WHERE version_id = %s", (vid,)).fetchone()[0]
    if counted != len(loaded.chunks):  # validate before the switch, as the folder builder does
        raise IndexLoadError(f"{loaded.version}: wrote {counted} chunk rows for {len(loaded.chunks)} chunks")
    return int(vid)


def _create_hnsw(conn: Any, settings: Settings, vid: int, dim: int) -> None:
    pg = settings.pg
    conn.execute(f"SET LOCAL maintenance_work_mem = '{safe_mem(pg.maintenance_work_mem)}'")
    for table in ("peerqa_chunks", "peerqa_sentences"):
        conn.execute(
            f"CREATE INDEX {table}_hnsw_{int(vid)} ON {table} USING hnsw ((embedding::vector({int(dim)})) "
            f"vector_cosine_ops) WITH (m = {int(pg.hnsw_m)}, ef_construction = {int(pg.hnsw_ef_construction)}) "
            f"WHERE version_id = {int(vid)}"
        )


def safe_mem(value: str) -> str:
    import re

    if not re.fullmatch(r"\d+\s*(kB|MB|GB)?", value.strip()):
        raise ValueError(f"PEERQA_PG__MAINTENANCE_WORK_MEM must look like 256MB, got {value!r}")
    return value.strip()


def chunk_vectors(loaded: LoadedIndex) -> np.ndarray:
    """The chunk vectors of a folder version, in row order, from its FAISS index."""
    index = loaded.faiss
    n = len(loaded.chunks)
    if n == 0:
        return np.zeros((0, 0), dtype="float32")
    try:
        return np.asarray(index.reconstruct_n(0, n), dtype="float32")
    except RuntimeError:  # IVF keeps no direct map until asked
        import faiss

        faiss.extract_index_ivf(index).make_direct_map()
        return np.asarray(index.reconstruct_n(0, n), dtype="float32")


def prune_pg_versions(conn: Any, keep: int) -> list[str]:
    """Drop versions beyond the newest `keep` (never the active one), with their HNSW indexes."""
    rows = conn.execute(
        "SELECT v.id, v.name FROM peerqa_versions v WHERE v.id NOT IN (SELECT version_id FROM peerqa_active) "
        "ORDER BY v.id DESC OFFSET %s", (max(0, keep - 1),)
    ).fetchall()
    for vid, _name in rows:
        with conn.transaction():
            for table in ("peerqa_chunks", "peerqa_sentences"):
                conn.execute(f"DROP INDEX IF EXISTS {table}_hnsw_{int(vid)}")
            conn.execute("DELETE FROM peerqa_versions WHERE id = %s", (vid,))
    return [name for _vid, name in rows]


def version_names(settings: Settings) -> list[str]:
    with pooled(settings) as conn:
        require_schema(conn, settings.store_url)
        return [r[0] for r in conn.execute("SELECT name FROM peerqa_versions ORDER BY id DESC")]

