"""Synthesis: a question with two or more aspects ("what does the review say in its definitions and
in its recommendations for Ireland?", "X - and did Y?") should have each aspect's best passage in
the top 5, not five passages about whichever aspect scores best.

    aspects(question)  the question split at "?", " - ", ";", " and ", "compared with", "versus";
                       two or more parts with two content words each, else none
    cover(...)         for each aspect, the candidate with the best fused score plus its cosine with
                       the aspect; when neither it nor its section is in the top k, it takes the
                       place of the lowest of the top k whose section is there twice (else the k-th)

    answer_aspects(...)  composition: after the lead, each aspect the answer does not yet cover
                       gets its own best unit, scored against that aspect alone (on by default)

The retrieval side, `cover`, is off by default (retrieval.aspect_coverage): on the curated questions it changed no hit and no
evidence recall (eval/REPORT.md, system "synthesis-coverage"): the evidence of a synthesis question
missing from the top 5 is ranked 8th to 26th by the fused score (or not a candidate at all), and
the aspect's best candidate is that evidence for none of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from peerqa.app.answer.compose import SUPPORT_RATIO, ScoredUnit, weighted_overlap
from peerqa.app.answer.query import content_words
from peerqa.app.answer.units import opens_with_anaphor
from peerqa.index.bm25 import tokenize
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


ASPECT_COVERED = 0.5  # an aspect is covered when the answer holds this share of its term weight (IDF)


def answer_aspects(parts: list[str], chosen: list[ScoredUnit], best_for: Callable[[int, set[str]], list[ScoredUnit]],
                   idf: Callable[[str], float], max_words: int = 180) -> list[ScoredUnit]:
    """`chosen` (the lead) plus, for each aspect whose words it does not cover, that aspect's best
    unit (`best_for(i, terms)` scores the candidates against aspect i), if it stands alone and is
    new. A two-part question ("who should supervise, and what is recommended for Ireland?") then
    answers both parts, not twice the part that scored best."""
    out = list(chosen)
    used = set().union(*(u.unit.ids for u in out)) if out else set()
    text = " ".join(u.unit.text for u in out)
    for i, part in enumerate(parts):
        terms = set(tokenize(" ".join(content_words(part))))
        if not terms or weighted_overlap(terms, text, idf) >= ASPECT_COVERED:
            continue
        room = max_words - sum(u.unit.words() for u in out)
        cands = best_for(i, terms)
        floor = SUPPORT_RATIO * cands[0].score if cands else 0.0  # far below the part's best: off topic
        best = next((c for c in cands[:3]
                     if not (c.unit.ids & used) and not opens_with_anaphor(c.unit.sentences[0].text)
                     and c.score >= floor
                     and (c.unit.is_list or c.unit.words() <= room)), None)  # a list may run longer
        if best is None:
            continue
        out.append(best)
        used |= best.unit.ids
        text += " " + best.unit.text
    return out
