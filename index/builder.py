"""Build an index version from source files: incremental, validated, switched atomically.

Unchanged sources (same sha256) are neither re-parsed nor re-embedded; removed sources drop
out because every build lists the sources afresh. A new version is written to a temporary
folder, validated by loading it, renamed into place and only then made ACTIVE, so a failed
or killed build leaves the serving index as it was; the next build removes what a killed one
left behind (`index/cleanup.py`).

Each source runs on a budget (`settings.budget`, `ingest/budget.py`): a wall-clock limit for its
parse, structure, chunking and embedding together, and limits on its passages. A source over
budget fails by name with the reason, and the build goes on with the rest.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from peerqa.index.bm25 import BM25Index
from peerqa.index.cache import EmbeddingCache, ParseCache, text_key
from peerqa.index.cleanup import claim_build_folder, remove_stale_builds
from peerqa.index.embedder import Embedder
from peerqa.index.integrity import read_pointer, seal
from peerqa.index.late_interaction import TokenEmbedding, TokenVectors
from peerqa.index.source_budget import embed_sources_within_budget
from peerqa.index.store import (
    FORMAT,
    IndexLoadError,
    file_checksums,
    list_versions,
    load_version,
    prune_versions,
    set_active,
    sha256_path,
    validate_version,
    write_jsonl,
)
from peerqa.index.vectors import build_faiss, write_faiss
from peerqa.ingest.budget import SourceClock, check_chunks
from peerqa.ingest.discover import discover_sources, find_near_duplicates, link_studies
from peerqa.ingest.loaders import SourceError
from peerqa.ingest.parse import ParsedSource, parse_isolated
from peerqa.records import Chunk, IngestReport, SourceStatus
from peerqa.settings import Settings

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]
PACKAGES = ("sentence-transformers", "transformers", "torch", "faiss-cpu", "bm25s", "pypdf", "langchain-core", "numpy")


class BuildError(Exception):
    """Nothing could be built; the serving index is untouched."""


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["python"] = platform.python_version()
    return out


def bm25_text(chunk: Chunk) -> str:
    """What BM25 reads of a chunk: its text, its section path and what it continues (`Chunk.context`,
    whether or not that fitted in its embedded text)."""
    return " ".join(t for t in (chunk.text, " › ".join(chunk.section_path), chunk.context) if t)


def _no_progress(_msg: str, _frac: float) -> None:
    return None


def build_index(
    settings: Settings,
    embedder: Embedder,
    paths: list[Path] | None = None,
    rebuild: bool = False,
    progress: Progress = _no_progress,
    parse_timeout_s: float | None = None,
) -> IngestReport:
    """`parse_timeout_s` overrides `settings.budget.source_seconds`, the time limit per source."""
    started = time.monotonic()
    index_dir = settings.index_dir
    index_dir.mkdir(parents=True, exist_ok=True)
    limit_s = parse_timeout_s if parse_timeout_s is not None else settings.budget.source_seconds
    clocks: dict[str, SourceClock] = {}
    cache_dir = settings.resolved_cache_dir
    settings_hash = settings.index_hash()
    if rebuild:
        shutil.rmtree(cache_dir / "parsed", ignore_errors=True)
    parse_cache = ParseCache(cache_dir / "parsed", settings_hash)

    report = IngestReport()
    report.warnings.extend(remove_stale_builds(index_dir))  # leftovers of killed builds
    files, statuses = discover_sources(paths or [settings.sources_dir], settings.sources_dir)
    report.sources.extend(statuses)

    parsed: list[ParsedSource] = []
    seen_hashes: dict[str, str] = {}
    for i, path in enumerate(files):
        progress(f"Reading {path.name}", i / max(1, len(files)))
        status = SourceStatus(path=path.name, status="failed")
        report.sources.append(status)
        try:
            digest = sha256_path(path)
        except OSError as exc:
            status.status, status.error = "failed", f"cannot read file ({exc.strerror or exc})"
            continue
        status.source_id = digest
        if digest in seen_hashes:
            status.status, status.error = "duplicate", f"same bytes as {seen_hashes[digest]}"
            report.warnings.append(f"{path.name}: duplicate of {seen_hashes[digest]}, ingested once")
            continue
        seen_hashes[digest] = path.name
        cached = None if rebuild else parse_cache.get(digest)
        if cached is not None:
            try:
                check_chunks(cached.chunks, settings.budget)  # the limits may have changed since
            except SourceError as exc:
                status.status, status.error = "failed", str(exc)
                continue
            cached.source.path = path.name
            for chunk in cached.chunks:
                chunk.source_path = path.name
            parsed.append(cached)
            status.status, status.chunks = "ok", len(cached.chunks)
            continue
        clock = clocks[digest] = SourceClock(limit_s).start()
        try:
            result = parse_isolated(
                path, digest, settings.chunking, settings.model, timeout_s=clock.remaining(), budget=settings.budget,
                limit_s=limit_s,
            )
        except SourceError as exc:
            status.status, status.error = "failed", str(exc)
            log.warning("%s: %s", path.name, exc)
            continue
        finally:
            clock.stop()
        parse_cache.put(result)
        parsed.append(result)
        status.status, status.chunks = "ok", len(result.chunks)

    for dup, original in find_near_duplicates(parsed):
        st = next(s for s in report.sources if s.source_id == dup.source.id)
        st.status, st.chunks = "duplicate", 0
        st.error = f"near-duplicate of {original.source.path}"
        report.warnings.append(f"{dup.source.path}: near-duplicate of {original.source.path}, ingested once")
        parsed.remove(dup)
    link_studies(parsed)

    if parse_cache.damaged:
        report.warnings.append(f"{len(parse_cache.damaged)} parse cache entr{'y' if len(parse_cache.damaged) == 1 else 'ies'} "
                               "failed their checksum; those sources were read again")
    chunks = [c for p in parsed for c in p.chunks]
    unchanged = None if rebuild else _unchanged_version(index_dir, settings_hash, parsed, embedder, report.warnings)
    if unchanged is not None:
        report.index_version = unchanged
        report.chunks_total = len(chunks)
        report.reused = len({c.embed_text for c in chunks})
        seen = sum(p.citations_seen for p in parsed)
        report.citation_link_rate = round(sum(p.citations_resolved for p in parsed) / seen, 4) if seen else None
        report.seconds = round(time.monotonic() - started, 2)
        progress("No change: the active index is up to date", 1.0)
        return report
    if not chunks:
        raise BuildError("no source could be ingested: " + "; ".join(f"{s.path}: {s.error}" for s in report.sources if s.error))

    # Embeddings: reuse what the cache holds for this model (entries that pass their checksum),
    # embed the rest, one source at a time on its own clock.
    progress("Embedding passages", 0.5)
    cache = EmbeddingCache(cache_dir / "embeddings.sqlite", embedder.sha256)
    embedded, over = embed_sources_within_budget(
        parsed, clocks, embedder, cache, settings.index.token_vectors, progress, limit_s
    )
    for source, reason in over:
        st = next(s for s in report.sources if s.source_id == source.source.id)
        st.status, st.chunks, st.error = "failed", 0, reason
        log.warning("%s: %s", source.source.path, reason)
        parsed.remove(source)
    chunks = [c for p in parsed for c in p.chunks]
    if not chunks:
        cache.close()
        raise BuildError("no source could be ingested: " + "; ".join(f"{s.path}: {s.error}" for s in report.sources if s.error))
    keys = [text_key(c.embed_text) for c in chunks]
    vectors, token_vectors, missing = _chunk_vectors(chunks, keys, embedder, cache, settings.index.token_vectors, progress)
    # Sentence vectors too, so that composing an answer costs dot products, not model calls.
    progress("Embedding sentences", 0.9)
    sent_rows, sent_vectors = _sentence_vectors(chunks, embedder, cache)
    report.warnings.extend(cache.report())
    cache.close()
    report.embedded = len((embedded | set(missing)) & set(keys))  # of the sources that made it
    report.reused = len(set(keys)) - report.embedded

    progress("Writing index", 0.92)
    version = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + settings_hash[:8]
    tmp = index_dir / f".build-{version}"
    claim = claim_build_folder(tmp)  # says "this build runs" until released, or the process ends
    try:
        tmp.mkdir(parents=True)
        write_jsonl(tmp / "chunks.jsonl", chunks)
        refs = {r.id: r for p in parsed for r in p.references}
        write_jsonl(tmp / "references.jsonl", list(refs.values()))
        outline = {
            p.source.id: {
                "path": p.source.path,
                "outline": [o.model_dump() for o in p.outline],
                "subsections": p.subsections,
                "glossary": p.glossary,
            }
            for p in parsed
        }
        (tmp / "outline.json").write_text(json.dumps(outline, indent=1, ensure_ascii=False), encoding="utf-8")
        write_faiss(
            build_faiss(vectors, settings.index.faiss_type, settings.index.hnsw_m, settings.index.ivf_nlist),
            tmp / "vectors.faiss",
        )
        with (tmp / "sentences.jsonl").open("w", encoding="utf-8") as fh:
            for row, start, end in sent_rows:
                fh.write(json.dumps({"row": row, "start": start, "end": end}) + "\n")
        np.save(tmp / "sentence_vectors.npy", sent_vectors, allow_pickle=False)
        if token_vectors is not None:
            token_vectors.save(tmp)
        (tmp / "bm25").mkdir()
        BM25Index.build([bm25_text(c) for c in chunks]).save(tmp / "bm25")
        seen = sum(p.citations_seen for p in parsed)
        resolved = sum(p.citations_resolved for p in parsed)
        report.citation_link_rate = round(resolved / seen, 4) if seen else None
        manifest = {
            "format": FORMAT,
            "version": version,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "settings_hash": settings_hash,
            "settings": settings.shaping(),
            "model": {"name": embedder.name, "sha256": embedder.sha256, "dim": embedder.dim},
            "packages": package_versions(),
            "sources": [p.source.model_dump(mode="json") for p in parsed],
            "counts": {
                "chunks": len(chunks),
                "references": len(refs),
                "per_source": dict(Counter(c.source_path for c in chunks)),
                "per_section": dict(Counter(c.section for c in chunks)),
                "token_vectors": len(token_vectors.ids) if token_vectors is not None else 0,
            },
            "citations": {"seen": seen, "resolved": resolved, "link_rate": report.citation_link_rate},
            "build_seconds": round(time.monotonic() - started, 2),
            "files": file_checksums(tmp),
        }
        manifest = seal(manifest)  # the manifest's own checksum, over everything above
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        _fsync_tree(tmp)
        load_version(tmp)  # validate before anyone can be served from it
        final = index_dir / version
        os.replace(tmp, final)
        set_active(index_dir, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        claim.release()
    report.warnings.extend(prune_versions(index_dir, settings.index.keep_versions))
    report.chunks_total = len(chunks)
    report.index_version = version
    report.seconds = round(time.monotonic() - started, 2)
    progress("Done", 1.0)
    return report


def _no_tick() -> None:
    return None


def _chunk_vectors(
    chunks: list, keys: list[str], embedder: Embedder, cache: EmbeddingCache, with_tokens: bool, progress: Progress,
    tick: Callable[[], None] = _no_tick,
) -> tuple[np.ndarray, TokenVectors | None, list[str]]:
    """Chunk vectors (and token vectors for late interaction) from the cache or the model.
    Returns them with the text keys that had to be embedded. `tick` runs after every batch
    (the source's clock: it raises when the time is up)."""
    unique = list(dict.fromkeys(keys))
    have = cache.get_many(unique)
    have_tokens = cache.get_tokens(unique) if with_tokens else {}
    missing = [k for k in unique if k not in have or (with_tokens and k not in have_tokens)]
    by_key = {k: c.embed_text for k, c in zip(keys, chunks, strict=True)}
    batch = 64
    for start in range(0, len(missing), batch):
        part = missing[start : start + batch]
        texts = [by_key[k] for k in part]
        if with_tokens:
            vecs, toks = embedder.embed_with_tokens(texts)
            new_tokens = {k: (t.ids, t.vectors) for k, t in zip(part, toks, strict=True)}
            cache.put_tokens(new_tokens)
            have_tokens.update(new_tokens)
        else:
            vecs = embedder.embed(texts)
        new = dict(zip(part, vecs, strict=True))
        cache.put_many(new)
        have.update(new)
        done = min(start + batch, len(missing))
        progress(f"Embedding passages ({done}/{len(missing)})", 0.5 + 0.4 * done / len(missing))
        tick()
    vectors = np.vstack([have[k] for k in keys]).astype("float32")
    tokens = None
    if with_tokens:
        tokens = TokenVectors.from_embeddings(
            [TokenEmbedding(ids=have_tokens[k][0], tokens=[], vectors=have_tokens[k][1]) for k in keys], embedder.dim
        )
    return vectors, tokens, missing


def _sentence_vectors(
    chunks: list, embedder: Embedder, cache: EmbeddingCache, tick: Callable[[], None] = _no_tick
) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    from peerqa.ingest.sentences import split_sentences

    rows: list[tuple[int, int, int]] = []
    texts: list[str] = []
    for i, chunk in enumerate(chunks):
        for s, e in split_sentences(chunk.text):
            if len(chunk.text[s:e].split()) >= 3:
                rows.append((i, s, e))
                texts.append(chunk.text[s:e])
    keys = [text_key(t) for t in texts]
    have = cache.get_many(list(dict.fromkeys(keys)))
    missing = [k for k in dict.fromkeys(keys) if k not in have]
    by_key = dict(zip(keys, texts, strict=True))
    for start in range(0, len(missing), 128):
        part = missing[start : start + 128]
        new = dict(zip(part, embedder.embed([by_key[k] for k in part]), strict=True))
        cache.put_many(new)
        have.update(new)
        tick()
    if not rows:
        return rows, np.zeros((0, embedder.dim), dtype="float32")
    return rows, np.vstack([have[k] for k in keys]).astype("float32")


def _unchanged_version(
    index_dir: Path, settings_hash: str, parsed: list[ParsedSource], embedder: Embedder, warnings: list[str]
) -> str | None:
    """The active version when it was built from exactly these sources, settings and model, and it
    validates (manifest checksum, file checksums); a damaged pointer or version is said in `warnings`."""
    active, problem = read_pointer(index_dir)
    if active is None:
        if problem != "missing" or list_versions(index_dir):
            warnings.append(f"the ACTIVE pointer is {problem}; a new version is built and made active")
        return None
    try:
        manifest = validate_version(index_dir / active)
    except IndexLoadError as exc:
        warnings.append(f"the active version is unusable ({exc}); a new version is built and made active")
        return None
    same_sources = sorted((s["id"], s["path"]) for s in manifest.get("sources", [])) == sorted(
        (p.source.id, p.source.path) for p in parsed
    )
    same_model = manifest.get("model", {}).get("sha256") == embedder.sha256
    return active if same_sources and same_model and manifest.get("settings_hash") == settings_hash else None


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
