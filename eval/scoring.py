"""From what a system produced for each question to per-question scores, and from those to the
figures of one system overall, by question type and by section.

A system's output for one question is an `Outcome`: the retrieved passage texts (best first),
its latency, and for systems that answer, an `AnswerView` of the answer. Baselines that only
retrieve have no answer, so their answer and abstention figures are None.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from peerqa.eval import metrics
from peerqa.eval.questions import Question

K_MAX = 10  # passages each system returns; hit@10, MRR@10 and nDCG@10 read all of them
HIT_KS = (1, 3, 5, 10)
RETRIEVAL_KEYS = tuple(f"hit@{k}" for k in HIT_KS) + ("mrr@10", "ndcg@10", "recall@5")
ABSTENTION_KEYS = ("abstention_accuracy", "abstention_precision", "abstention_recall", "wrong_abstention_rate")
ANSWER_KEYS = ("keyword_coverage", "citation_support", "citation_precision", "lead_hit", "list_completeness",
               "answer_words")
# Counted, not averaged: each should be 0 on every run.
COUNT_KEYS = ("unfinished_lead_ins", "unbalanced_quotes", "dangling_anaphora", "repeated_units")
LATENCY_KEYS = ("latency_p50_ms", "latency_p95_ms")
METRIC_KEYS = RETRIEVAL_KEYS + ABSTENTION_KEYS + ANSWER_KEYS + COUNT_KEYS + LATENCY_KEYS


@dataclass(frozen=True)
class AnswerView:
    """The parts of an answer the metrics read."""

    text: str
    abstained: bool
    sentences: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (sentence, texts of the passages it cites)
    cited: tuple[str, ...] = ()  # texts of all cited passages, one per citation
    units: tuple[tuple[str, ...], ...] = ()  # the answer's units (sentence texts), lead unit first
    earlier: tuple[str, ...] = ()  # the conversation's earlier answers (follow-ups), for repeats
    coverage: str = "full"  # full | partial | none
    signals: tuple[tuple[str, float], ...] = ()  # the answerability signals, for calibration


@dataclass(frozen=True)
class Outcome:
    """What one system produced for one question."""

    retrieved: tuple[str, ...]
    latency_ms: float
    answer: AnswerView | None = None
    error: str = ""


@dataclass(frozen=True)
class QuestionScore:
    question: Question
    values: dict[str, float | None] = field(default_factory=dict)
    abstained: bool | None = None  # None for a system that does not answer
    latency_ms: float = 0.0
    signals: dict[str, float] = field(default_factory=dict)  # the engine's answerability signals


def score_question(q: Question, outcome: Outcome) -> QuestionScore:
    """Per-question values; a metric that does not apply to the question is None."""
    values: dict[str, float | None] = dict.fromkeys(RETRIEVAL_KEYS + ANSWER_KEYS + COUNT_KEYS)
    passages = outcome.retrieved[:K_MAX]
    if q.evidence:
        rel = metrics.relevance(q.evidence, passages)
        for k in HIT_KS:
            values[f"hit@{k}"] = metrics.hit_at_k(rel, k)
        values["mrr@10"] = metrics.mrr_at_k(rel, K_MAX)
        values["ndcg@10"] = metrics.ndcg_at_k(rel, K_MAX, len(q.evidence))
        values["recall@5"] = metrics.recall_at_k(q.evidence, passages, 5)
    a = outcome.answer
    if a is not None:
        # An abstention on an answerable question covers none of its keywords: counted, as 0.
        values["keyword_coverage"] = metrics.keyword_coverage(q.keywords, "" if a.abstained else a.text)
        values["lead_hit"] = None if a.abstained and q.should_abstain else metrics.lead_hit(q.keywords, [] if a.abstained else a.units)
        if q.type == "list":
            values["list_completeness"] = values["keyword_coverage"]
        if not a.abstained:
            values["citation_support"] = metrics.citation_support(a.sentences)
            values["citation_precision"] = metrics.citation_precision(a.cited, q.evidence)
            values["answer_words"] = float(len(a.text.split()))
        # Counted over everything the answer shows, partial answers included.
        values["unfinished_lead_ins"] = float(metrics.unfinished_lead_ins(a.units))
        values["unbalanced_quotes"] = float(metrics.unbalanced_quotes(a.units))
        values["dangling_anaphora"] = float(metrics.dangling_anaphora(a.units))
        values["repeated_units"] = float(metrics.repeated_units(a.units, a.earlier)) if a.earlier else 0.0
    return QuestionScore(q, values, None if a is None else a.abstained, outcome.latency_ms,
                         dict(a.signals) if a is not None else {})


def summarise(scores: Sequence[QuestionScore]) -> dict[str, Any]:
    """The figures of one group of questions, keys in METRIC_KEYS order, plus counts."""
    out: dict[str, Any] = {"n": len(scores), "n_with_evidence": sum(1 for s in scores if s.question.evidence)}
    for key in RETRIEVAL_KEYS:
        out[key] = metrics.mean([s.values.get(key) for s in scores])
    answered = [s for s in scores if s.abstained is not None]
    if answered:
        out.update(metrics.abstention_scores([(s.question.should_abstain, bool(s.abstained)) for s in answered]))
    else:
        out.update(dict.fromkeys(ABSTENTION_KEYS))
    for key in ANSWER_KEYS:
        out[key] = metrics.mean([s.values.get(key) for s in scores])
    for key in COUNT_KEYS:
        present = [s.values[key] for s in scores if s.values.get(key) is not None]
        out[key] = int(sum(v for v in present if v is not None)) if present else None
    latencies = [s.latency_ms for s in scores]
    out["latency_p50_ms"] = metrics.percentile(latencies, 50)
    out["latency_p95_ms"] = metrics.percentile(latencies, 95)
    return out


def _grouped(scores: Sequence[QuestionScore], keys: Callable[[Question], list[str]]) -> dict[str, Any]:
    groups: dict[str, list[QuestionScore]] = defaultdict(list)
    for s in scores:
        for key in keys(s.question):
            groups[key].append(s)
    return {key: summarise(groups[key]) for key in sorted(groups)}


def misses(scores: Sequence[QuestionScore]) -> dict[str, list[str]]:
    """Question ids to look at: evidence not in the top 5, and wrong or missing abstentions."""
    return {
        "not_in_top5": [s.question.id for s in scores if s.values.get("hit@5") == 0.0],
        "wrong_abstention": [s.question.id for s in scores if s.abstained and not s.question.should_abstain],
        "missed_abstention": [s.question.id for s in scores if s.abstained is False and s.question.should_abstain],
    }


def system_summary(scores: Sequence[QuestionScore]) -> dict[str, Any]:
    """Overall figures, then by_type and by_section (a question under each of its sections)."""
    out = summarise(scores)
    out["by_type"] = _grouped(scores, lambda q: [q.type])
    out["by_section"] = _grouped(scores, lambda q: q.sections)
    out["misses"] = misses(scores)
    return out
