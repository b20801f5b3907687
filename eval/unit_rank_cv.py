"""Cross-validation of a ranking weight the engine applies while answering: the unit re-ordering's
(`retrieval.unit_rank_weight`, app/answer/unit_rank.py) and the answer-type prior's
(`retrieval.answer_type_weight`, app/answer/type_prior.py). In the style of eval/ranking_cv.py:
every weight of a grid over the same questions, the weight chosen on four fifths of the questions
scored on the fifth (the same folds, stratified by type), beside weight 0 and the in-sample best.

    peerqa eval --questions eval/questions.jsonl --systems full --cv

Both act inside `Engine.ask` (the re-ordering where the answer's units are scored, the prior where
the question's analysis is known), so each grid point asks the engine itself (k = 10) and reads
the passages the answer reports; a follow-up's history holds the engine's own earlier answers,
built once at the configured weights. The other weight stays as configured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from peerqa.app.answer.engine import Engine, QuestionError, Turn
from peerqa.eval.questions import Question
from peerqa.eval.ranking_cv import FOLDS, folds, held_out, history_of
from peerqa.eval.rerank_cv import KEYS, figures, values
from peerqa.eval.scoring import K_MAX

GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
TYPE_PRIOR_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)


@contextmanager
def _weighted(engine: Engine, weight: float, setting: str = "unit_rank_weight") -> Iterator[Engine]:
    settings = engine.settings
    engine.settings = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update={setting: weight})})
    try:
        yield engine
    finally:
        engine.settings = settings


def conversations(engine: Engine, questions: Sequence[Question]) -> list[tuple[Question, list[Turn]]]:
    """The questions with evidence, each with its history (the engine's own earlier answers)."""
    return [(q, history_of(engine, q)) for q in questions if q.evidence]


Point = tuple[float]  # one weight (a tuple, as ranking_cv.held_out reports points)


def grid_values(engine: Engine, items: Sequence[tuple[Question, list[Turn]]],
                grid: Sequence[float], setting: str = "unit_rank_weight") -> dict[Point, np.ndarray]:
    """(questions, len(KEYS)) arrays for every weight; a refused question scores 0."""
    out: dict[Point, np.ndarray] = {}
    for weight in grid:
        rows = []
        with _weighted(engine, weight, setting) as at:
            for q, history in items:
                try:
                    texts = [p.chunk.text for p in at.ask(q.question, history=history, k=K_MAX).retrieved]
                except QuestionError:
                    texts = []
                rows.append(values(q, texts))
        out[(weight,)] = np.asarray(rows, dtype="float64").reshape(len(rows), len(KEYS))
    return out


def choose(table: dict[Point, np.ndarray], mask: np.ndarray) -> Point:
    """The weight with the best hit@5 + MRR@10 on the masked questions; ties go to the smaller."""
    return max(sorted(table), key=lambda w: (round(float(table[w][mask, 1].mean() + table[w][mask, 2].mean()), 9),
                                             -w[0]))


def cross_validate(engine: Engine, questions: Sequence[Question],
                   log: Callable[[str], None] = lambda _m: None, setting: str = "unit_rank_weight",
                   weights: Sequence[float] = GRID) -> dict[str, Any]:
    shipped = float(getattr(engine.settings.retrieval, setting))
    grid = sorted(set(weights) | {shipped})
    items = conversations(engine, questions)
    log(f"{setting} cv: {len(items)} questions x {len(grid)} weights")
    table = grid_values(engine, items, grid, setting)
    types = np.asarray([q.type for q, _h in items])
    fold_of = folds(types.tolist())
    held, per_fold = held_out(table, fold_of, choose, (shipped,))
    best = choose(table, np.ones(len(items), dtype=bool))
    return {
        "setting": setting,
        "n": len(items),
        "grid": list(grid),
        "off": figures(table[(0.0,)], types),
        "shipped": {"weight": shipped, **figures(table[(shipped,)], types)},
        "in_sample": {"weight": best[0], **figures(table[best], types)},
        "cross_validated": {"folds": FOLDS, "weights_per_fold": [p[0] for p in per_fold], **figures(held, types)},
        "per_weight": {f"{w[0]:g}": {k: round(float(v[:, i].mean()), 4) for i, k in enumerate(KEYS)}
                       for w, v in sorted(table.items())},
    }
