"""Evaluation metrics as pure functions over plain strings, booleans and numbers.

Evidence matching: a gold quote "lies in" a passage when, after `normalise` on both sides, the
quote is a substring of the passage, or at least half of the quote's word 5-grams occur in the
passage (a quote that a chunk boundary splits still counts for the passage holding most of it).
A passage is relevant (binary) when it holds at least one gold quote of the question.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

GRAM = 5  # words per n-gram for split quotes
_PUNCT = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "‑": "-", "*": None})
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lowercase, straighten curly quotes, map dashes to '-', drop '*', collapse white space."""
    return _SPACE.sub(" ", text.lower().translate(_PUNCT)).strip()


# Cached because the same passages are matched against many quotes across systems.
@lru_cache(maxsize=16384)
def _norm_and_grams(text: str) -> tuple[str, frozenset[tuple[str, ...]]]:
    norm = normalise(text)
    words = norm.split(" ") if norm else []
    return norm, frozenset(tuple(words[i : i + GRAM]) for i in range(len(words) - GRAM + 1))


def contains(passage: str, text: str) -> bool:
    """True when `text` occurs in `passage` after normalising both (empty text never does)."""
    needle = _norm_and_grams(text)[0]
    return bool(needle) and needle in _norm_and_grams(passage)[0]


def quote_matches(quote: str, passage: str) -> bool:
    """True when the gold quote lies in the passage: normalised containment, or at least half of
    the quote's word 5-grams in the passage (quotes shorter than 5 words need containment)."""
    if contains(passage, quote):
        return True
    q_grams = _norm_and_grams(quote)[1]
    if not q_grams:
        return False
    return 2 * len(q_grams & _norm_and_grams(passage)[1]) >= len(q_grams)


def relevance(quotes: Sequence[str], passages: Sequence[str]) -> list[bool]:
    """Per passage (in rank order): does it hold any of the gold quotes?"""
    return [any(quote_matches(q, p) for q in quotes) for p in passages]


def hit_at_k(relevant: Sequence[bool], k: int) -> float:
    """1.0 when a relevant passage is among the first k, else 0.0."""
    return 1.0 if any(relevant[:k]) else 0.0


def recall_at_k(quotes: Sequence[str], passages: Sequence[str], k: int) -> float | None:
    """Share of the gold quotes found in the first k passages; None without quotes."""
    if not quotes:
        return None
    top = passages[:k]
    return sum(1 for q in quotes if any(quote_matches(q, p) for p in top)) / len(quotes)


def mrr_at_k(relevant: Sequence[bool], k: int) -> float:
    """Reciprocal rank of the first relevant passage within the first k, else 0.0."""
    for rank, rel in enumerate(relevant[:k], start=1):
        if rel:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(relevant: Sequence[bool], k: int, n_gold: int) -> float:
    """Binary nDCG@k. The ideal list puts max(n_gold, relevant passages retrieved) relevant passages
    first (capped at k): every gold quote should have a passage of its own, and a quote repeated
    by overlapping chunks makes more passages relevant, which must not push nDCG above 1."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, rel in enumerate(relevant[:k], start=1) if rel)
    ideal_n = min(k, max(n_gold, sum(1 for rel in relevant[:k] if rel)))
    if ideal_n == 0:
        return 0.0
    idcg = sum(1.0 / math.log2(rank + 1) for rank in range(1, ideal_n + 1))
    return dcg / idcg


def keyword_coverage(keywords: Sequence[str], text: str) -> float | None:
    """Share of the keywords present in the text (normalised, so case-insensitive); None without keywords."""
    keywords = [k for k in keywords if normalise(k)]
    if not keywords:
        return None
    return sum(1 for k in keywords if contains(text, k)) / len(keywords)


def citation_support(sentences: Sequence[tuple[str, Sequence[str]]]) -> float | None:
    """Share of answer sentences contained in (one of) the passages they cite. Each item is
    (sentence text, texts of its cited passages); a sentence citing nothing is unsupported.
    None for an answer without sentences."""
    if not sentences:
        return None
    ok = sum(1 for text, cited in sentences if any(contains(p, text) for p in cited))
    return ok / len(sentences)


def citation_precision(cited: Sequence[str], quotes: Sequence[str]) -> float | None:
    """Share of the cited passages that hold a gold quote; None without citations or quotes."""
    if not cited or not quotes:
        return None
    return sum(relevance(quotes, cited)) / len(cited)


def abstention_scores(pairs: Sequence[tuple[bool, bool]]) -> dict[str, float | None]:
    """Abstention as a binary classifier. Each pair is (should abstain, did abstain).

    precision: of the abstentions, the share that were right (question unanswerable);
    recall: of the unanswerable questions, the share abstained on;
    accuracy: share of questions where abstaining or answering was the right call;
    wrong_abstention_rate: of the answerable questions, the share abstained on.
    A figure with an empty denominator is None.
    """
    tp = sum(1 for should, did in pairs if should and did)
    fp = sum(1 for should, did in pairs if not should and did)
    fn = sum(1 for should, did in pairs if should and not did)
    tn = sum(1 for should, did in pairs if not should and not did)
    return {
        "abstention_accuracy": _ratio(tp + tn, len(pairs)),
        "abstention_precision": _ratio(tp, tp + fp),
        "abstention_recall": _ratio(tp, tp + fn),
        "wrong_abstention_rate": _ratio(fp, fp + tn),
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation, as NumPy's default); None for no values."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype="float64"), q))


def mean(values: Sequence[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


# -- answer quality: what the answer says (units are lists of sentence texts, in answer order) ----
def lead_hit(keywords: Sequence[str], units: Sequence[Sequence[str]]) -> float | None:
    """1.0 when the first unit holds a keyword; None without keywords (0.0 for no units)."""
    keywords = [k for k in keywords if normalise(k)]
    if not keywords:
        return None
    lead = " ".join(units[0]) if units else ""
    return 1.0 if any(contains(lead, k) for k in keywords) else 0.0


def unfinished_lead_ins(units: Sequence[Sequence[str]]) -> int:
    """Units that end on a lead-in (":", "include", "such as", "the following") with its list missing."""
    from peerqa.app.answer.units import is_unfinished_lead_in

    return sum(1 for u in units if u and is_unfinished_lead_in(u[-1]))


def unbalanced_quotes(units: Sequence[Sequence[str]]) -> int:
    """Units whose quotation marks do not pair up (a quotation cut open)."""
    from peerqa.app.answer.units import quotes_balanced

    return sum(1 for u in units if not quotes_balanced(" ".join(u)))


def dangling_anaphora(units: Sequence[Sequence[str]]) -> int:
    """1 when the answer opens with an anaphor ("They ...", "These ...") that nothing before resolves."""
    from peerqa.app.answer.units import opens_with_anaphor

    return int(bool(units and units[0] and opens_with_anaphor(units[0][0])))


def repeated_units(units: Sequence[Sequence[str]], earlier: Sequence[str]) -> int:
    """Units of a follow-up's answer whose sentences an earlier answer of the conversation showed."""
    seen = [normalise(t) for t in earlier]
    return sum(1 for u in units if u and any(normalise(s) in text for s in u for text in seen))
