"""Sentence-level verification of a generated answer against the passages it cites.

A reply is split into sentences with their [n] markers (`parse_reply`). Then, for each sentence:

1. citations to passages that were not given to the model are removed (`Verdict.invented`);
2. the sentence is compared with the union of its cited passages:
   - lexical: the IDF-weighted share of the sentence's content words (stemmed with the index's
     BM25 tokenizer) that occur in the cited passages. Weighting matters because this corpus is
     all about "peer support workers in mental health services": unweighted, any on-topic
     invention shares half its words with any passage;
   - dense: the best cosine of the sentence and a sentence of a cited passage (the index's stored
     sentence vectors, the same model as retrieval);
3. it is supported when lexical >= 0.5 AND (dense >= 0.5 OR lexical >= 0.8) (`Thresholds`).
   Calibrated with the bundled MiniLM on restatements and on-topic inventions from the review:
   faithful restatements scored lexical 0.54-1.0 and dense 0.69-0.93, except condensations of a
   very long source sentence (dense 0.45, lexical ~1.0: hence the lexical-only path); inventions
   scored lexical 0.24-0.39, and a claim with a changed number and place lexical ~0.5 but dense
   0.23 (hence the dense floor). Negations ("... has no benefits") reuse the passage's words and
   can pass; the cited passage is always shown to the reader for that reason.
   On the review's real index (forensic passages): 9 of 9 faithful restatements were supported,
   9 of 10 inventions or miscitations were flagged (the negation passed); see
   tests/test_integration_llm.py::test_thresholds_on_the_review_with_the_real_model.

A supported sentence keeps only the cited passages that each carry part of it; an unsupported one
keeps what it cited, so the reader sees what it claimed. `build_answer` renumbers the kept
citations 1..m in order of use and marks unsupported sentences with UNSUPPORTED_MARK.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from peerqa.app.answer.parts import EngineParts
from peerqa.index.bm25 import tokenize
from peerqa.ingest.sentences import split_sentences
from peerqa.records import Answer, AnswerSentence, Citation, Passage, Reference

UNSUPPORTED_MARK = "[unsupported]"
# "[3]", "[1, 2]", "[1-3]", "[1][4]", "[passage 2]"; anything else in brackets is left as text.
_CITE = re.compile(r"\[\s*(?:passages?\s*)?(\d+(?:\s*(?:,|;|-|–|and)\s*\d+)*)\s*\]", re.I)
_LEADING_CITES = re.compile(rf"^(?:\s*{_CITE.pattern})+", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_MAX_RANGE = 20  # "[1-1000000]" must not expand into a million citations
# Words that frame a claim rather than carry it ("the review reports that ..."), stemmed like the index.
_META = frozenset(
    tokenize(
        "according passage passages source sources review reviews report reports reported state states "
        "stated note notes noted suggest suggests suggested describe describes described find finds found "
        "mention mentions mentioned show shows showed indicate indicates indicated"
    )
)


@dataclass(frozen=True)
class Thresholds:
    lexical: float = 0.5  # IDF-weighted share of the sentence's content words in its cited passages
    dense: float = 0.5  # best cosine of the sentence and a sentence of a cited passage
    lexical_alone: float = 0.8  # nearly every content word in the passage: supported whatever the cosine
    citation_lexical: float = 0.25  # a cited passage must carry this share itself to stay cited


@dataclass
class Draft:
    """A sentence as the model wrote it: text without markers, cited numbers as written."""

    text: str
    cited: list[int] = field(default_factory=list)


@dataclass
class Verdict:
    text: str
    cited: list[int]  # prompt numbers kept (1-based positions in the passages given to the model)
    invented: list[int]  # numbers removed: no such passage
    supported: bool
    checkable: bool  # False when the sentence has no content words (nothing to check)
    lexical: float = 0.0
    dense: float = 0.0
    quotes: dict[int, str] = field(default_factory=dict)  # prompt number -> closest passage sentence


class Evidence(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...

    def passage_sentences(self, passage: Passage) -> tuple[list[str], np.ndarray]: ...

    def idf(self, term: str) -> float: ...


# -- parsing ------------------------------------------------------------------------------------
def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*(?:,|;|and)\s*", group):
        bounds = re.split(r"\s*[-–]\s*", part.strip())
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            lo, hi = int(bounds[0]), int(bounds[1])
            out.extend(range(lo, hi + 1) if 0 <= hi - lo <= _MAX_RANGE else [lo, hi])
        elif part.strip().isdigit():
            out.append(int(part))
    return out


def _cited(text: str) -> list[int]:
    return [n for m in _CITE.finditer(text) for n in _numbers(m.group(1))]


def _clean(text: str) -> str:
    text = _CITE.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return _BULLET.sub("", text).strip()


def parse_reply(reply: str) -> list[Draft]:
    """Sentences with their citations. Markers at the start of a sentence belong to the one before
    ("... prison. [1] Smith ..."), because the model is told to cite after each sentence."""
    # Split "prison.[1] Next" like "prison. [1] Next": the sentence splitter needs the space.
    text = re.sub(r"([.!?])(\[\s*(?:passages?\s*)?\d)", r"\1 \2", reply.replace("\r", ""), flags=re.I)
    drafts: list[Draft] = []
    for start, end in split_sentences(text):
        piece = text[start:end]
        lead = _LEADING_CITES.match(piece)
        if lead and drafts:
            drafts[-1].cited.extend(_cited(lead.group(0)))
            piece = piece[lead.end() :]
        cleaned = _clean(piece)
        if not re.search(r"\w", cleaned):
            if drafts:  # a marker-only fragment
                drafts[-1].cited.extend(_cited(piece))
            continue
        drafts.append(Draft(cleaned, _cited(piece)))
    for d in drafts:
        d.cited = list(dict.fromkeys(d.cited))
    return drafts


# -- evidence from the engine ---------------------------------------------------------------------
class EngineEvidence:
    """Sentence vectors, embeddings and term rarity from a loaded engine."""

    def __init__(self, engine: EngineParts) -> None:
        self.engine = engine
        # Document frequencies from the store's corpus statistics (counted once per loaded folder
        # index, indexed lookups in the PostgreSQL store: index/corpus_stats.py).
        self._stats = engine.index.corpus.stats
        self._n = self._stats.n_chunks
        self._sentences: dict[str, tuple[list[str], np.ndarray]] = {}

    def idf(self, term: str) -> float:
        # A word the corpus never uses gets the highest weight: it is the likeliest invention.
        return math.log(1.0 + (self._n + 1) / (self._stats.df(term) + 1))

    def embed(self, texts: list[str]) -> np.ndarray:
        with self.engine.lock:  # the engine's model is shared; torch inference is not re-entrant
            return np.asarray(self.engine.embedder.embed(texts), dtype="float32")

    def passage_sentences(self, passage: Passage) -> tuple[list[str], np.ndarray]:
        chunk = passage.chunk
        if chunk.id in self._sentences:
            return self._sentences[chunk.id]
        # The stored sentences of the chunk's row (in memory, or fetched by row from the database).
        row = self.engine.row_of.get(chunk.id)
        stored = self.engine.index.corpus.sentences([row]).get(row, []) if row is not None else []
        if stored:
            texts = [chunk.text[s:e] for s, e, _v in stored]
            vectors = np.asarray([v for _s, _e, v in stored], dtype="float32")
        else:  # an index without stored sentences (older format): embed them now
            texts = [chunk.text[s:e] for s, e in split_sentences(chunk.text)] or [chunk.text]
            vectors = self.embed(texts)
        self._sentences[chunk.id] = (texts, vectors)
        return texts, vectors


# -- verification ---------------------------------------------------------------------------------
def _share(terms: set[str], passage_terms: set[str], evidence: Evidence) -> float:
    total = sum(evidence.idf(t) for t in terms)
    return sum(evidence.idf(t) for t in terms & passage_terms) / total if total else 0.0


def verify(drafts: list[Draft], passages: list[Passage], evidence: Evidence,
           thresholds: Thresholds | None = None) -> list[Verdict]:
    """Check every sentence against the passages it cites; `passages` are those given to the
    model, in prompt order, so [n] is passages[n - 1]."""
    t = thresholds or Thresholds()
    vectors = evidence.embed([d.text for d in drafts]) if drafts else np.zeros((0, 0), dtype="float32")
    passage_terms = [set(tokenize(p.chunk.section + " " + p.chunk.text)) for p in passages]
    verdicts: list[Verdict] = []
    for draft, vec in zip(drafts, vectors, strict=True):
        valid = [n for n in draft.cited if 1 <= n <= len(passages)]
        invented = [n for n in draft.cited if not 1 <= n <= len(passages)]
        terms = set(tokenize(draft.text)) - _META
        if not terms:  # "Yes." carries no claim to check
            verdicts.append(Verdict(draft.text, valid, invented, supported=True, checkable=False))
            continue
        quotes: dict[int, str] = {}
        dense = 0.0
        for n in valid:
            texts, svecs = evidence.passage_sentences(passages[n - 1])
            if not texts:
                continue
            sims = svecs @ vec
            best = int(np.argmax(sims))
            quotes[n] = texts[best].strip()
            dense = max(dense, float(sims[best]))
        union = set().union(*(passage_terms[n - 1] for n in valid)) if valid else set()
        lexical = _share(terms, union, evidence)
        supported = bool(valid) and lexical >= t.lexical and (dense >= t.dense or lexical >= t.lexical_alone)
        kept = valid
        if supported and len(valid) > 1:
            shares = {n: _share(terms, passage_terms[n - 1], evidence) for n in valid}
            kept = [n for n in valid if shares[n] >= t.citation_lexical] or [max(valid, key=shares.__getitem__)]
        verdicts.append(Verdict(draft.text, kept, invented, supported, True, round(lexical, 3), round(dense, 3),
                                {n: q for n, q in quotes.items() if n in kept}))
    return verdicts


# -- the answer -------------------------------------------------------------------------------------
def build_answer(question: str, passages: list[Passage], verdicts: list[Verdict],
                 references: Mapping[str, Reference], retrieved: list[Passage]) -> Answer:
    """The verified answer: citations renumbered 1..m in order of use, unsupported sentences marked."""
    numbers: dict[int, int] = {}  # prompt number -> answer number
    quotes: dict[int, list[str]] = {}
    sentences: list[AnswerSentence] = []
    parts: list[str] = []
    for v in verdicts:
        cited = [numbers.setdefault(n, len(numbers) + 1) for n in v.cited]
        for n in v.cited:
            quote = v.quotes.get(n)
            if quote and quote not in quotes.setdefault(n, []):
                quotes[n].append(quote)
        sentences.append(AnswerSentence(text=v.text, citations=cited, supported=v.supported))
        marks = "".join(f"[{c}]" for c in cited)
        parts.append(" ".join(x for x in (v.text, marks, "" if v.supported else UNSUPPORTED_MARK) if x))
    citations = []
    for prompt_n, n in numbers.items():
        p = passages[prompt_n - 1]
        studies = [references[r] for r in p.chunk.cites if r in references]
        citations.append(Citation(n=n, passage=p, quote=" … ".join(quotes.get(prompt_n, [])), studies=studies))
    return Answer(question=question, answer=" ".join(parts), mode="llm", sentences=sentences,
                  citations=citations, retrieved=retrieved)
