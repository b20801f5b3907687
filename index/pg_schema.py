"""The PostgreSQL schema of the index, created and upgraded only by `peerqa store init`.

Versioned migrations: `peerqa_schema` holds the number of the last one applied. Every reader and
writer checks it and refuses a schema older or newer than this code's, naming the command that
fixes it, so an upgrade never happens as a side effect of serving or ingesting.

What is stored how (README, "The index in PostgreSQL"):
    peerqa_versions    one row per index version: its manifest (settings hash, model sha256,
                       package versions, counts) and outline as JSONB
    peerqa_active      exactly one row: the serving version, switched in the build's transaction
    peerqa_chunks      chunk records (provenance as columns, the whole record as JSONB) with
                       their vector; one partial HNSW index per version
    peerqa_sentences   (chunk row, start, end) and vector of each sentence; HNSW per version
    peerqa_references  reference records as JSONB
    peerqa_blobs       the BM25 arrays and the late-interaction token arrays, as the same .npy /
                       .json bytes the folder store writes (never pickle), with their sha256;
                       read only by `store copy` back to a folder
    (3) what a serving process reads by row or by term, so that it never loads a whole version
    (index/pg_stats.py writes them, index/pg_corpus.py and index/pg_lookup.py read them):
    peerqa_postings    BM25: (term, chunk row) -> the precomputed BM25 score bm25s computes
    peerqa_terms       document frequency of each BM25 stem (prefix index for word roots)
    peerqa_bigrams     the stem bigrams the sources print; peerqa_acronyms: printed acronyms and
                       what the sources spell them out as; peerqa_surnames: reference authors' years
    peerqa_tokens      each chunk's late-interaction word-piece ids and float16 vectors (bytes)
    peerqa_pieces      document frequency of each word piece (the late-interaction weights)
"""

from __future__ import annotations

from typing import Any

from peerqa.index.store_backend import StoreUnavailable, redact_url

