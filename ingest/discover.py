"""Which files to ingest, which are the same document twice, and which study is which reference."""

from __future__ import annotations

import re
from pathlib import Path

from peerqa.ingest.loaders import SUPPORTED_SUFFIXES
from peerqa.ingest.parse import ParsedSource
from peerqa.ingest.references import fold
from peerqa.ingest.walk import classify, printable, walk
from peerqa.records import SourceKind, SourceStatus

NEAR_DUPLICATE = 0.6  # share of a bottom-k sketch of word 5-grams two renditions have in common


def discover_sources(paths: list[Path], sources_dir: Path) -> tuple[list[Path], list[SourceStatus]]:
    """Files to ingest, in a stable order, and statuses for what was passed over (each with its reason;
    nothing in a folder stops the walk: see ingest/walk.py)."""
    files: list[Path] = []
    statuses: list[SourceStatus] = []
    for given in paths:
        try:
            is_dir = given.is_dir()
            exists = is_dir or given.exists() or given.is_symlink()
        except OSError:
            is_dir, exists = False, given.is_symlink()
        if is_dir:
            found, passed = walk(given, SUPPORTED_SUFFIXES)
        elif exists:
            outcome = classify(given, given.parent, SUPPORTED_SUFFIXES, explicit=True)
            found, passed = ([given], []) if outcome is None else ([], [outcome])
        else:
            statuses.append(SourceStatus(path=printable(given.name), status="failed", error="no such file or folder"))
            continue
        files.extend(found)
        statuses.extend(
            SourceStatus(path=s.name, status="failed" if s.failed else "skipped", error=s.reason) for s in passed
        )
    return list(dict.fromkeys(files)), statuses


def _preference(p: ParsedSource) -> tuple[int, int, str]:
    # Keep the rendition with pages (PDF) and more chunks; break ties by name.
    return (0 if p.source.path.lower().endswith(".pdf") else 1, -len(p.chunks), p.source.path)


def find_near_duplicates(parsed: list[ParsedSource]) -> list[tuple[ParsedSource, ParsedSource]]:
    """Pairs (duplicate, kept) of sources whose texts are nearly the same."""
    dups: list[tuple[ParsedSource, ParsedSource]] = []
    ordered = sorted(parsed, key=_preference)
    kept: list[ParsedSource] = []
    for cand in ordered:
        sketch = set(cand.fingerprint)
        match = None
        for other in kept:
            other_sketch = set(other.fingerprint)
            if not sketch or not other_sketch:
                continue
            overlap = len(sketch & other_sketch) / min(len(sketch), len(other_sketch))
            if overlap >= NEAR_DUPLICATE:
                match = other
                break
        if match is None:
            kept.append(cand)
        else:
            dups.append((cand, match))
    return dups


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{3,}", text.lower())}


def link_studies(parsed: list[ParsedSource]) -> None:
    """Match each non-review source to a reference entry of a review (DOI, else title + author + year)."""
    refs = [r for p in parsed if p.source.kind == SourceKind.REVIEW for r in p.references]
    if not refs:
        return
    by_doi = {r.doi.lower(): r for r in refs if r.doi}
    for p in parsed:
        if p.source.kind == SourceKind.REVIEW:
            continue
        match = by_doi.get(p.source.doi.lower()) if p.source.doi else None
        if match is None:
            head = " ".join(c.text for c in p.chunks[:3])
            title_words = _words(p.source.title) | _words(head[:600])
            best, best_score = None, 0.0
            for ref in refs:
                rw = _words(ref.title)
                if len(rw) < 3:
                    continue
                score = len(rw & title_words) / len(rw)
                first = fold(ref.authors[0].split()[-1]) if ref.authors else ""
                author_ok = bool(first) and first in fold(p.source.authors + " " + head[:2000])
                year_ok = ref.year is None or str(ref.year) in (str(p.source.year or "") + head[:3000])
                if score >= 0.8 and author_ok and year_ok and score > best_score:
                    best, best_score = ref, score
            match = best
        if match is None:
            continue
        p.source.kind = SourceKind.STUDY
        p.source.reference_id = match.id
        match.source_id = p.source.id
        for chunk in p.chunks:
            if match.id not in chunk.cites:
                chunk.cites.insert(0, match.id)
