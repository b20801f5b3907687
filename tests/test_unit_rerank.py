"""Re-ranking by interpolation (app/answer/rerank.py): the top fused candidates gain
weight x sigmoid(logit) from a deterministic fake re-ranker; the rest keep their order."""

from __future__ import annotations

import math

import pytest

from peerqa.app.answer.rerank import interpolate, rerank_top, sigmoid
from peerqa.records import Chunk, Passage

pytestmark = pytest.mark.unit


def _passages(scores: list[float]) -> list[Passage]:
    return [Passage(chunk=Chunk(id=f"c{i}", source_id="s", source_path="s.txt", char_start=i, char_end=i + 1,
                                text=f"passage {i}", embed_text=f"passage {i}"), score=s, rank=i + 1)
            for i, s in enumerate(scores)]


class _Fixed:
    """Logits looked up by passage text; records what it was shown."""

    def __init__(self, logits: dict[str, float]):
        self.logits, self.seen = logits, []  # type: ignore[var-annotated]

    def scores(self, query: str, texts: list[str]) -> list[float]:
        self.seen.append((query, list(texts)))
        return [self.logits.get(t, 0.0) for t in texts]


def test_the_top_candidates_are_resorted_by_fused_plus_weighted_sigmoid_and_the_rest_keep_their_place():
    fake = _Fixed({"passage 0": -10.0, "passage 1": 10.0, "passage 2": 0.0, "passage 4": 50.0})
    out = rerank_top(fake, "q", _passages([0.9, 0.8, 0.7, 0.6, 0.5]), weight=0.5, depth=3)
    assert [p.chunk.id for p in out] == ["c1", "c2", "c0", "c3", "c4"]  # c4's high logit is never asked for
    assert fake.seen == [("q", ["passage 0", "passage 1", "passage 2"])]
    assert out[0].score == pytest.approx(0.8 + 0.5 * sigmoid(10.0), abs=1e-6)
    assert out[1].score == pytest.approx(0.7 + 0.25, abs=1e-6)
    assert out[2].score == pytest.approx(0.9 + 0.5 * sigmoid(-10.0), abs=1e-6)
    assert [p.score for p in out[3:]] == [0.6, 0.5]  # below the depth: untouched


def test_weight_zero_keeps_the_fused_order_and_ties_keep_it_too():
    assert [p.chunk.id for p in rerank_top(_Fixed({"passage 2": 9.0}), "q", _passages([0.9, 0.8, 0.7]), 0.0, 10)] \
        == ["c0", "c1", "c2"]
    tied = interpolate(_passages([0.5, 0.5, 0.5]), [1.0, 1.0, 1.0], weight=1.0)
    assert [p.chunk.id for p in tied] == ["c0", "c1", "c2"]


def test_depth_zero_or_no_candidates_asks_nothing():
    fake = _Fixed({})
    assert rerank_top(fake, "q", [], 1.0, 10) == []
    assert [p.chunk.id for p in rerank_top(fake, "q", _passages([0.2, 0.1]), 1.0, 0)] == ["c0", "c1"]
    assert fake.seen == []


def test_sigmoid_is_stable_at_the_extremes():
    assert sigmoid(0.0) == 0.5 and sigmoid(-1000.0) == 0.0 and sigmoid(1000.0) == 1.0
    assert sigmoid(2.0) == pytest.approx(1 / (1 + math.exp(-2.0)))


def test_the_cross_validation_asks_the_model_once_per_question_and_weight_zero_is_the_fused_order(settings_factory):
    from peerqa.eval.questions import Question
    from peerqa.eval.rerank_cv import cross_validate
    from tests.fakes import engine_over_text
    from tests.test_unit_ingest import MINI_DOC

    class Shortest:
        calls = 0

        def scores(self, query: str, texts: list[str]) -> list[float]:
            Shortest.calls += 1
            shortest = min(range(len(texts)), key=lambda i: (len(texts[i]), i))
            return [20.0 if i == shortest else -20.0 for i in range(len(texts))]

    engine = engine_over_text(settings_factory(), "mini.txt", MINI_DOC)
    engine.reranker = Shortest()
    questions = [Question(id=f"q{i}", question=q, type=t, evidence=(e,)) for i, (q, t, e) in enumerate([
        ("How does forensic peer support help?", "fact", "Forensic peer support helps people leaving prison"),
        ("Who described prison peer workers?", "fact", "Prison peer workers were described by Green (2018)"),
        ("What does the review look at?", "list", "This review looks at peer support."),
    ])]
    result = cross_validate(engine, questions)
    assert result["n"] == 3 and Shortest.calls == 3  # one model call per question; the grid reads the cache
    fused = [engine.retrieve(q.question, q.question, 10) for q in questions]
    engine.reranker = None
    plain = [engine.retrieve(q.question, q.question, 10) for q in questions]
    assert [[p.chunk.id for p in x] for x in fused] != [[p.chunk.id for p in x] for x in plain]  # it re-ranks
    assert result["off"]["hit@5"] == 1.0 and set(result["per_point"]) >= {"0@5", "2@30"}
    assert len(result["cross_validated"]["points_per_fold"]) == 5
