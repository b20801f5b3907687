"""Which store holds the index: the folder (default) or PostgreSQL with pgvector.

`Settings.store_url` (PEERQA_STORE_URL, `--store`) chooses: empty → the folder at `index_dir`
(index/store.py); `postgresql://…` → the database (index/pg_store.py), with `index_dir` kept as
the build's work folder and caches. Both give a `LoadedIndex`, so the engine, the evaluation,
the app and the LangChain retriever do not know which one they read.
"""

from __future__ import annotations

import re
from typing import Any

from peerqa.index.store import IndexLoadError, LoadedIndex, load_index, read_active
from peerqa.settings import Settings

_SCHEMES = ("postgresql://", "postgres://")
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


class StoreUnavailable(IndexLoadError):
    """The index database cannot be reached or stopped answering; the message says what to do."""


def is_postgres_url(url: str) -> bool:
    return url.strip().lower().startswith(_SCHEMES)


def uses_postgres(settings: Settings) -> bool:
    return bool(settings.store_url) and is_postgres_url(settings.store_url)


def check_store_url(url: str) -> None:
    """Refuse anything that is neither empty (the folder) nor a PostgreSQL URL."""
    if url and not is_postgres_url(url):
        raise ValueError(f"--store / PEERQA_STORE_URL must be a postgresql:// URL, got {redact_url(url)!r}")


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    return _PASSWORD_PARAM.sub(r"\1***", _PASSWORD.sub(r"\1***@", url))


def check_expectations(name: str, manifest: dict[str, Any], expect: dict[str, Any] | None, rebuild_cmd: str) -> None:
    """Refuse an index built with another model, dimension or shaping settings (as the folder store does)."""
    if not expect:
        return
    model = manifest.get("model", {})
    if expect.get("model") and model.get("name") != expect["model"]:
        raise IndexLoadError(
            f"{name}: built with model {model.get('name')!r}, but the settings ask for {expect['model']!r}; "
            f"rebuild it with: {rebuild_cmd}"
        )
    if expect.get("dim") and model.get("dim") != expect["dim"]:
        raise IndexLoadError(
            f"{name}: {model.get('dim')}-dimensional vectors, the model gives {expect['dim']}; rebuild it with: {rebuild_cmd}"
        )
    if expect.get("settings_hash") and manifest.get("settings_hash") != expect["settings_hash"]:
        raise IndexLoadError(f"{name}: built with other chunking or model settings; rebuild it with: {rebuild_cmd}")


def open_store(settings: Settings, expect: dict[str, Any] | None = None) -> LoadedIndex:
    if uses_postgres(settings):
        from peerqa.index.pg_store import load_pg_index

        return load_pg_index(settings, expect)
    check_store_url(settings.store_url)
    return load_index(settings.index_dir, expect)


def active_version(settings: Settings) -> str | None:
    """The name of the version being served, read cheaply (a file or one row)."""
    if uses_postgres(settings):
        from peerqa.index.pg_store import read_pg_active

        return read_pg_active(settings)
    return read_active(settings.index_dir)


def store_label(settings: Settings) -> str:
    return redact_url(settings.store_url) if uses_postgres(settings) else str(settings.index_dir)
