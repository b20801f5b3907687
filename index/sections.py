"""Sections as a retrieval level: each section of the outline gets a match score for the question,
and that score is folded into every passage of the section, so a question about training prefers
the Training section's passages over a passage elsewhere that happens to share its words.

Two section scores, both computed per question from what the index already holds:

    heading   cosine of the question with the section's embedded heading path
              ("Findings, Development and Implementation, Training"); the headings are embedded
              once when the searcher is made (a few dozen short texts), nothing is stored
    best-of   the best fused passage score among the section's candidates: a section with one
              passage that answers well lifts its neighbours ("the right section, the wrong
              passage" becomes "the right section, the right passage")

    score(passage) = fused(passage) + w_heading * heading(section) + w_best * best(section)

Measured alternatives that did not help on the curated questions (eval/REPORT.md, /BENCHMARKS.md):
the section centroid (mean of its passage vectors), the last heading alone, IDF-weighted heading
word overlap, and the mean of a section's two best passages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from peerqa.index.embedder import Embedder
from peerqa.records import SECTION_SEP, Chunk


def heading_text(section_path: list[str]) -> str:
    return ", ".join(section_path)


@dataclass
class SectionLevel:
    names: list[str]  # section paths as "A › B"
    row_section: np.ndarray  # int64 (N,): chunk row → section number
    heading_vectors: np.ndarray  # float32 (S, dim), unit length

    @classmethod
    def build(cls, chunks: Sequence[Chunk], embedder: Embedder) -> SectionLevel:
        # A store that reads chunks by row gives every row's section path in one light query.
        by_row = getattr(chunks, "section_paths_by_row", None)
        row_paths: Iterable[Sequence[str]] = by_row() if by_row is not None else (c.section_path for c in chunks)
        names: list[str] = []
        paths: list[list[str]] = []
        number: dict[str, int] = {}
        rows = np.zeros(len(chunks), dtype="int64")
        for r, path in enumerate(row_paths):
            key = SECTION_SEP.join(path)
            if key not in number:
                number[key] = len(names)
                names.append(key)
                paths.append(list(path))
            rows[r] = number[key]
        texts = [heading_text(p) or "(no section)" for p in paths]
        vectors = embedder.embed(texts) if texts else np.zeros((0, embedder.dim), dtype="float32")
        return cls(names, rows, np.ascontiguousarray(vectors, dtype="float32"))

    def heading_scores(self, query_vec: np.ndarray) -> np.ndarray:
        """Cosine of the question with each section's heading path, (S,)."""
        if len(self.names) == 0:
            return np.zeros(0, dtype="float32")
        return np.asarray(self.heading_vectors @ query_vec, dtype="float32")

    def best_of(self, scores: dict[int, float]) -> np.ndarray:
        """The best passage score of each section among the scored rows, (S,); 0 where none."""
        best = np.full(len(self.names), -np.inf, dtype="float64")
        if scores:
            rows = np.fromiter(scores.keys(), dtype="int64", count=len(scores))
            vals = np.fromiter(scores.values(), dtype="float64", count=len(scores))
            np.maximum.at(best, self.row_section[rows], vals)
        best[np.isinf(best)] = 0.0
        return best

    def fold(self, scores: dict[int, float], query_vec: np.ndarray, w_heading: float, w_best: float) -> dict[int, float]:
        """The passages' fused scores with their section's match added."""
        if not scores or (w_heading == 0 and w_best == 0):
            return scores
        bonus = np.zeros(len(self.names), dtype="float64")
        if w_heading:
            bonus += w_heading * self.heading_scores(query_vec)
        if w_best:
            bonus += w_best * self.best_of(scores)
        return {r: s + float(bonus[self.row_section[r]]) for r, s in scores.items()}
