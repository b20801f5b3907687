"""Parse one source file into a `ParsedSource`: the source record, its chunks, references, outline.

`parse_isolated` runs the parse in a child process with a time and memory limit, so a hostile PDF
(a decompression bomb, a parser loop) costs one file, never the whole ingest. The child dies with
its parent and keeps its stderr to itself (`ingest/child.py`); every failure comes back as a
`SourceError` whose message says the cause in plain words (`ingest/failures.py`).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import tempfile
import time
import traceback
from pathlib import Path

from pydantic import BaseModel, Field

from peerqa.ingest import budget as limits
from peerqa.ingest import failures
from peerqa.ingest.child import die_with_parent, limit_memory, read_tail, redirect_stderr
from peerqa.ingest.chunking import chunk_document
from peerqa.ingest.loaders import SourceError, load_source
from peerqa.ingest.references import CitationIndex, parse_references
from peerqa.ingest.structure import analyse
from peerqa.records import Chunk, Reference, SourceDoc, SourceKind
from peerqa.settings import BudgetSettings, ChunkingSettings, ModelSettings

log = logging.getLogger(__name__)


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
    path: Path,
    source_id: str,
    chunking: ChunkingSettings,
    model: ModelSettings,
    max_pages: int = 2000,
    budget: BudgetSettings | None = None,
) -> ParsedSource:
    """Read, structure and chunk one file; SourceError (OverBudget for a limit) says why not."""
    budget = budget or BudgetSettings(max_pages=max_pages)
    step = _Step()
    try:
        return _parse(path, source_id, chunking, model, budget, step)
    except (SourceError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - an unforeseen failure, reported in plain words
        raise SourceError(failures.unexpected(step.name, exc, budget.memory_mb)) from exc


class _Step:
    """The step under way, for the message about an unexpected error."""

    name = "reading the file"


def _parse(
    path: Path, source_id: str, chunking: ChunkingSettings, model: ModelSettings, budget: BudgetSettings, step: _Step
) -> ParsedSource:
    from peerqa.index.embedder import token_counter

    loaded = load_source(path, max_pages=budget.max_pages, max_page_chars=budget.max_page_chars)
    limits.check_text_size(loaded.text_chars, budget)
    step.name = "finding its sections"
    doc = analyse(loaded)
    if not doc.body_blocks():
        raise SourceError("no body text found")
    step.name = "reading its reference list"
    refs = parse_references(doc.reference_lines)
    count = token_counter(model)
    step.name = "cutting the text into passages"
    chunks = chunk_document(doc, source_id, path.name, chunking, count)
    if not chunks:
        raise SourceError("no text to index")
    limits.check_chunks(chunks, budget)
    step.name = "linking its citations"
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
    from peerqa.ingest.references import DOI

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


_Args = tuple[str, str, dict, dict, dict]  # path, source id, chunking, model and budget settings


def _worker(args: _Args, out: mp.Queue) -> None:  # type: ignore[type-arg]
    path, source_id, chunking, model, budget = args
    memory_mb = int(budget.get("memory_mb", 0)) or None
    try:
        parsed = parse_source(
            Path(path), source_id, ChunkingSettings(**chunking), ModelSettings(**model), budget=BudgetSettings(**budget)
        )
        out.put(("ok", parsed.model_dump_json(), ""))
    except SourceError as exc:
        out.put(("error", str(exc), traceback.format_exc(limit=-3)))
    except MemoryError:
        out.put(("error", failures.out_of_memory(memory_mb), ""))
    except Exception as exc:  # noqa: BLE001 - any parser failure is reported per file
        out.put(("error", failures.unexpected("reading the file", exc, memory_mb), traceback.format_exc(limit=-3)))


def parse_isolated(
    path: Path,
    source_id: str,
    chunking: ChunkingSettings,
    model: ModelSettings,
    timeout_s: float = 120.0,
    max_pages: int = 2000,
    memory_mb: int = 2048,
    budget: BudgetSettings | None = None,
    limit_s: float | None = None,
) -> ParsedSource:
    """Parse in a child process with a time and memory limit; raise SourceError on failure.

    `timeout_s` is the time left for this source; `limit_s` (default: the same) is the source's whole
    limit, named in the message when the time runs out."""
    budget = budget or BudgetSettings(max_pages=max_pages, memory_mb=memory_mb)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    try:
        fd, stderr_name = tempfile.mkstemp(prefix="peerqa-parser-", suffix=".log")
        os.close(fd)
    except OSError:  # no room for the child's diagnostics (a full disk): discard them
        stderr_name = os.devnull
    stderr_path = Path(stderr_name)
    args: _Args = (str(path), source_id, chunking.model_dump(), model.model_dump(), budget.model_dump())
    proc = ctx.Process(
        target=_limited_worker, args=(args, out, budget.memory_mb, os.getpid(), stderr_name), daemon=True
    )
    deadline = time.monotonic() + timeout_s
    result: tuple[str, str, str] | None = None
    try:
        proc.start()
        while result is None:
            try:
                result = out.get(timeout=0.2)
            except queue.Empty:
                if not proc.is_alive():
                    try:  # the child may have put its result just before exiting
                        result = out.get(timeout=1.0)
                        break
                    except queue.Empty:
                        proc.join(1)
                        tail = read_tail(stderr_path)
                        log.debug("%s: parser exited with %s; its stderr ends: %s", path.name, proc.exitcode, tail)
                        raise SourceError(failures.child_exit(proc.exitcode, tail, budget.memory_mb)) from None
                if time.monotonic() > deadline:
                    raise limits.OverBudget(failures.time_limit(limit_s or timeout_s)) from None
    finally:
        if proc.is_alive():
            proc.join(2 if result is not None else 0)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        out.close()
        if stderr_name != os.devnull:
            stderr_path.unlink(missing_ok=True)
    status, payload, detail = result
    if status != "ok":
        if detail:
            log.debug("%s: %s", path.name, detail)
        raise SourceError(payload)
    return ParsedSource.model_validate_json(payload)


def _limited_worker(args: _Args, out: mp.Queue, memory_mb: int, parent_pid: int, stderr_path: str) -> None:  # type: ignore[type-arg]
    die_with_parent(parent_pid)  # never outlive the ingest that started it
    redirect_stderr(stderr_path)  # library warnings and backtraces stay out of the user's terminal
    limit_memory(memory_mb)
    _worker(args, out)
