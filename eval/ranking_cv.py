"""Cross-validation of the ranking weights fitted on questions (the section level's two weights):
retrieval only, every weight pair of a grid over the same prepared questions, then the pair
chosen on four fifths of the questions scored on the fifth (folds stratified by question type,
as eval/calibration.py does for the abstention thresholds), beside the in-sample best pair and
the pair the settings ship.

    peerqa eval --questions eval/questions.jsonl --systems full --cv

Each question is prepared and embedded once, as the engine does (a follow-up with the engine's
own earlier answers as its history); only the fusion runs once per grid point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from peerqa.app.answer.analysis import QuestionAnalysis, analyse
from peerqa.app.answer.engine import Engine, QuestionError, Turn
from peerqa.app.answer.query import clean_question, prepare
from peerqa.eval import metrics
from peerqa.eval.questions import Question
from peerqa.eval.scoring import K_MAX

FOLDS = 5
GRID_HEADING = (0.0, 0.05, 0.1, 0.15, 0.2)
GRID_BEST = (0.0, 0.1, 0.2, 0.3, 0.5)
KEYS = ("hit@5", "mrr@10", "recall@5")
Point = tuple[float, float]


@dataclass
class Prepared:
    question: Question
    expanded: str
    standalone: str
    vector: np.ndarray
    tokens: Any
    analysis: QuestionAnalysis  # what the engine reads of the question's own words (the answer-type prior)


def history_of(engine: Engine, q: Question) -> list[Turn]:
    """A follow-up's conversation: its context questions, each answered by `engine` in turn."""
    history: list[Turn] = []
    for earlier, _gold in q.context:
        try:
            history.append(Turn(earlier, engine.ask(earlier, history=history, k=K_MAX).answer))
        except QuestionError:
            history.append(Turn(earlier, ""))
    return history


def prepare_all(engine: Engine, questions: Sequence[Question]) -> list[Prepared]:
    r = engine.settings.retrieval
    out = []
    for q in questions:
        if not q.evidence:
            continue
        history = history_of(engine, q)
        try:
            text = clean_question(q.question, engine.settings.answer.max_question_chars)
        except QuestionError:
            continue
        p = prepare(text, history, engine._glossary_for(text), r.expand_queries, r.rewrite_followups)
        vectors, tokens = engine.embedder.embed_with_tokens([p.standalone])
        out.append(Prepared(q, p.expanded, p.standalone, vectors[0], tokens[0], analyse(text)))
    return out


def values(q: Question, passages: Sequence[str]) -> tuple[float, float, float]:
    rel = metrics.relevance(q.evidence, passages)
    return (metrics.hit_at_k(rel, 5), metrics.mrr_at_k(rel, K_MAX),
            float(metrics.recall_at_k(q.evidence, passages, 5) or 0.0))


def grid_values(engine: Engine, prepared: Sequence[Prepared], grid: Sequence[Point]) -> dict[Point, np.ndarray]:
    """(questions, 3) arrays of hit@5, MRR@10, recall@5 for every weight pair."""
    searcher = engine.searcher
    shipped = searcher.section_weights
    out: dict[Point, np.ndarray] = {}
    try:
        for point in grid:
            searcher.section_weights = point
            rows = []
            for p in prepared:
                found = engine.retrieve(p.expanded, p.standalone, K_MAX, None, query_vec=p.vector, query_tokens=p.tokens,
                                        analysis=p.analysis)
                rows.append(values(p.question, [x.chunk.text for x in found]))
            out[point] = np.asarray(rows, dtype="float64").reshape(len(rows), len(KEYS))
    finally:
        searcher.section_weights = shipped
    return out


def folds(types: Sequence[str], k: int = FOLDS) -> np.ndarray:
    counters: dict[str, int] = {}
    out = np.zeros(len(types), dtype="int64")
    for i, t in enumerate(types):
        out[i] = counters.get(t, 0) % k
        counters[t] = counters.get(t, 0) + 1
    return out


def choose(table: dict[Point, np.ndarray], mask: np.ndarray) -> Point:
    """The pair with the best hit@5 + MRR@10 on the masked questions; ties go to the smaller weights."""
    return max(sorted(table), key=lambda p: (round(float(table[p][mask, 0].mean() + table[p][mask, 1].mean()), 9),
                                             -sum(p)))


def figures(rows: np.ndarray, types: np.ndarray, keys: Sequence[str] = KEYS) -> dict[str, Any]:
    """Mean of each column (named by `keys`), overall and by question type."""
    out: dict[str, Any] = {k: round(float(rows[:, i].mean()), 4) for i, k in enumerate(keys)}
    out["by_type"] = {t: {k: round(float(rows[types == t, i].mean()), 4) for i, k in enumerate(keys)}
                      for t in sorted(set(types.tolist()))}
    return out


def held_out(table: dict[Any, np.ndarray], fold_of: np.ndarray,
             choose_on: Callable[[dict[Any, np.ndarray], np.ndarray], Any], shipped: Any) -> tuple[np.ndarray, list[list[Any]]]:
    """Each fold's rows scored with the grid point `choose_on` picks on the other folds; the points."""
    held = np.zeros(next(iter(table.values())).shape)
    per_fold = []
    for f in range(FOLDS):
        # A fold with no training question (a tiny question file) keeps the shipped point.
        point = choose_on(table, fold_of != f) if (fold_of != f).any() else shipped
        per_fold.append(list(point))
        held[fold_of == f] = table[point][fold_of == f]
    return held, per_fold


def cross_validate(engine: Engine, questions: Sequence[Question],
                   log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    grid = [(h, b) for h in GRID_HEADING for b in GRID_BEST]
    shipped = engine.searcher.section_weights
    if shipped not in grid:
        grid.append(shipped)
    prepared = prepare_all(engine, questions)
    log(f"ranking cv: {len(prepared)} questions x {len(grid)} weight pairs")
    table = grid_values(engine, prepared, grid)
    types = np.asarray([p.question.type for p in prepared])
    fold_of = folds(types.tolist())
    everything = np.ones(len(prepared), dtype=bool)
    held, per_fold = held_out(table, fold_of, choose, shipped)
    best = choose(table, everything)
    return {
        "n": len(prepared),
        "grid": {"heading": list(GRID_HEADING), "best": list(GRID_BEST)},
        "off": figures(table[(0.0, 0.0)], types),
        "shipped": {"weights": list(shipped), **figures(table[shipped], types)},
        "in_sample": {"weights": list(best), **figures(table[best], types)},
        "cross_validated": {"folds": FOLDS, "weights_per_fold": per_fold, **figures(held, types)},
    }
