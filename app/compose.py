"""The extractive answer: the review's own sentences that best answer the question, each cited."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from index.bm25 import tokenize
from peerqa.records import Passage


@dataclass
class ScoredSentence:
    passage_rank: int  # 0-based position of the passage in the retrieved list
    start: int
    end: int
    text: str
    score: float
    dense: float


def term_overlap(query_terms: set[str], text: str) -> float:
    if not query_terms:
        return 0.0
    return len(query_terms & set(tokenize(text))) / len(query_terms)


def _near_repeat(a: str, b: str) -> bool:
    wa, wb = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    if not wa or not wb:
        return False
    return len(wa & wb) / min(len(wa), len(wb)) > 0.7


def select_sentences(
    passages: list[Passage],
    sentences: list[tuple[int, int, int, np.ndarray | None]],
    query_vec: np.ndarray,
    query_terms: set[str],
    min_n: int = 2,
    max_n: int = 6,
) -> list[ScoredSentence]:
    """Pick 2-6 sentences: scored by similarity and term overlap, near-repeats dropped,
    in reading order (passage rank, then position)."""
    scored: list[ScoredSentence] = []
    for rank, start, end, vec in sentences:
        text = passages[rank].chunk.text[start:end].strip().removeprefix("- ")
        if len(text.split()) < 5:
            continue
        dense = float(vec @ query_vec) if vec is not None else 0.0
        lexical = term_overlap(query_terms, text)
        prior = 1.0 / (1 + rank)  # the fused retrieval rank of its passage
        score = 0.55 * dense + 0.30 * lexical + 0.15 * prior
        scored.append(ScoredSentence(rank, start, end, text, score, dense))
    scored.sort(key=lambda s: (-s.score, s.passage_rank, s.start))
    chosen: list[ScoredSentence] = []
    if not scored:
        return chosen
    best = scored[0].score
    for cand in scored:
        if len(chosen) >= max_n:
            break
        if len(chosen) >= min_n and cand.score < 0.75 * best:
            break
        if any(_near_repeat(cand.text, c.text) for c in chosen):
            continue
        chosen.append(cand)
    chosen.sort(key=lambda s: (s.passage_rank, s.start))
    return chosen