# (number, what it does, statements). Append only: a released migration never changes.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "index versions, active pointer, chunks, sentences, references, blobs", [
        "CREATE EXTENSION IF NOT EXISTS vector",
        """CREATE TABLE peerqa_versions (
            id bigserial PRIMARY KEY,
            name text UNIQUE NOT NULL,
            settings_hash text NOT NULL,
            model_sha256 text NOT NULL,
            dim integer NOT NULL,
            chunks integer NOT NULL,
            manifest jsonb NOT NULL,
            outline jsonb NOT NULL,
            created timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE peerqa_active (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            version_id bigint NOT NULL REFERENCES peerqa_versions (id),
            switched timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE peerqa_chunks (
            version_id bigint NOT NULL REFERENCES peerqa_versions (id) ON DELETE CASCADE,
            row_no integer NOT NULL,
            chunk_id text NOT NULL,
            source_id text NOT NULL,
            source_path text NOT NULL,
            source_kind text NOT NULL,
            section text NOT NULL,
            section_path text[] NOT NULL,
            page_start integer,
            page_end integer,
            record jsonb NOT NULL,
            embedding vector NOT NULL,
            PRIMARY KEY (version_id, row_no))""",
        """CREATE TABLE peerqa_sentences (
            version_id bigint NOT NULL REFERENCES peerqa_versions (id) ON DELETE CASCADE,
            sentence_no integer NOT NULL,
            chunk_row integer NOT NULL,
            start_char integer NOT NULL,
            end_char integer NOT NULL,
            embedding vector NOT NULL,
            PRIMARY KEY (version_id, sentence_no))""",
        """CREATE TABLE peerqa_references (
            version_id bigint NOT NULL REFERENCES peerqa_versions (id) ON DELETE CASCADE,
            ref_id text NOT NULL,
            record jsonb NOT NULL,
            PRIMARY KEY (version_id, ref_id))""",
        """CREATE TABLE peerqa_blobs (
            version_id bigint NOT NULL REFERENCES peerqa_versions (id) ON DELETE CASCADE,
            name text NOT NULL,
            sha256 text NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (version_id, name))""",
        "CREATE TABLE peerqa_schema (version integer NOT NULL, applied timestamptz NOT NULL DEFAULT now())",
    ]),
    (2, "indexes for the section and source filters and for a chunk's sentences", [
        "CREATE INDEX peerqa_chunks_source ON peerqa_chunks (version_id, source_id)",
        "CREATE INDEX peerqa_chunks_section ON peerqa_chunks (version_id, section text_pattern_ops)",
        "CREATE INDEX peerqa_sentences_chunk ON peerqa_sentences (version_id, chunk_row)",
    ]),
    (3, "what a serving process reads by row: BM25 postings, corpus statistics, token vectors", [
        "ALTER TABLE peerqa_versions ADD COLUMN by_row boolean NOT NULL DEFAULT false",
        "CREATE INDEX peerqa_chunks_id ON peerqa_chunks (version_id, chunk_id)",
        """CREATE TABLE peerqa_postings (
            version_id bigint NOT NULL REFERENCES peerqa_versions (id) ON DELETE CASCADE,
            term text NOT NULL,
            chunk_row integer NOT NULL,
            score real NOT NULL,
            PRIMARY KEY (version_id, term, chunk_row))""",
        """CREATE TABLE peerqa_terms (
            version_id bigint NOT NULL REFERENCES peerqa_versions (id) ON DELETE CASCADE,
            term text NOT NULL,
            df integer NOT NULL,
            PRIMARY KEY (version_id, term))""",
        "CREATE INDEX peerqa_terms_prefix ON peerqa_terms (version_id, term text_pattern_ops)",
        """CREATE TABLE peerqa_bigrams (
            version_id bigint NOT NULL REFERENCES peerqa_versions (id) ON DELETE CASCADE,
            first text NOT NULL,
            second text NOT NULL,
            PRIMARY KEY (version_id, first, second))""",
        """CREATE TABLE peerqa_acronyms (
            version_id bigint NOT NULL REFERENCES peerqa_versions (id) ON DELETE CASCADE,
            acronym text NOT NULL,
            printed boolean NOT NULL,
            expansion text NOT NULL,
            PRIMARY KEY (version_id, acronym))""",
        """CREATE TABLE peerqa_surnames (
            version_id bigint NOT NULL REFERENCES peerqa_versions (id) ON DELETE CASCADE,
            surname text NOT NULL,
            years integer[] NOT NULL,
            PRIMARY KEY (version_id, surname))""",
        """CREATE TABLE peerqa_tokens (
            version_id bigint NOT NULL REFERENCES peerqa_versions (id) ON DELETE CASCADE,
            chunk_row integer NOT NULL,
            ids bytea NOT NULL,
            vectors bytea NOT NULL,
            PRIMARY KEY (version_id, chunk_row))""",
        """CREATE TABLE peerqa_pieces (
            version_id bigint NOT NULL REFERENCES peerqa_versions (id) ON DELETE CASCADE,
            piece integer NOT NULL,
            df integer NOT NULL,
            PRIMARY KEY (version_id, piece))""",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
# Serialises `store init` runs and index builds across every machine using the database.
INIT_LOCK_KEY = 0x70656572_7161_0001  # "peerqa" 1
BUILD_LOCK_KEY = 0x70656572_7161_0002


def psycopg_module() -> Any:
    try:
        import pgvector.psycopg  # noqa: F401 - checked here so that a missing piece is named at once
        import psycopg
        import psycopg_pool  # noqa: F401
    except ImportError as exc:  # optional dependencies
        raise StoreUnavailable(
            "the PostgreSQL store needs psycopg and pgvector; install them with: "
            "pip install -c constraints.txt -e '.[postgres]'"
        ) from exc
    return psycopg


def connect(url: str, timeout_s: float = 5.0, statement_timeout_s: float = 30.0, app: str = "peerqa",
            autocommit: bool = True) -> Any:
    """A connection that gives up instead of hanging: connect and statement timeouts, TCP keepalives."""
    psycopg = psycopg_module()
    try:
        return psycopg.connect(
            url, autocommit=autocommit, connect_timeout=max(1, int(timeout_s)), application_name=app,
            options=f"-c statement_timeout={int(statement_timeout_s * 1000)}",
            keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
        )
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot connect to the index database {redact_url(url)}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def schema_version(conn: Any) -> int | None:
    """The applied schema number, or None when the database has no peerqa schema."""
    if conn.execute("SELECT to_regclass('peerqa_schema')").fetchone()[0] is None:
        return None
    row = conn.execute("SELECT max(version) FROM peerqa_schema").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def require_schema(conn: Any, url: str) -> None:
    """Refuse a database whose schema is missing, older or newer than this code's."""
    found = schema_version(conn)
    fix = f"peerqa store init --store {redact_url(url)}"
    if found is None:
        raise StoreUnavailable(f"the database {redact_url(url)} has no peerqa schema; create it with: {fix}")
    if found < SCHEMA_VERSION:
        raise StoreUnavailable(
            f"the database's peerqa schema is version {found}, this peerqa needs {SCHEMA_VERSION}; "
            f"upgrade it with: {fix}"
        )
    if found > SCHEMA_VERSION:
        raise StoreUnavailable(
            f"the database's peerqa schema is version {found}, newer than this peerqa ({SCHEMA_VERSION}); "
            "upgrade peerqa on this machine"
        )


def init_schema(conn: Any, upto: int = SCHEMA_VERSION) -> list[int]:
    """Apply the migrations not yet applied (each in its own transaction); return their numbers."""
    applied: list[int] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (INIT_LOCK_KEY,))
    try:
        current = schema_version(conn) or 0
        for number, _what, statements in MIGRATIONS:
            if number <= current or number > upto:
                continue
            with conn.transaction():
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO peerqa_schema (version) VALUES (%s)", (number,))
            applied.append(number)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (INIT_LOCK_KEY,))
    return applied
