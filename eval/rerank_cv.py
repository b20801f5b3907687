"""Cross-validation of the re-ranker's weight and depth (app/answer/rerank.py), in the style of
eval/ranking_cv.py: retrieval only, every (weight, depth) of a grid over the same prepared
questions, the point chosen on four fifths of the questions scored on the fifth (the same folds,
stratified by type), beside weight 0 (the fused order, i.e. `full`) and the in-sample best.

    peerqa eval --questions eval/questions.jsonl --systems full,reranked --cv

The cross-encoder scores the top `max(GRID_DEPTH)` fused candidates of each question once; every
grid point then reads those cached scores, so the grid costs retrievals, not model calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from peerqa.app.answer.engine import Engine
from peerqa.app.answer.rerank import Reranker
from peerqa.eval import metrics
from peerqa.eval.questions import Question
from peerqa.eval.ranking_cv import FOLDS, Prepared, folds, held_out, prepare_all
from peerqa.eval.ranking_cv import figures as cv_figures
from peerqa.eval.scoring import K_MAX

GRID_WEIGHT = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0)
GRID_DEPTH = (5, 10, 20, 30)
KEYS = ("hit@1", "hit@5", "mrr@10", "recall@5")
Point = tuple[float, int]


class CachedScores:
    """A re-ranker that answers from the scores it has already computed, asking the model only for
    the (query, text) pairs it has not seen."""

    def __init__(self, model: Reranker):
        self.model = model
        self.cache: dict[tuple[str, str], float] = {}
        self.calls = 0

    def scores(self, query: str, texts: list[str]) -> list[float]:
        missing = [t for t in dict.fromkeys(texts) if (query, t) not in self.cache]
        if missing:
            self.calls += 1
            self.cache.update(zip(((query, t) for t in missing), self.model.scores(query, missing), strict=True))
        return [self.cache[(query, t)] for t in texts]


def values(q: Question, passages: Sequence[str]) -> tuple[float, ...]:
    rel = metrics.relevance(q.evidence, passages)
    return (metrics.hit_at_k(rel, 1), metrics.hit_at_k(rel, 5), metrics.mrr_at_k(rel, K_MAX),
            float(metrics.recall_at_k(q.evidence, passages, 5) or 0.0))


@contextmanager
def _configured(engine: Engine, point: Point, reranker: Reranker | None = None) -> Iterator[Engine]:
    """The engine with this weight and depth (and re-ranker), restored afterwards."""
    settings, model = engine.settings, engine.reranker
    r = settings.retrieval.model_copy(update={"reranker_weight": point[0], "reranker_depth": point[1]})
    engine.settings = settings.model_copy(update={"retrieval": r})
    engine.reranker = reranker or model
    try:
        yield engine
    finally:
        engine.settings, engine.reranker = settings, model


def retrieved(engine: Engine, prepared: Sequence[Prepared], point: Point,
              reranker: Reranker | None = None) -> list[list[str]]:
    """Each question's passage texts at one grid point (the engine's own retrieve)."""
    with _configured(engine, point, reranker) as at:
        return [[x.chunk.text for x in at.retrieve(p.expanded, p.standalone, K_MAX, None, query_vec=p.vector,
                                                   query_tokens=p.tokens, analysis=p.analysis)]
                for p in prepared]


def grid_values(engine: Engine, prepared: Sequence[Prepared], grid: Sequence[Point],
                reranker: Reranker | None = None) -> dict[Point, np.ndarray]:
    """(questions, len(KEYS)) arrays for every grid point."""
    out: dict[Point, np.ndarray] = {}
    for point in grid:
        found = retrieved(engine, prepared, point, reranker)
        rows = [values(p.question, texts) for p, texts in zip(prepared, found, strict=True)]
        out[point] = np.asarray(rows, dtype="float64").reshape(len(rows), len(KEYS))
    return out


def choose(table: dict[Point, np.ndarray], mask: np.ndarray) -> Point:
    """The point with the best hit@5 + MRR@10 on the masked questions; ties go to the smaller
    weight, then the smaller depth."""
    return max(sorted(table), key=lambda p: (round(float(table[p][mask, 1].mean() + table[p][mask, 2].mean()), 9),
                                             -p[0], -p[1]))


def figures(rows: np.ndarray, types: np.ndarray) -> dict[str, Any]:
    return cv_figures(rows, types, KEYS)


def cross_validate(engine: Engine, questions: Sequence[Question],
                   log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """`engine` has a re-ranker; its settings' weight and depth are the ones reported as configured."""
    if engine.reranker is None:
        raise ValueError("the re-ranker cross-validation needs an engine with a re-ranker")
    r = engine.settings.retrieval
    shipped: Point = (r.reranker_weight, r.reranker_depth)
    grid = [(w, d) for w in GRID_WEIGHT for d in GRID_DEPTH if w > 0] + [(0.0, GRID_DEPTH[0])]
    if shipped not in grid:
        grid.append(shipped)
    cached = CachedScores(engine.reranker)
    prepared = prepare_all(engine, questions)
    log(f"re-ranker cv: scoring the top {max(GRID_DEPTH)} of {len(prepared)} questions once")
    retrieved(engine, prepared, (1.0, max(GRID_DEPTH)), cached)  # fills the cache
    log(f"re-ranker cv: {len(grid)} (weight, depth) points")
    table = grid_values(engine, prepared, grid, cached)
    types = np.asarray([p.question.type for p in prepared])
    fold_of = folds(types.tolist())
    held, per_fold = held_out(table, fold_of, choose, shipped)
    best = choose(table, np.ones(len(prepared), dtype=bool))
    return {
        "n": len(prepared),
        "grid": {"weight": list(GRID_WEIGHT), "depth": list(GRID_DEPTH)},
        "off": figures(table[(0.0, GRID_DEPTH[0])], types),
        "shipped": {"point": list(shipped), **figures(table[shipped], types)},
        "in_sample": {"point": list(best), **figures(table[best], types)},
        "cross_validated": {"folds": FOLDS, "points_per_fold": per_fold, **figures(held, types)},
        "per_point": {f"{w:g}@{d}": {k: round(float(v[:, i].mean()), 4) for i, k in enumerate(KEYS)}
                      for (w, d), v in sorted(table.items())},
    }
