"""Caches beside the index versions: embeddings (text vectors, and token vectors for late
interaction) by (model sha256, text sha256) in SQLite, and parsed sources by (source sha256,
index settings hash) as JSON. Both are plain files.

Every entry carries a checksum of what it holds, verified on every read: a damaged entry is
recomputed (and replaced), never reused, and an entry without a checksum (written by an older
version) counts as damaged. A cache file that SQLite itself reports as damaged is moved aside
and started afresh. What was found damaged is reported in the build's warnings.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from peerqa.ingest.parse import ParsedSource

log = logging.getLogger(__name__)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sum(*parts: bytes | str | int) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()[:32]


def _damage(exc: sqlite3.DatabaseError) -> bool:
    """A damaged file ("file is not a database", "malformed"), not a full disk or a lock."""
    return not isinstance(exc, sqlite3.OperationalError)


class EmbeddingCache:
    def __init__(self, path: Path, model_sha: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._model = model_sha
        self.damaged = 0  # entries that failed their checksum (recomputed)
        self.warnings: list[str] = []
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if not _damage(exc):
                raise
            return self._start_afresh(exc)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path))
        try:
            row = db.execute("PRAGMA quick_check").fetchone()
            if not row or row[0] != "ok":
                raise sqlite3.DatabaseError(str(row[0] if row else "no answer"))
            # Tables of earlier versions hold no checksums: their entries cannot be verified.
            db.execute("DROP TABLE IF EXISTS emb")
            db.execute("DROP TABLE IF EXISTS tok")
            db.execute(
                "CREATE TABLE IF NOT EXISTS emb2 (model TEXT, text TEXT, dim INT, vec BLOB, sum TEXT, PRIMARY KEY (model, text))"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS tok2 (model TEXT, text TEXT, dim INT, ids BLOB, vecs BLOB, sum TEXT, "
                "PRIMARY KEY (model, text))"
            )
            db.commit()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _start_afresh(self, exc: BaseException) -> sqlite3.Connection:
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            self.path.replace(aside)
            where = f"moved to {aside.name}"
        except OSError:
            self.path.unlink(missing_ok=True)
            where = "removed"
        message = f"the embedding cache {self.path.name} was damaged ({exc}); {where}, its vectors are recomputed"
        log.warning("%s", message)
        self.warnings.append(message)
        return self._connect()

    def _select(self, table: str, columns: str, keys: list[str]) -> Iterator[tuple[Any, ...]]:
        """Rows of `table` for this model and these text keys, 500 keys per query."""
        rows: list[tuple[Any, ...]] = []
        try:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                marks = ",".join("?" * len(part))
                rows.extend(
                    self._db.execute(
                        f"SELECT text, {columns} FROM {table} WHERE model = ? AND text IN ({marks})",  # noqa: S608 - fixed names, placeholders
                        [self._model, *part],
                    )
                )
        except sqlite3.DatabaseError as exc:
            if not _damage(exc):
                raise
            self._db.close()
            self._db = self._start_afresh(exc)
            return iter(())
        return iter(rows)

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for key, dim, blob, stored in self._select("emb2", "dim, vec, sum", keys):
            if stored != _sum(self._model, key, dim, blob) or len(blob) != 4 * dim:
                self.damaged += 1
                continue
            out[key] = np.frombuffer(blob, dtype="float32").reshape(dim)
        return out

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        rows = []
        for k, v in items.items():
            blob = np.asarray(v, dtype="float32").tobytes()
            rows.append((self._model, k, int(v.shape[0]), blob, _sum(self._model, k, int(v.shape[0]), blob)))
        self._write("INSERT OR REPLACE INTO emb2 VALUES (?, ?, ?, ?, ?)", rows)

    def get_tokens(self, keys: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Token ids (int32) and unit token vectors (float16) by text key."""
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for key, dim, ids, vecs, stored in self._select("tok2", "dim, ids, vecs, sum", keys):
            if stored != _sum(self._model, key, dim, ids, vecs) or len(vecs) != 2 * dim * (len(ids) // 4):
                self.damaged += 1
                continue
            out[key] = (np.frombuffer(ids, dtype="int32"), np.frombuffer(vecs, dtype="float16").reshape(-1, dim))
        return out

    def put_tokens(self, items: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        rows = []
        for k, (ids, v) in items.items():
            id_blob = np.asarray(ids, dtype="int32").tobytes()
            vec_blob = np.asarray(v, dtype="float16").tobytes()
            dim = int(v.shape[1])
            rows.append((self._model, k, dim, id_blob, vec_blob, _sum(self._model, k, dim, id_blob, vec_blob)))
        self._write("INSERT OR REPLACE INTO tok2 VALUES (?, ?, ?, ?, ?, ?)", rows)

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            with self._db:
                self._db.executemany(sql, rows)
        except sqlite3.DatabaseError as exc:
            if not _damage(exc):
                raise
            self._db.close()
            self._db = self._start_afresh(exc)
            with self._db:
                self._db.executemany(sql, rows)

    def report(self) -> list[str]:
        """Warnings for the build report: the cache moved aside, damaged entries recomputed."""
        lines = list(self.warnings)
        if self.damaged:
            lines.append(
                f"{self.damaged} embedding cache entr{'y' if self.damaged == 1 else 'ies'} failed "
                "their checksum and were recomputed"
            )
        return lines

    def close(self) -> None:
        self._db.close()


_PARSE_MAGIC = "peerqa-parse-cache sha256 "


class ParseCache:
    def __init__(self, folder: Path, settings_hash: str):
        self.folder = folder
        self.settings_hash = settings_hash
        self.damaged: list[str] = []  # source ids whose entry failed its checksum (re-parsed)
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, source_id: str) -> Path:
        return self.folder / f"{source_id}-{self.settings_hash}.json"

    def get(self, source_id: str) -> ParsedSource | None:
        path = self._path(source_id)
        if not path.exists():
            return None
        try:
            head, _, body = path.read_text(encoding="utf-8").partition("\n")
            if not head.startswith(_PARSE_MAGIC) or head[len(_PARSE_MAGIC) :] != hashlib.sha256(body.encode()).hexdigest():
                raise ValueError("checksum mismatch")
            parsed = ParsedSource.model_validate_json(body)
            if parsed.source.id != source_id:
                raise ValueError("entry of another source")
            return parsed
        except (OSError, ValueError):
            self.damaged.append(source_id)
            return None  # a damaged cache entry is re-parsed, never trusted

    def put(self, parsed: ParsedSource) -> None:
        path = self._path(parsed.source.id)
        tmp = path.with_suffix(".tmp")
        body = parsed.model_dump_json()
        tmp.write_text(f"{_PARSE_MAGIC}{hashlib.sha256(body.encode()).hexdigest()}\n{body}", encoding="utf-8")
        tmp.replace(path)
