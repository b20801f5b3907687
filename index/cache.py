"""Caches beside the index versions: embeddings (text vectors, and token vectors for late
interaction) by (model sha256, text sha256) in SQLite, and parsed sources by (source sha256,
index settings hash) as JSON. Both are plain files."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ingest.parse import ParsedSource


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, path: Path, model_sha: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path))
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (model TEXT, text TEXT, dim INT, vec BLOB, PRIMARY KEY (model, text))")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS tok (model TEXT, text TEXT, dim INT, ids BLOB, vecs BLOB, PRIMARY KEY (model, text))"
        )
        self._model = model_sha

    def _select(self, table: str, columns: str, keys: list[str]) -> Iterator[tuple[Any, ...]]:
        """Rows of `table` for this model and these text keys, 500 keys per query."""
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            marks = ",".join("?" * len(part))
            yield from self._db.execute(
                f"SELECT text, {columns} FROM {table} WHERE model = ? AND text IN ({marks})",  # noqa: S608 - fixed names, placeholders
                [self._model, *part],
            )

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        return {
            key: np.frombuffer(blob, dtype="float32").reshape(dim)
            for key, dim, blob in self._select("emb", "dim, vec", keys)
        }

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO emb VALUES (?, ?, ?, ?)",
                [(self._model, k, int(v.shape[0]), np.asarray(v, dtype="float32").tobytes()) for k, v in items.items()],
            )

    def get_tokens(self, keys: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Token ids (int32) and unit token vectors (float16) by text key."""
        return {
            key: (np.frombuffer(ids, dtype="int32"), np.frombuffer(vecs, dtype="float16").reshape(-1, dim))
            for key, dim, ids, vecs in self._select("tok", "dim, ids, vecs", keys)
        }

    def put_tokens(self, items: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO tok VALUES (?, ?, ?, ?, ?)",
                [
                    (self._model, k, int(v.shape[1]), np.asarray(ids, dtype="int32").tobytes(),
                     np.asarray(v, dtype="float16").tobytes())
                    for k, (ids, v) in items.items()
                ],
            )

    def close(self) -> None:
        self._db.close()


class ParseCache:
    def __init__(self, folder: Path, settings_hash: str):
        self.folder = folder
        self.settings_hash = settings_hash
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, source_id: str) -> Path:
        return self.folder / f"{source_id}-{self.settings_hash}.json"

    def get(self, source_id: str) -> ParsedSource | None:
        path = self._path(source_id)
        if not path.exists():
            return None
        try:
            return ParsedSource.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError:
            return None  # a damaged cache entry is re-parsed, never trusted

    def put(self, parsed: ParsedSource) -> None:
        path = self._path(parsed.source.id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(parsed.model_dump_json(), encoding="utf-8")
        tmp.replace(path)
