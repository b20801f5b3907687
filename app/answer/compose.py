"""The extractive answer: answer units chosen and ordered so the answer is said first.

Each candidate unit (app/answer/units.py) is scored by meaning (the stored sentence vectors),
coverage of the question's focus words, the presence of the expected answer type near the focus
(app/answer/details.py) and its passage's retrieval rank. A unit that matches only by a shared
word with low similarity is dropped. The best unit comes first (for a list question, with its
whole list); then at most `max_support` more, in reading order, within about `word_budget` words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from peerqa.app.answer.analysis import QuestionAnalysis
from peerqa.app.answer.details import defines, has_type
from peerqa.app.answer.sentences import DocSentence, SentenceTable
from peerqa.app.answer.units import (
    Unit,
    as_statement,
    build_unit,
    cites_a_study,
    is_name_line,
    is_unfinished_lead_in,
    item_body,
    opens_with_anaphor,
    quotes_balanced,
    says_little,
    with_counted,
    with_findings,
)
from peerqa.index.bm25 import tokenize

# Weights of a logistic model fitted once, offline, on the curated questions' candidate units (does
# the unit hold a gold keyword?), features on their raw scales. Best-unit hit: 0.62 in-sample, 0.62
# with 5-fold cross-validation over questions, against 0.55 for the earlier dense + term-overlap score.
# With framing and item units (units.py) they give 0.70; a refit over each question's candidates
# gained nothing held out (0.696 -> 0.696 with 5-fold CV), so they stay.
W_DENSE, W_FOCUS, W_TYPE, W_RANK, W_TOKENS = 1.14, 1.69, 0.28, 1.90, 2.39
W_LIST = 1.0  # for a list question, a unit that is a list (x W_TYPE)
MIN_DENSE = 0.30  # below this a unit is off the question's meaning, whatever words it shares
SUPPORT_RATIO = 0.5  # a supporting unit scores at least this share of the best
# Answer types that a study's findings answer (not who, when or how many: the framing sentence
# itself names those).
FINDING_TYPES = frozenset({"list", "effect", "reason", "method", "other", "definition"})
_WS = re.compile(r"\s+")


def term_overlap(query_terms: set[str], text: str) -> float:
    if not query_terms:
        return 0.0
    return len(query_terms & set(tokenize(text))) / len(query_terms)


def weighted_overlap(query_terms: set[str], text: str, idf: Callable[[str], float]) -> float:
    """Share of the question's term weight (IDF) that the text covers: rare words count most."""
    total = sum(idf(t) for t in query_terms)
    if total <= 0:
        return 0.0
    present = set(tokenize(text))
    return sum(idf(t) for t in query_terms if t in present) / total


def normalised(text: str) -> str:
    return _WS.sub(" ", re.sub(r"\[\d+\]", " ", text)).strip().lower()


def _near_repeat(a: str, b: str) -> bool:
    wa, wb = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    if not wa or not wb:
        return False
    return len(wa & wb) / min(len(wa), len(wb)) > 0.7


@dataclass
class ScoredUnit:
    unit: Unit
    score: float
    dense: float
    rank: int  # best retrieval rank (0-based) of a passage holding the anchor


def _unit_dense(table: SentenceTable, unit: Unit, query_vec: np.ndarray) -> float:
    sims = [s for s in (table.similarity(x, query_vec) for x in unit.sentences if x.role != "item") if s is not None]
    own = table.similarity(unit.anchor, query_vec)
    best = max(sims, default=0.0)
    if own is None:
        return best
    return max(own, 0.5 * (own + best))


def score_units(table: SentenceTable, anchors: list[tuple[DocSentence, int]], query_vec: np.ndarray,
                analysis: QuestionAnalysis, terms: set[str], shown: set[str], idf: Callable[[str], float],
                token_score: Callable[[list[DocSentence]], float | None] | None = None,
                statement_items: bool = True) -> list[ScoredUnit]:
    """Every candidate unit once (by its sentences), best first. With `statement_items`, a list item
    that is a sentence in its own right is also a unit alone, except for a list question."""
    best: dict[frozenset[int], ScoredUnit] = {}  # a unit reached from several anchors scores by its best
    bad: set[frozenset[int]] = set()
    def relevance(sent: DocSentence) -> float | None:
        return table.similarity(sent, query_vec)

    def variants(anchor: DocSentence) -> list[Unit]:
        unit = build_unit(table, anchor)
        if analysis.answer_type in FINDING_TYPES:
            unit = with_findings(table, unit, relevance) or unit
        unit = with_counted(table, unit)
        body = item_body(table, anchor)
        out = [unit] if body is None else [unit, body]
        alone = as_statement(anchor) if statement_items and analysis.answer_type != "list" \
            and anchor.role == "item" and body is None else None
        if alone is not None:
            out.append(Unit([alone], alone))  # a fact stated in a list item answers on its own
        return out

    for anchor, rank in anchors:
        for unit in variants(anchor):
            key = frozenset(unit.ids)
            if key in bad:
                continue
            alone = len(unit.sentences) == 1 and unit.sentences[0].role == "item"
            if says_little(unit.text) or (alone and is_name_line(unit.text)) \
                    or is_unfinished_lead_in(unit.sentences[-1].text) \
                    or not quotes_balanced(unit.text) \
                    or (shown and any(normalised(s.text) in shown for s in unit.sentences)):
                # too short (a bare "(Rowe et al., 2017, p. 45)." after a quotation says nothing), a
                # list item of names and titles alone, a lead-in whose list is not in the index, a
                # quotation cut open, or (in a follow-up) something the conversation already showed
                bad.add(key)
                continue
            dense = _unit_dense(table, unit, query_vec)
            defining = analysis.answer_type == "definition" and defines(unit.text, analysis.focus)
            if dense < MIN_DENSE and not defining:
                continue  # (a sentence that defines the very term asked about is on the question's meaning)
            focus = weighted_overlap(terms, unit.text, idf)
            if analysis.answer_type == "list":
                type_ok = W_LIST if unit.is_list else 0.0
            elif analysis.answer_type == "definition":
                type_ok = float(defining)
            else:
                type_ok = float(has_type(analysis.answer_type, unit.text))
            tokens = (token_score(unit.sentences) if token_score is not None else None) or 0.0
            score = W_DENSE * dense + W_FOCUS * focus + W_TYPE * type_ok + W_RANK / (1 + rank) + W_TOKENS * tokens
            if key not in best or score > best[key].score:
                best[key] = ScoredUnit(unit, score, dense, rank)
    out = list(best.values())
    out.sort(key=lambda u: (-u.score, u.rank, u.unit.anchor.idx))
    return out


