"""Learn the abstention thresholds from the full engine's answerability signals, and say how well
they generalise: 5-fold cross-validation over questions (thresholds chosen on four fifths, scored
on the held-out fifth), beside the in-sample figures.

The engine records its signals on every answer (`Answer.signals`: best evidence similarity, a rare
word or a name the sources never mention, a detail asked for and the best similarity of evidence
holding it), so thresholds can be searched here without asking again. `decide` is the engine's own
decision function (app/answer/answerability.py), so what is learned is what the engine does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from peerqa.app.answer.answerability import Thresholds, decide
from peerqa.eval import metrics

FOLDS = 5
GRID = {
    "min_similarity": np.round(np.arange(0.15, 0.501, 0.025), 3),
    "missing_similarity": np.round(np.arange(0.35, 0.851, 0.025), 3),
    "name_similarity": np.round(np.arange(0.35, 0.851, 0.025), 3),
    "detail_similarity": np.round(np.arange(0.0, 0.751, 0.025), 3),
}
Example = tuple[dict[str, float], bool]  # (signals, should abstain)


def predictions(examples: Sequence[Example], t: Thresholds) -> list[bool]:
    return [decide(signals, t) != "full" for signals, _should in examples]


def figures(examples: Sequence[Example], predicted: Sequence[bool]) -> dict[str, float | None]:
    pairs = [(should, did) for (_s, should), did in zip(examples, predicted, strict=True)]
    return metrics.abstention_scores(pairs)


def objective(examples: Sequence[Example], t: Thresholds) -> tuple[float, float]:
    """F1 of abstaining (precision and recall alike), then fewer wrong abstentions."""
    f = figures(examples, predictions(examples, t))
    p, r, w = f["abstention_precision"] or 0.0, f["abstention_recall"] or 0.0, f["wrong_abstention_rate"] or 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return f1, -w


def fit(examples: Sequence[Example], start: Thresholds, rounds: int = 3) -> Thresholds:
    """Coordinate search over GRID from `start`: each threshold in turn, the others held. Of the
    values that score best, the middle one is taken: with a few dozen unanswerable questions the
    best score is a plateau, and its edge is where held-out questions fall to the wrong side."""
    best = start
    for _ in range(rounds):
        before = best
        for name, values in GRID.items():
            scores = [objective(examples, replace(best, **{name: float(v)})) for v in values]
            top = max(scores)
            plateau = [float(v) for v, sc in zip(values, scores, strict=True) if sc == top]
            best = replace(best, **{name: plateau[len(plateau) // 2]})
        if best == before:
            break
    return best


def folds(examples: Sequence[Example], k: int = FOLDS) -> list[int]:
    """A fold per example, stratified: every fold gets its share of unanswerable questions."""
    out = [0] * len(examples)
    counters = {True: 0, False: 0}
    for i, (_s, should) in enumerate(examples):
        out[i] = counters[should] % k
        counters[should] += 1
    return out


def calibrate(examples: Sequence[Example], start: Thresholds) -> dict[str, Any]:
    """In-sample thresholds and figures, the current thresholds' figures, and 5-fold CV figures."""
    fitted = fit(examples, start)
    fold_of = folds(examples)
    held_out: list[bool | None] = [None] * len(examples)
    per_fold = []
    for f in range(FOLDS):
        train = [e for e, g in zip(examples, fold_of, strict=True) if g != f]
        t = fit(train, start)
        per_fold.append(asdict(t))
        for i, g in enumerate(fold_of):
            if g == f:
                held_out[i] = decide(examples[i][0], t) != "full"
    return {
        "n": len(examples),
        "n_unanswerable": sum(1 for _s, should in examples if should),
        "current": {"thresholds": asdict(start), **figures(examples, predictions(examples, start))},
        "in_sample": {"thresholds": asdict(fitted), **figures(examples, predictions(examples, fitted))},
        "cross_validated": {"folds": FOLDS, "thresholds_per_fold": per_fold,
                            **figures(examples, [bool(h) for h in held_out])},
    }
