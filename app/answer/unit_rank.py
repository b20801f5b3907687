"""The top passages re-ordered by what they can answer: each of the passages whose sentences the
composition reads (the top `answer.compose_passages`) scores `fused + weight x content`, where
content is the best answer unit it holds, scored as the composition scores units (meaning, focus
words, expected type, late interaction; app/answer/compose.py) without the rank prior. Only those
passages change places, so the set in the top 5 and everything below stay as retrieved.

It costs nothing extra: the units are the ones the composition scores anyway. The weight
(`retrieval.unit_rank_weight`) is cross-validated in `peerqa eval --cv` (eval/unit_rank_cv.py).
"""

from __future__ import annotations

from peerqa.app.answer.compose import W_RANK, ScoredUnit
from peerqa.records import Passage


def content(unit: ScoredUnit) -> float:
    """The unit's score without its passage-rank prior."""
    return unit.score - W_RANK / (1 + unit.rank)


def reorder(passages: list[Passage], scored: list[ScoredUnit], weight: float,
            depth: int) -> tuple[list[Passage], list[ScoredUnit]]:
    """The top `depth` passages re-sorted by fused score + `weight` x their best unit's content
    (a passage with no unit takes the lowest content among them; ties keep the fused order), their
    ranks renumbered and scores set to that sum, and the units re-scored with the new ranks, best
    first."""
    top = passages[:depth]
    if weight <= 0 or len(top) < 2 or not scored:
        return passages, scored
    best: dict[int, float] = {}
    for u in scored:
        if u.rank < len(top):
            best[u.rank] = max(best.get(u.rank, float("-inf")), content(u))
    if not best:
        return passages, scored
    floor = min(best.values())
    combined = [p.score + weight * best.get(i, floor) for i, p in enumerate(top)]
    order = sorted(range(len(top)), key=lambda i: (-combined[i], i))
    new_rank = {old: new for new, old in enumerate(order)}
    for i, p in enumerate(top):
        p.score = round(combined[i], 6)  # the score the order follows (as app/answer/rerank.py does)
    out = [top[i] for i in order] + passages[len(top):]
    for i, p in enumerate(out):
        p.rank = i + 1
    rescored = []
    for u in scored:
        if u.rank < len(top):
            r = new_rank[u.rank]
            u = ScoredUnit(u.unit, content(u) + W_RANK / (1 + r), u.dense, r)
        rescored.append(u)
    rescored.sort(key=lambda u: (-u.score, u.rank, u.unit.anchor.idx))
    return out, rescored