def lead_units(scored: list[ScoredUnit], word_budget: int = 120, table: SentenceTable | None = None,
               shown: frozenset[str] | set[str] = frozenset()) -> list[ScoredUnit]:
    """The lead unit and, given the sentence table, the next sentence of its paragraph."""
    if not scored:
        return []
    # The lead must stand alone: not a "They ..." whose antecedent could not be attached.
    lead = next((u for u in scored if not opens_with_anaphor(u.unit.sentences[0].text)), scored[0])
    chosen = [lead]
    # The lead's paragraph goes on with the same study or point: its next sentence is read right
    # after the lead, before anything from elsewhere (it may open "They ..." and still be clear).
    if table is not None:
        words = lead.unit.words()
        nxt = table.neighbour(lead.unit.sentences[-1], +1)
        if nxt is not None and nxt.role == "sentence" and not nxt.new_paragraph and nxt.idx not in lead.unit.ids \
                and not cites_a_study(nxt.text) and not says_little(nxt.text) and normalised(nxt.text) not in shown \
                and not is_unfinished_lead_in(nxt.text) and quotes_balanced(nxt.text) \
                and words + len(nxt.text.split()) <= word_budget:
            chosen.append(ScoredUnit(Unit([nxt], nxt), 0.0, 0.0, lead.rank))
    return chosen


def with_detail(scored: list[ScoredUnit], chosen: list[ScoredUnit], detail: int,
                first: bool = False) -> list[ScoredUnit]:
    """`chosen`, plus the best unit holding sentence `detail` (the one that holds the figure or date
    asked for) when no chosen unit holds it: an answer judged to have the detail shows it (`first`:
    before the rest, as the answer itself)."""
    used = set().union(*(u.unit.ids for u in chosen)) if chosen else set()
    if detail in used:
        holder = next(u for u in chosen if detail in u.unit.ids)
        return [holder] + [u for u in chosen if u is not holder] if first else chosen
    best = next((c for c in scored if detail in c.unit.ids and not (c.unit.ids & used)
                 and not opens_with_anaphor(c.unit.sentences[0].text)), None)
    if best is None:
        return chosen
    return [best] + chosen if first else chosen + [best]


def add_support(scored: list[ScoredUnit], chosen: list[ScoredUnit], max_support: int = 3,
                word_budget: int = 120) -> list[ScoredUnit]:
    """`chosen` (the lead first) and more supporting units, in reading order, while the units after
    the lead number at most `max_support` and the words fit `word_budget`."""
    if not chosen:
        return []
    lead = chosen[0]
    used = set().union(*(u.unit.ids for u in chosen))
    words = sum(u.unit.words() for u in chosen)
    support: list[ScoredUnit] = []
    for cand in scored:
        if cand is lead:
            continue
        if len(chosen) - 1 + len(support) >= max_support or cand.score < SUPPORT_RATIO * lead.score:
            break
        if used & cand.unit.ids or any(_near_repeat(cand.unit.text, c.unit.text) for c in chosen + support):
            continue
        if opens_with_anaphor(cand.unit.sentences[0].text):
            continue  # "Its guidelines ..." whose antecedent could not be attached: it would dangle
        if words + cand.unit.words() > word_budget and (support or words > word_budget // 2):
            continue
        support.append(cand)
        used |= cand.unit.ids
        words += cand.unit.words()
    support.sort(key=lambda u: (u.unit.anchor.source_id, u.unit.sentences[0].start))
    return chosen + support


def choose_units(scored: list[ScoredUnit], max_support: int = 3, word_budget: int = 120,
                 table: SentenceTable | None = None, shown: frozenset[str] | set[str] = frozenset()) -> list[ScoredUnit]:
    """The lead unit (and, given the sentence table, the next sentence of its paragraph), then up to
    `max_support` supporting units in reading order."""
    return add_support(scored, lead_units(scored, word_budget, table, shown), max_support, word_budget)
