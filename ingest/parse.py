"""Parse one source file into a `ParsedSource`: the source record, its chunks, references, outline.

`parse_isolated` runs the parse in a child process with a time limit, so a hostile PDF
(a decompression bomb, a parser loop) costs one file, never the whole ingest.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from pathlib import Path

from pydantic import BaseModel, Field

from ingest.chunking import chunk_document
from ingest.loaders import SourceError, load_source
from ingest.references import CitationIndex, parse_references
from ingest.structure import analyse
from peerqa.records import Chunk, Reference, SourceDoc, SourceKind
from peerqa.settings import ChunkingSettings, ModelSettings


class OutlineItem(BaseModel):
    title: str
    page: int
    level: int
    found: bool = Field(description="the text carries the heading (False: restored from the contents page)")


class ParsedSource(BaseModel):
    source: SourceDoc
    chunks: list[Chunk]
    references: list[Reference] = Field(default_factory=list)
    outline: list[OutlineItem] = Field(default_factory=list)
    subsections: list[str] = Field(default_factory=list, description="section paths below the outline")
    glossary: dict[str, str] = Field(default_factory=dict)
    citations_seen: int = 0
    citations_resolved: int = 0
    fingerprint: list[int] = Field(default_factory=list, description="hashes of word 5-grams, for near-duplicates")


def _fingerprint(text: str, limit: int = 400) -> list[int]:
    import hashlib

    words = [w for w in text.lower().split() if w.isalpha()]
    grams = {" ".join(words[i : i + 5]) for i in range(0, max(0, len(words) - 4))}
    hashed = sorted(int(hashlib.sha256(g.encode()).hexdigest()[:12], 16) for g in grams)
    return hashed[:limit]  # a bottom-k sketch: comparable across documents


def parse_source(
    path: Path, source_id: str, chunking: ChunkingSettings, model: ModelSettings, max_pages: int = 2000
) -> ParsedSource:
    from index.embedder import token_counter

    loaded = load_source(path, max_pages=max_pages)
    doc = analyse(loaded)
    if not doc.body_blocks():
        raise SourceError("no body text found")
    refs = parse_references(doc.reference_lines)
    count = token_counter(model)
    chunks = chunk_document(doc, source_id, path.name, chunking, count)
    if not chunks:
        raise SourceError("no text to index")
    cites = CitationIndex(refs)
    seen = resolved = 0
    for chunk in chunks:
        found, s, r = cites.find(chunk.text)
        chunk.cites = [ref.id for ref in found]
        chunk.citations_found = s
        seen, resolved = seen + s, resolved + r
    is_review = len(refs) >= 20 and bool(doc.outline)
    source = SourceDoc(
        id=source_id,
        path=path.name,
        kind=SourceKind.REVIEW if is_review else SourceKind.OTHER,
        title=loaded.title,
        authors=loaded.authors,
        year=loaded.year,
        pages=len(loaded.pages) if loaded.kind == "pdf" else 1,
    )
    body_text = " ".join(b.text for b in doc.body_blocks())
    from ingest.references import DOI

    dois = DOI.findall(" ".join(line for p in loaded.pages[:2] for line in p.lines))
    source.doi = dois[0].rstrip(").,>").lower() if dois else ""
    return ParsedSource(
        source=source,
        chunks=chunks,
        references=refs,
        outline=[OutlineItem(title=e.title, page=e.page, level=e.level, found=e.found) for e in doc.outline],
        subsections=[" › ".join(p) for p in doc.subheadings],
        glossary=doc.glossary,
        citations_seen=seen,
        citations_resolved=resolved,
        fingerprint=_fingerprint(body_text),
    )


def _worker(args: tuple[str, str, dict, dict, int], out: mp.Queue) -> None:  # type: ignore[type-arg]
    path, source_id, chunking, model, max_pages = args
    try:
        parsed = parse_source(
            Path(path), source_id, ChunkingSettings(**chunking), ModelSettings(**model), max_pages=max_pages
        )
        out.put(("ok", parsed.model_dump_json()))
    except SourceError as exc:
        out.put(("error", str(exc)))
    except MemoryError:
        out.put(("error", "ran out of memory while parsing"))
    except Exception as exc:  # noqa: BLE001 - any parser failure is reported per file
        out.put(("error", f"could not parse ({type(exc).__name__}: {exc})"))


def parse_isolated(
    path: Path,
    source_id: str,
    chunking: ChunkingSettings,
    model: ModelSettings,
    timeout_s: float = 120.0,
    max_pages: int = 2000,
    memory_mb: int = 2048,
) -> ParsedSource:
    """Parse in a child process with a time and memory limit; raise SourceError on failure."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    args = (str(path), source_id, chunking.model_dump(), model.model_dump(), max_pages)
    proc = ctx.Process(target=_limited_worker, args=(args, out, memory_mb), daemon=True)
    proc.start()
    import time

    deadline = time.monotonic() + timeout_s
    result: tuple[str, str] | None = None
    try:
        while result is None:
            try:
                result = out.get(timeout=0.2)
            except queue.Empty:
                if not proc.is_alive():
                    try:  # the child may have put its result just before exiting
                        result = out.get(timeout=1.0)
                        break
                    except queue.Empty:
                        raise SourceError(f"parser crashed (exit code {proc.exitcode})") from None
                if time.monotonic() > deadline:
                    raise SourceError(f"parsing took longer than {timeout_s:.0f} s and was stopped") from None
    finally:
        if proc.is_alive():
            proc.join(2)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    status, payload = result
    if status != "ok":
        raise SourceError(payload)
    return ParsedSource.model_validate_json(payload)


def _limited_worker(args: tuple[str, str, dict, dict, int], out: mp.Queue, memory_mb: int) -> None:  # type: ignore[type-arg]
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    _worker(args, out)
