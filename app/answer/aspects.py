"""Synthesis: a question with two or more aspects ("what does the review say in its definitions and
in its recommendations for Ireland?", "X - and did Y?") should have each aspect's best passage in
the top 5, not five passages about whichever aspect scores best.

    aspects(question)  the question split at "?", " - ", ";", " and ", "compared with", "versus";
                       two or more parts with two content words each, else none
    cover(...)         for each aspect, the candidate with the best fused score plus its cosine with
                       the aspect; when neither it nor its section is in the top k, it takes the
                       place of the lowest of the top k whose section is there twice (else the k-th)

Off by default (retrieval.aspect_coverage): on the curated questions it changed no hit and no
evidence recall (eval/REPORT.md, system "synthesis-coverage"): the evidence of a synthesis question
missing from the top 5 is ranked 8th to 26th by the fused score (or not a candidate at all), and
the aspect's best candidate is that evidence for none of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from peerqa.app.answer.query import content_words
from peerqa.records import Passage

_SPLIT = re.compile(r"\?|\s+-\s+|,?\s+\band\b\s+|;\s*|\bcompared (?:with|to)\b|\bversus\b|\bvs\.?\s", re.I)


def aspects(question: str) -> list[str]:
    parts = [p.strip() for p in _SPLIT.split(question) if p and p.strip()]
    parts = [p for p in parts if len(content_words(p)) >= 2]
    return parts if len(parts) >= 2 else []


def cover(picked: list[Passage], candidates: list[Passage], aspect_vectors: np.ndarray,
          vector_of: Callable[[Passage], np.ndarray], k: int = 5) -> list[Passage]:
    """`picked` (the ranked passages) with each aspect's best candidate brought into the top k."""
    if len(aspect_vectors) == 0 or not candidates:
        return picked
    top = list(picked[:k])
    vectors = np.vstack([vector_of(p) for p in candidates])
    fused = np.asarray([p.score for p in candidates], dtype="float64")
    for av in aspect_vectors:
        best = candidates[int(np.argmax(fused + vectors @ av))]  # first of equals: the fused order
        if any(p.chunk.id == best.chunk.id or p.chunk.section == best.chunk.section for p in top):
            continue
        sections = [p.chunk.section for p in top]
        doubled = [p for p in reversed(top) if sections.count(p.chunk.section) > 1]
        victim = doubled[0] if doubled else top[-1]
        top = [p for p in top if p is not victim] + [best]
    chosen = {p.chunk.id for p in top}
    out = top + [p for p in picked if p.chunk.id not in chosen]
    return out[: len(picked)]


def cover_question(question: str, picked: list[Passage], candidates: list[Passage], engine: Any) -> list[Passage]:
    """`cover` for the engine: the aspects embedded under its model lock, chunk vectors from its index."""
    parts = aspects(question)
    if not parts:
        return picked
    with engine.lock:
        vectors = engine.embedder.embed(parts)
    try:
        return cover(picked, candidates, vectors, lambda p: engine.index.faiss.reconstruct(engine.row_of[p.chunk.id]))
    except (RuntimeError, AttributeError, KeyError):  # a store that cannot give chunk vectors back
        return picked
