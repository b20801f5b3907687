"""The on-disk index: versioned folders of plain files, an ACTIVE pointer switched atomically.

    <index_dir>/<version>/manifest.json    build metadata, sources, counts, file checksums
                         chunks.jsonl      Chunk records in FAISS row order
                         references.jsonl  Reference records
                         outline.json      per-source outline, sub-sections and glossary
                         vectors.faiss     faiss.write_index
                         bm25/             bm25s save (numpy arrays without pickle, JSON vocab)
                         sentences.jsonl   (chunk row, start, end) of each sentence with a vector
                         sentence_vectors.npy
                         token_vectors.npy, token_ids.npy, token_offsets.npy   late interaction
    <index_dir>/ACTIVE                     name of the serving version (and its sha256)
    <index_dir>/cache/                     parse and embedding caches

Loading checks the manifest's own checksum and every file against the manifest's sha256
(`index/integrity.py`). A damaged active version, or a missing or damaged ACTIVE pointer, falls
back to the newest other version that validates, with a warning; so does an active version built
with another model or settings when an older one matches them. With none, loading is refused with
the command that rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peerqa.index.bm25 import BM25Index
from peerqa.index.integrity import manifest_problem, pointer_text, read_pointer
from peerqa.index.late_interaction import TokenVectors
from peerqa.index.vectors import read_faiss
from peerqa.records import Chunk, Reference, SourceDoc

if TYPE_CHECKING:
    from peerqa.index.corpus import Corpus

log = logging.getLogger(__name__)
FORMAT = 2  # 2: the manifest carries its own checksum
DATA_FILES = ("chunks.jsonl", "references.jsonl", "outline.json", "vectors.faiss")


class IndexLoadError(Exception):
    """No usable index; the message says which command builds one."""


class IndexMismatch(IndexLoadError):
    """A valid version, but built with another model, dimension or settings than asked for."""


def sha256_path(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_checksums(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            out[str(path.relative_to(folder))] = sha256_path(path)
    return out


def write_jsonl(path: Path, rows: Sequence[Any]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(row.model_dump_json() + "\n")


def read_active(index_dir: Path) -> str | None:
    """The serving version: what ACTIVE names, else (pointer missing or damaged) the newest version
    folder; None when there is none. `load_index` validates it and says what was wrong."""
    name, _problem = read_pointer(index_dir)
    if name is not None:
        return name
    versions = list_versions(index_dir)
    return versions[0] if versions else None


def set_active(index_dir: Path, version: str) -> None:
    tmp = index_dir / f".ACTIVE.{os.getpid()}.tmp"
    tmp.write_text(pointer_text(version), encoding="utf-8")
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / "ACTIVE")


def list_versions(index_dir: Path) -> list[str]:
    if not index_dir.exists():
        return []
    names = [p.name for p in index_dir.iterdir() if p.is_dir() and (p / "manifest.json").exists()]
    return sorted(names, reverse=True)


def prune_versions(index_dir: Path, keep: int) -> list[str]:
    """Drop versions beyond the newest `keep` (never the active one) and leftover build folders of
    builds that no longer run; returns a line for each leftover removed."""
    from peerqa.index.cleanup import remove_stale_builds

    active = read_active(index_dir)
    for name in list_versions(index_dir)[keep:]:
        if name != active:
            shutil.rmtree(index_dir / name, ignore_errors=True)
    return remove_stale_builds(index_dir)


@dataclass
class LoadedIndex:
    folder: Path
    version: str
    manifest: dict[str, Any]
    chunks: Sequence[Chunk]  # a list for the folder store; fetched by row for PostgreSQL
    references: Mapping[str, Reference]  # a dict for the folder store; fetched by id for PostgreSQL
    sources: dict[str, SourceDoc]
    outline: dict[str, Any]
    faiss: Any
    bm25: BM25Index
    warnings: list[str] = field(default_factory=list)
    sentence_spans: list[tuple[int, int, int]] = field(default_factory=list)  # (chunk row, start, end)
    sentence_vectors: Any = None
    token_vectors: TokenVectors | None = None  # for late interaction; absent when the build skipped them
    _corpus: Any = field(default=None, repr=False)

    @property
    def corpus(self) -> Corpus:
        """What the engine reads by row and the corpus statistics (index/corpus.py)."""
        if self._corpus is None:
            from peerqa.index.corpus import MemoryCorpus

            self._corpus = MemoryCorpus(self)
        return self._corpus

    @property
    def glossary(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for info in self.outline.values():
            merged.update(info.get("glossary", {}))
        return merged

    def sections(self) -> list[str]:
        """Every section path with chunks, in reading order."""
        seen: dict[str, None] = {}
        for chunk in self.chunks:
            if chunk.section_path:
                for depth in range(1, len(chunk.section_path) + 1):
                    seen.setdefault(" › ".join(chunk.section_path[:depth]), None)
        return list(seen)


def validate_version(folder: Path, expect: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check a version folder against its manifest; return the manifest or raise IndexLoadError."""
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexLoadError(f"{folder.name}: manifest unreadable ({exc})") from exc
    if isinstance(manifest, dict) and manifest.get("format") != FORMAT:
        raise IndexLoadError(
            f"{folder.name}: index format {manifest.get('format')} is not {FORMAT} (built by another version of peerqa)"
        )
    problem = manifest_problem(manifest)
    if problem:
        raise IndexLoadError(f"{folder.name}: {problem}")
    for name, digest in manifest.get("files", {}).items():
        path = folder / name
        if not path.exists():
            raise IndexLoadError(f"{folder.name}: file {name} is missing")
        if sha256_path(path) != digest:
            raise IndexLoadError(f"{folder.name}: file {name} is corrupted (checksum mismatch)")
    for name in DATA_FILES:
        if name not in manifest.get("files", {}):
            raise IndexLoadError(f"{folder.name}: manifest does not list {name}")
    if expect:
        model = manifest.get("model", {})
        if expect.get("model") and model.get("name") != expect["model"]:
            raise IndexMismatch(
                f"the index was built with model {model.get('name')!r}, but the settings ask for "
                f"{expect['model']!r}; rebuild it with: peerqa ingest --rebuild"
            )
        if expect.get("dim") and model.get("dim") != expect["dim"]:
            raise IndexMismatch(
                f"the index has {model.get('dim')}-dimensional vectors, the model gives {expect['dim']}; "
                "rebuild it with: peerqa ingest --rebuild"
            )
        if expect.get("settings_hash") and manifest.get("settings_hash") != expect["settings_hash"]:
            raise IndexMismatch(
                "the index was built with other chunking or model settings; rebuild it with: peerqa ingest"
            )
    return manifest


