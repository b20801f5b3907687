"""One description of where a passage comes from, shared by every `--json` output and the
LangChain retriever's Document metadata (the CLI contract, app/cli_schema.py).

LangChain's loader conventions where they exist: `source` is the file (the name the sources folder
and the citations use), `page` the 0-based page of the file and `page_label` the page number as
printed. Ours beside them: `chunk_id`, `source_id`, `section` (the section path joined with " › "),
`section_path`, `page_end_label`, `char_span`, `kind`, `designs` and `studies` (the cited reference
entries, one shape everywhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from peerqa.records import Chunk, Reference


def study_json(ref: Reference) -> dict[str, Any]:
    """A cited study, in the one shape every output uses."""
    return {"id": ref.id, "label": ref.short(), "authors": ref.authors, "year": ref.year, "title": ref.title,
            "doi": ref.doi, "url": ref.doi_url}


@lru_cache(maxsize=64)
def _printed_pages(sources_dir: str, name: str) -> tuple[int, ...] | None:
    from peerqa.app.page_view import find_source_file, page_numbers

    path = find_source_file(Path(sources_dir), name)
    if path is None or path.suffix.lower() != ".pdf":
        return None
    try:
        return page_numbers(path)
    except Exception:  # an unreadable file: the printed label still stands
        return None


def page_index(sources_dir: Path, chunk: Chunk) -> int | None:
    """The 0-based page of the file where the chunk starts: the first page printed with its number
    (a text file is one page, 0). None when the source file is not in the sources folder."""
    if chunk.page_start is None:
        return None
    if Path(chunk.source_path).suffix.lower() in (".txt", ".md"):
        return 0
    numbers = _printed_pages(str(sources_dir), chunk.source_path)
    if numbers is None or chunk.page_start not in numbers:
        return None
    return numbers.index(chunk.page_start)


def _label(page: int | None) -> str | None:
    return None if page is None else str(page)


def chunk_fields(chunk: Chunk, references: Mapping[str, Reference], sources_dir: Path) -> dict[str, Any]:
    """The provenance fields of one chunk (without its text and scores)."""
    return {
        "chunk_id": chunk.id,
        "source": chunk.source_path,
        "source_id": chunk.source_id,
        "section": chunk.section,
        "section_path": list(chunk.section_path),
        "page": page_index(sources_dir, chunk),
        "page_label": _label(chunk.page_start),
        "page_end_label": _label(chunk.page_end),
        "char_span": [chunk.char_start, chunk.char_end],
        "kind": chunk.kind,
        "designs": list(chunk.designs),
        "studies": [study_json(references[r]) for r in chunk.cites if r in references],
    }
