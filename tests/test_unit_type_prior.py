"""The answer-type prior (app/answer/type_prior.py): list and definition questions lift the
candidates that hold a list or define the term; other questions keep the fused order."""

from __future__ import annotations

import pytest

from peerqa.app.answer.analysis import analyse
from peerqa.app.answer.type_prior import holds_answer_type, holds_definition, holds_list, prefer_answer_type
from peerqa.records import Chunk, Passage

pytestmark = pytest.mark.unit

PROSE = "Peer support workers value hope and respect. Training covered ethics and recovery in several sites."
LIST = "The values identified were:\n\n- Hope;\n\n- Respect;\n\n- Mutuality."
DEFINES = "Training was brief. YPSWs are young adults with lived experience who support young people."


def _passages(*texts: str) -> list[Passage]:
    out = []
    for i, text in enumerate(texts):
        chunk = Chunk(id=f"c{i}", source_id="s", source_path="s.txt", char_start=0, char_end=len(text), text=text,
                      embed_text=text)
        out.append(Passage(chunk=chunk, score=1.0 - 0.01 * i, rank=i + 1))
    return out


def test_what_holds_a_list_or_a_definition():
    assert holds_list(LIST) and not holds_list(PROSE) and not holds_list("- one line only")
    assert holds_list("Steps:\n1. Recruit\n2. Train")
    assert holds_definition(DEFINES, "YPSWs") and not holds_definition(PROSE, "YPSWs")
    assert holds_answer_type(analyse("What values does the charter list?"), LIST)
    assert not holds_answer_type(analyse("When did the HSE hire its first peer worker?"), LIST)


def test_a_list_question_lifts_the_passage_that_holds_a_list():
    passages = _passages(PROSE, DEFINES, LIST)
    out = prefer_answer_type(passages, analyse("What values does the charter list?"), 0.15)
    assert [p.chunk.id for p in out] == ["c2", "c0", "c1"]
    assert out[0].score == pytest.approx(0.98 + 0.15)


def test_a_definition_question_lifts_the_passage_that_defines_the_term():
    out = prefer_answer_type(_passages(PROSE, LIST, DEFINES), analyse("Who are YPSWs?"), 0.15)
    assert out[0].chunk.id == "c2"


def test_other_questions_and_weight_zero_keep_the_fused_order():
    for question, weight in (("Why do peer workers leave their jobs?", 0.15), ("What values does the charter list?", 0.0)):
        out = prefer_answer_type(_passages(PROSE, DEFINES, LIST), analyse(question), weight)
        assert [p.chunk.id for p in out] == ["c0", "c1", "c2"] and [p.score for p in out] == [1.0, 0.99, 0.98]
