"""The expected answer type as a retrieval prior: a question that asks for a list prefers passages
that hold one, and a question that asks what a term is prefers passages that define it.

    score(p) = fused(p) + weight x [p holds the kind of answer the question asks for]

"Holds a list" is two or more list lines ("- ...", "1. ..."); "defines the term" is a sentence
that says "X is / are / refers to ...", "X (its expansion)" or "known as X" about the question's
focus (app/answer/details.py `defines`). Other answer types get no prior: a figure or a date beside
the focus words changed no question's ranking (README, "Ranking"). The composition already
prefers such units among the top 5 passages (compose.py, W_TYPE and W_LIST); this brings the
passages that hold them into the top 5 in the first place. The weight
(`retrieval.answer_type_weight`) is cross-validated in `peerqa eval --cv` (eval/unit_rank_cv.py).
"""

from __future__ import annotations

import re

from peerqa.app.answer.analysis import QuestionAnalysis
from peerqa.app.answer.details import defines
from peerqa.ingest.sentences import split_sentences
from peerqa.ingest.structure import LIST_ITEM
from peerqa.records import Passage

_LIST_LINE = re.compile(LIST_ITEM.pattern, re.M)  # ingest's own item test, at every line start
MIN_LIST_LINES = 2


def holds_list(text: str) -> bool:
    """Two or more list lines, as ingest writes them ("- ...", "1. ...")."""
    return len(_LIST_LINE.findall(text)) >= MIN_LIST_LINES


def holds_definition(text: str, focus: str) -> bool:
    return any(defines(text[s:e], focus) for s, e in split_sentences(text))


def asked_kind(analysis: QuestionAnalysis | None) -> str:
    """"list" or "definition" when the question asks for one (a definition needs its term), else ""."""
    if analysis is None:
        return ""
    if analysis.answer_type == "list":
        return "list"
    return "definition" if analysis.answer_type == "definition" and analysis.focus else ""


def holds_answer_type(analysis: QuestionAnalysis, text: str) -> bool:
    """Does the passage hold the kind of answer the question asks for (a list, a definition)?"""
    return _holds(asked_kind(analysis), text, analysis.focus)


def _holds(kind: str, text: str, focus: str) -> bool:
    return holds_list(text) if kind == "list" else kind == "definition" and holds_definition(text, focus)


def prefer_answer_type(candidates: list[Passage], analysis: QuestionAnalysis | None, weight: float) -> list[Passage]:
    """The fused candidates with `weight` added to those that hold the asked-for kind of answer,
    re-sorted (ties keep the fused order); unchanged when the question asks for neither kind."""
    kind = asked_kind(analysis)
    if weight <= 0 or not candidates or analysis is None or not kind:
        return candidates
    for p in candidates:
        if _holds(kind, p.chunk.text, analysis.focus):
            p.score = round(p.score + weight, 6)
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i].score, i))
    return [candidates[i] for i in order]
