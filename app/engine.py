"""The answer engine: question → hybrid retrieval → diverse passages → cited extractive answer,
or an honest abstention, or a signpost for personal crisis requests.

    engine = Engine.from_settings(Settings())           # loads the model and index once
    answer = engine.ask("What training do PSWs need?")  # an Answer record
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from app.answerability import Answerability, wordpiece_ranks
from app.compose import select_sentences, term_overlap
from app.query import QuestionError, Turn, clean_question, content_words, is_crisis, prepare
from app.rerank import CrossEncoderReranker, Reranker
from index.bm25 import tokenize
from index.embedder import Embedder
from index.late_interaction import TokenEmbedding
from index.search import HybridSearcher
from index.store import LoadedIndex
from ingest.references import cited_in
from peerqa.records import SECTION_SEP, Answer, AnswerSentence, Chunk, Citation, Passage
from peerqa.settings import Settings
from prompts import messages

__all__ = ["Engine", "Filters", "QuestionError", "Turn"]


@dataclass
class Filters:
    section: str = ""  # a section path prefix, e.g. "Findings › Specific Services"
    source: str = ""  # a source id (or its prefix) or file name
    kind: str = ""  # review | included_study | other

    def active(self) -> bool:
        return bool(self.section or self.source or self.kind)


@dataclass
class Engine:
    settings: Settings
    index: LoadedIndex
    embedder: Embedder
    _sentences_by_row: dict[int, list[int]] = field(default_factory=dict)
    _row_of: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    answerability: Answerability | None = None
    reranker: Reranker | None = None

    def __post_init__(self) -> None:
        self._row_of = {c.id: i for i, c in enumerate(self.index.chunks)}
        by_row: dict[int, list[int]] = defaultdict(list)
        for i, (row, _s, _e) in enumerate(self.index.sentence_spans):
            by_row[row].append(i)
        self._sentences_by_row = dict(by_row)
        if self.answerability is None:
            self.answerability = Answerability(self.index, self._vocabulary_ranks(), self.settings.answer.rare_word_rank)
        r = self.settings.retrieval
        if self.reranker is None and r.reranker:
            self.reranker = CrossEncoderReranker(r.reranker)
        self.searcher = HybridSearcher(
            self.index, self.embedder, pool=r.pool, rrf_k=r.rrf_k, hybrid=r.hybrid, fusion=r.fusion,
            late_interaction=r.late_interaction,
        )

    def _vocabulary_ranks(self) -> dict[str, int]:
        from index.embedder import ModelError, model_dir

        try:
            return wordpiece_ranks(model_dir(self.settings.model))
        except (ModelError, OSError, ValueError):
            return {}  # no vocabulary: every word absent from the sources counts as rare

    @classmethod
    def from_settings(cls, settings: Settings) -> Engine:
        from app.runtime import get_embedder, open_index

        return cls(settings, open_index(settings), get_embedder(settings))

    # -- filters -------------------------------------------------------------------------
    def _keep(self, filters: Filters | None):  # type: ignore[no-untyped-def]
        if filters is None or not filters.active():
            return None
        sources = self.index.sources

        def keep(chunk: Chunk) -> bool:
            if filters.section and not (chunk.section + SECTION_SEP).startswith(filters.section.rstrip() + SECTION_SEP) \
                    and chunk.section != filters.section:
                return False
            if filters.source and not (chunk.source_id.startswith(filters.source) or chunk.source_path == filters.source):
                return False
            if filters.kind:
                src = sources.get(chunk.source_id)
                if src is None or src.kind.value != filters.kind:
                    return False
            return True

        return keep

    # -- retrieval -------------------------------------------------------------------------
    def retrieve(self, query: str, dense_query: str, k: int, filters: Filters | None = None,
                 query_vec: np.ndarray | None = None, query_tokens: TokenEmbedding | None = None) -> list[Passage]:
        """Fused candidates, then at most `per_section_cap` passages per section (diversity)."""
        candidates = self.searcher.search(
            query, k=max(k * 3, 30), keep=self._keep(filters), dense_query=dense_query, query_vec=query_vec,
            query_tokens=query_tokens,
        )
        if self.reranker is not None and candidates:
            # Re-rank the fused pool with the cross-encoder; ties keep the fused order.
            scores = self.reranker.scores(dense_query, [p.chunk.text for p in candidates])
            order = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))
            candidates = [candidates[i] for i in order]
        cap = self.settings.retrieval.per_section_cap
        picked: list[Passage] = []
        spill: list[Passage] = []
        per_section: dict[str, int] = defaultdict(int)
        for p in candidates:
            key = p.chunk.section
            if per_section[key] < cap:
                per_section[key] += 1
                picked.append(p)
            else:
                spill.append(p)
            if len(picked) >= k:
                break
        picked.extend(spill[: k - len(picked)])
        for i, p in enumerate(picked):
            p.rank = i + 1
        return picked

    # -- answering -------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        history: list[Turn] | None = None,
        filters: Filters | None = None,
        k: int | None = None,
        mode: str = "extractive",
        on_chunk: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer one question. `mode="llm"` asks the configured LLM (app/llm.py) to write the
        answer from the same passages; without one, or when it fails, the extractive answer stands."""
        t0 = time.perf_counter()
        text = clean_question(question, self.settings.answer.max_question_chars)
        meta = {"index_version": self.index.version, "settings_hash": self.index.manifest.get("settings_hash", "")}
        if is_crisis(text):
            msg = messages()["signpost"]
            return Answer(question=text, answer=msg, abstained=True, notice="signpost",
                          sentences=[AnswerSentence(text=msg, citations=[], supported=True)],
                          timings={"retrieve_ms": 0.0, "compose_ms": 0.0, "total_ms": _ms(t0)}, **meta)
        r = self.settings.retrieval
        prepared = prepare(text, history or [], self.index.glossary, r.expand_queries, r.rewrite_followups)
        k = k or r.k
        with self._lock:  # the model is shared; torch inference is not re-entrant on all builds
            vectors, tokens = self.embedder.embed_with_tokens([prepared.standalone])
        query_vec = vectors[0]
        passages = self.retrieve(prepared.expanded, prepared.standalone, k, filters, query_vec=query_vec,
                                 query_tokens=tokens[0])
        t1 = time.perf_counter()
        answer = self._compose(text, prepared.expanded, prepared.standalone, query_vec, passages)
        answer.retrieved = passages
        if mode == "llm" and not answer.abstained:
            answer = self._llm_answer(text, prepared.standalone, passages, answer, on_chunk)
        answer.timings = {"retrieve_ms": round((t1 - t0) * 1000, 1), "compose_ms": _ms(t1), "total_ms": _ms(t0)}
        answer.index_version, answer.settings_hash = meta["index_version"], meta["settings_hash"]
        return answer

    def _llm_answer(self, question: str, standalone: str, passages: list[Passage], extractive: Answer,
                    on_chunk: Callable[[str], None] | None = None) -> Answer:
        if self.settings.llm.provider == "none":
            extractive.notice = "No LLM is configured (PEERQA_LLM_PROVIDER); this is the extractive answer."
            return extractive
        from app.llm import llm_answer  # optional: imports LangChain chat models only when used

        return llm_answer(self, question, standalone, passages, extractive, on_chunk=on_chunk)

    def evidence_strength(self, query_terms: set[str], query_vec: np.ndarray, passages: list[Passage]) -> tuple[float, float]:
        """(best sentence similarity, share of the question's terms in the top 3 passages)."""
        best = max((p.dense_score or 0.0 for p in passages[:5]), default=0.0)
        for p in passages[:5]:
            row = self._row_of.get(p.chunk.id)
            for i in self._sentences_by_row.get(row, []) if row is not None else []:
                best = max(best, float(self.index.sentence_vectors[i] @ query_vec))
        top_text = " ".join(p.chunk.text + " " + p.chunk.section for p in passages[:3])
        coverage = term_overlap(query_terms, top_text)
        return best, coverage

    def _compose(self, question: str, expanded: str, standalone: str, query_vec: np.ndarray,
                 passages: list[Passage]) -> Answer:
        a = self.settings.answer
        terms = set(tokenize(" ".join(content_words(standalone))))
        best, _coverage = self.evidence_strength(terms, query_vec, passages)
        missing = self.answerability.missing_terms(question) if self.answerability else []
        if not passages or best < a.abstain_min_similarity or (missing and best < a.abstain_missing_similarity):
            return self._abstain(question, passages, missing)
        sentences: list[tuple[int, int, int, np.ndarray | None]] = []
        for rank, p in enumerate(passages[: a.compose_passages]):
            row = self._row_of.get(p.chunk.id)
            for i in self._sentences_by_row.get(row, []) if row is not None else []:
                _row, start, end = self.index.sentence_spans[i]
                sentences.append((rank, start, end, self.index.sentence_vectors[i]))
        # A rewritten follow-up is judged on its own words first: the earlier turn's words
        # only count where the follow-up has none of its own.
        own = set(tokenize(" ".join(content_words(question))))
        expanded_terms = own | {t for t in tokenize(" ".join(self._expansions_of(question)))} if own else set(tokenize(expanded))
        chosen = select_sentences(passages, sentences, query_vec, expanded_terms, a.min_sentences, a.max_sentences)
        if not chosen:
            return self._abstain(question, passages, missing)
        numbers: dict[int, int] = {}
        quotes: dict[int, list[str]] = defaultdict(list)
        out_sentences: list[AnswerSentence] = []
        for s in chosen:
            n = numbers.setdefault(s.passage_rank, len(numbers) + 1)
            quotes[n].append(s.text)
            out_sentences.append(AnswerSentence(text=s.text, citations=[n], supported=True))
        citations = []
        for rank, n in sorted(numbers.items(), key=lambda x: x[1]):
            p = passages[rank]
            studies = cited_in(quotes[n], p.chunk.cites, self.index.references)  # the quoted sentences' own
            citations.append(Citation(n=n, passage=p, quote=" … ".join(quotes[n]), studies=studies))
        text = " ".join(f"{s.text} [{s.citations[0]}]" for s in out_sentences)
        return Answer(question=question, answer=text, sentences=out_sentences, citations=citations)

    def _expansions_of(self, question: str) -> list[str]:
        from app.query import expand

        return expand(question, self.index.glossary) if self.settings.retrieval.expand_queries else []

    def _abstain(self, question: str, passages: list[Passage], missing: list[str]) -> Answer:
        topic = question.rstrip("?.! ")
        topic = topic[0].lower() + topic[1:] if topic else "this question"
        suggestions = list(dict.fromkeys(p.chunk.section for p in passages if p.chunk.section))[:3]
        msg = messages()["abstain"].format(topic=f'"{topic}"')
        notice = "The sources never mention: " + ", ".join(missing) if missing else ""
        return Answer(question=question, answer=msg, abstained=True, suggestions=suggestions, notice=notice)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
