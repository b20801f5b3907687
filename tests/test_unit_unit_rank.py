"""The top passages re-ordered by their best answer unit (app/answer/unit_rank.py), on hand-made
passages and units (no index, no model)."""

from __future__ import annotations

import pytest

from peerqa.app.answer.compose import W_RANK, ScoredUnit
from peerqa.app.answer.sentences import DocSentence
from peerqa.app.answer.unit_rank import content, reorder
from peerqa.app.answer.units import Unit
from peerqa.records import Passage
from tests.app_stubs import chunk

pytestmark = pytest.mark.unit


def _passages(scores: list[float]) -> list[Passage]:
    return [Passage(chunk=chunk(text=f"passage {i}", section=("S", str(i))), score=s, rank=i + 1)
            for i, s in enumerate(scores)]


def _unit(idx: int, rank: int, content_score: float) -> ScoredUnit:
    s = DocSentence(idx=idx, source_id="src1", start=0, end=10, text=f"sentence {idx}", section="S", rows=[rank],
                    vector=-1, pages=[1], new_paragraph=False)
    return ScoredUnit(Unit([s], s), content_score + W_RANK / (1 + rank), 0.5, rank)


def test_a_passage_whose_unit_answers_better_moves_up_within_the_top_only():
    passages = _passages([1.30, 1.25, 1.20, 1.10])
    units = [_unit(0, 0, 1.0), _unit(1, 1, 2.0), _unit(2, 2, 1.1), _unit(3, 3, 9.0)]
    out, rescored = reorder(passages, units, weight=0.3, depth=3)
    # 1.25 + 0.3 x 2.0 = 1.85, then 1.30 + 0.3 = 1.60, then 1.20 + 0.33 = 1.53; the 4th stays below
    assert [p.chunk.text for p in out] == ["passage 1", "passage 0", "passage 2", "passage 3"]
    assert [p.rank for p in out] == [1, 2, 3, 4]
    assert [round(p.score, 2) for p in out] == [1.85, 1.6, 1.53, 1.1]  # the re-ordered top carries its new score
    # each unit keeps its content score and takes its passage's new rank prior
    by_idx = {u.unit.anchor.idx: u for u in rescored}
    assert by_idx[1].rank == 0 and by_idx[0].rank == 1
    assert abs(content(by_idx[1]) - 2.0) < 1e-9 and abs(by_idx[1].score - (2.0 + W_RANK)) < 1e-9
    assert rescored == sorted(rescored, key=lambda u: -u.score)
    assert by_idx[3].rank == 3 and by_idx[3].score == units[3].score  # below the re-ordered top: untouched


def test_weight_zero_or_nothing_to_compare_keeps_the_fused_order():
    passages = _passages([1.3, 1.2])
    units = [_unit(0, 0, 1.0), _unit(1, 1, 5.0)]
    assert reorder(passages, units, weight=0.0, depth=5) == (passages, units)
    assert reorder(passages, [], weight=0.3, depth=5)[0] == passages
    # a passage without any unit takes the lowest content of the others, so it is not lifted by default
    out, _ = reorder(_passages([1.3, 1.29]), [_unit(0, 0, 1.0)], weight=0.3, depth=5)
    assert [p.chunk.text for p in out] == ["passage 0", "passage 1"]
