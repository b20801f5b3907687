"""The curated question set is well-formed and every gold quote is the review's own words."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.unit
TYPES = {"fact", "list", "definition", "synthesis", "unanswerable", "followup"}


def _norm(text: str) -> str:
    text = text.replace("*", "").translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"}))
    return re.sub(r"\s+", " ", text).strip().lower()


def test_every_quote_occurs_in_the_review_and_types_meet_minimums():
    review = _norm((REPO / "tests" / "data" / "peer-support-work-scoping-review-2023.txt").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (REPO / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 100
    assert len({r["id"] for r in rows}) == len(rows)
    counts = Counter(r["type"] for r in rows)
    assert set(counts) <= TYPES
    assert counts["unanswerable"] >= 40 and counts["followup"] >= 8
    for r in rows:
        assert {"id", "question", "answer", "evidence", "section", "type", "keywords"} <= set(r)
        if r["type"] == "unanswerable":
            assert r["evidence"] == []
            continue
        assert 1 <= len(r["evidence"]) <= 3, r["id"]
        for quote in r["evidence"]:
            assert _norm(quote) in review, (r["id"], quote)
        if r["type"] == "followup":
            assert r["context"] and r["context"][0]["question"]