def _read_jsonl(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_version(folder: Path, expect: dict[str, Any] | None = None) -> LoadedIndex:
    manifest = validate_version(folder, expect)
    chunks = [Chunk.model_validate_json(line) for line in _read_jsonl(folder / "chunks.jsonl")]
    refs = [Reference.model_validate_json(line) for line in _read_jsonl(folder / "references.jsonl")]
    faiss_index = read_faiss(folder / "vectors.faiss")
    if faiss_index.ntotal != len(chunks):
        raise IndexLoadError(f"{folder.name}: {faiss_index.ntotal} vectors for {len(chunks)} chunks")
    bm25 = BM25Index.load(folder / "bm25", len(chunks))
    sources = {s["id"]: SourceDoc.model_validate(s) for s in manifest.get("sources", [])}
    outline = json.loads((folder / "outline.json").read_text(encoding="utf-8"))
    spans: list[tuple[int, int, int]] = []
    sent_vectors = None
    if (folder / "sentences.jsonl").exists() and (folder / "sentence_vectors.npy").exists():
        import numpy as np

        spans = [(d["row"], d["start"], d["end"]) for d in map(json.loads, _read_jsonl(folder / "sentences.jsonl"))]
        sent_vectors = np.load(folder / "sentence_vectors.npy", allow_pickle=False)
    try:
        token_vectors = TokenVectors.load(folder)
    except ValueError as exc:
        raise IndexLoadError(f"{folder.name}: token vectors unusable ({exc})") from exc
    if token_vectors is not None and token_vectors.rows != len(chunks):
        raise IndexLoadError(f"{folder.name}: token vectors for {token_vectors.rows} chunks, {len(chunks)} chunks")
    return LoadedIndex(
        folder=folder,
        version=folder.name,
        manifest=manifest,
        chunks=chunks,
        references={r.id: r for r in refs},
        sources=sources,
        outline=outline,
        faiss=faiss_index,
        bm25=bm25,
        sentence_spans=spans,
        sentence_vectors=sent_vectors,
        token_vectors=token_vectors,
    )


def load_index(index_dir: Path, expect: dict[str, Any] | None = None) -> LoadedIndex:
    """The active version, or the newest other version that validates (with a warning)."""
    active, pointer_problem = read_pointer(index_dir)
    versions = list_versions(index_dir)
    if active is None and not versions:
        raise IndexLoadError(f"no index in {index_dir}; build one with: peerqa ingest --index-dir {index_dir}")
    candidates = ([active] if active else []) + [v for v in versions if v != active]
    errors: list[str] = []
    active_mismatch: IndexMismatch | None = None
    for name in candidates:
        try:
            loaded = load_version(index_dir / name, expect)
        except IndexMismatch as exc:  # valid, but for other settings: an older version may match them
            if name == active:
                active_mismatch = exc
            errors.append(f"{name}: {exc}")
            continue
        except IndexLoadError as exc:
            errors.append(str(exc))
            log.warning("index version %s unusable: %s", name, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - a damaged file can fail in any reader
            errors.append(f"{name}: damaged ({exc})")
            continue
        loaded.warnings = _fallback_warnings(name, active, pointer_problem, errors, active_mismatch is not None)
        for warning in loaded.warnings:
            log.warning("%s", warning)
        return loaded
    if active_mismatch is not None:
        raise active_mismatch  # the active version is sound but for other settings, and nothing older fits
    raise IndexLoadError(
        "no usable index version (" + "; ".join(errors) + f"); rebuild with: peerqa ingest --index-dir {index_dir}"
    )


def _fallback_warnings(served: str, active: str | None, pointer_problem: str, errors: list[str], mismatch: bool) -> list[str]:
    if active is None:
        return [f"the ACTIVE pointer is {pointer_problem}; serving {served}, the newest version that validates"]
    if served == active:
        return []
    if mismatch:
        return [
            f"the active version {active} was built with another model or other settings; serving {served}, "
            "the newest version built with the current ones (run peerqa ingest to build a current index)"
        ]
    return [f"active index {errors[0]}; serving older version {served}"]
