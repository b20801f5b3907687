"""The answer engine: question → hybrid retrieval → diverse passages → cited extractive answer,
an honest partial answer (the topic is covered, the detail asked for is not), an abstention,
or a signpost for personal crisis requests.

    engine = Engine.from_settings(Settings())           # loads the model and index once
    answer = engine.ask("What training do PSWs need?")  # an Answer record
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peerqa.app.answer.analysis import QuestionAnalysis, analyse
from peerqa.app.answer.answerability import Answerability, Thresholds, decide, wordpiece_ranks
from peerqa.app.answer.aspects import answer_aspects, aspects, cover_question
from peerqa.app.answer.compose import (
    MIN_DENSE,
    ScoredUnit,
    add_support,
    choose_units,
    lead_units,
    normalised,
    score_units,
    term_overlap,
    with_detail,
)
from peerqa.app.answer.details import closest_detail
from peerqa.app.answer.query import (
    PreparedQuery,
    QuestionError,
    Turn,
    clean_question,
    content_words,
    could_follow_up,
    expand,
    is_crisis,
    prepare,
)
from peerqa.app.answer.question_check import language_note
from peerqa.app.answer.replies import Filters, abstain, cited_answer, filter_notice, sentences_of
from peerqa.app.answer.rerank import CrossEncoderReranker, Reranker, rerank_top
from peerqa.app.answer.sentences import DocSentence, SentenceTable
from peerqa.app.answer.token_match import TokenSpans
from peerqa.app.answer.type_prior import prefer_answer_type
from peerqa.app.answer.unit_rank import reorder
from peerqa.app.answer.units import with_antecedent
from peerqa.index.bm25 import tokenize
from peerqa.index.corpus import MemoryCorpus, RowLookup
from peerqa.index.embedder import Embedder
from peerqa.index.late_interaction import TokenEmbedding
from peerqa.index.search import HybridSearcher
from peerqa.index.store import LoadedIndex
from peerqa.prompts import messages
from peerqa.records import SECTION_SEP, Answer, AnswerSentence, Chunk, Passage
from peerqa.settings import Settings

__all__ = ["Engine", "Filters", "QuestionError", "Turn"]


@dataclass
class Evidence:
    """What one retrieval found, and the answerability signals read off it."""

    passages: list[Passage]
    signals: dict[str, float]
    coverage: str
    missing: list[str] = field(default_factory=list)
    table: SentenceTable | None = None  # the sentence table the signals were read off
    detail: DocSentence | None = None  # the sentence that holds the detail asked for (a figure, a date)


@dataclass
class Engine:
    settings: Settings
    index: LoadedIndex
    embedder: Embedder
    sentences_by_row: dict[int, list[int]] = field(default_factory=dict)
    row_of: Any = field(default_factory=dict)  # chunk id -> row: a dict, or the store's lookup (.get)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answerability: Answerability | None = None
    reranker: Reranker | None = None

    def __post_init__(self) -> None:
        corpus = self.index.corpus  # in memory (folder store) or fetched by row (index/corpus.py)
        if isinstance(corpus, MemoryCorpus):
            self.row_of, self.sentences_by_row = corpus.row_map(), corpus.sentence_rows
        else:
            self.row_of = RowLookup(corpus)
        # The whole-corpus sentence table when every row is in memory; else one per question.
        self.table: SentenceTable | None = SentenceTable.build(self.index) if corpus.in_memory else None
        if self.answerability is None:
            self.answerability = Answerability(self.index, self._vocabulary_ranks(), self.settings.answer.rare_word_rank)
        r = self.settings.retrieval
        if self.reranker is None and r.reranker:
            self.reranker = CrossEncoderReranker(r.reranker)
        self.searcher = HybridSearcher(
            self.index, self.embedder, pool=r.pool, rrf_k=r.rrf_k, hybrid=r.hybrid, fusion=r.fusion,
            late_interaction=r.late_interaction, section_weights=(r.section_heading_weight, r.section_best_weight),
        )
        self.thresholds = Thresholds.from_settings(self.settings.answer)
        self.token_spans = self._token_spans()
        n = max(1, self.index.corpus.n_chunks)
        df = self.answerability.df
        self._idf = lambda t: math.log(1.0 + (n + 1) / (df.get(t, 0) + 1))

    def _token_spans(self) -> TokenSpans | None:
        from peerqa.index.embedder import ModelError, model_dir

        if self.index.token_vectors is None:
            return None
        try:
            return TokenSpans(self.index.corpus.chunk, self.index.token_vectors,
                              model_dir(self.settings.model) / "tokenizer.json")
        except (ModelError, OSError, ValueError, RuntimeError):
            return None  # no tokenizer: units are scored without sentence-level late interaction

    def _vocabulary_ranks(self) -> dict[str, int]:
        from peerqa.index.embedder import ModelError, model_dir

        try:
            return wordpiece_ranks(model_dir(self.settings.model))
        except (ModelError, OSError, ValueError):
            return {}  # no vocabulary: every word absent from the sources counts as rare

    @classmethod
    def from_settings(cls, settings: Settings) -> Engine:
        from peerqa.app.runtime import get_embedder, open_index

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

        keep.filters = filters  # type: ignore[attr-defined]  # a database store applies them in SQL
        return keep

    # -- retrieval -------------------------------------------------------------------------
    def retrieve(self, query: str, dense_query: str, k: int, filters: Filters | None = None,
                 query_vec: np.ndarray | None = None, query_tokens: TokenEmbedding | None = None,
                 analysis: QuestionAnalysis | None = None) -> list[Passage]:
        """Fused candidates (those holding the asked-for list or definition lifted: type_prior.py),
        then at most `per_section_cap` passages per section (diversity)."""
        candidates = self.searcher.search(query, k=max(k * 3, 30), keep=self._keep(filters), dense_query=dense_query,
                                          query_vec=query_vec, query_tokens=query_tokens)
        r = self.settings.retrieval
        candidates = prefer_answer_type(candidates, analysis, r.answer_type_weight)
        if self.reranker is not None and candidates:  # interpolated into the top of the fused order
            candidates = rerank_top(self.reranker, dense_query, candidates, r.reranker_weight, r.reranker_depth)
        cap = r.per_section_cap
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
        if r.aspect_coverage:  # synthesis: every aspect in the top 5 (aspects.py)
            picked = cover_question(dense_query, picked, candidates, self)
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
        """Answer one question. `mode="llm"` asks the configured LLM (app/answer/llm.py) to write the
        answer from the same passages; without one, or when it fails, the extractive answer stands."""
        t0 = time.perf_counter()
        text = clean_question(question, self.settings.answer.max_question_chars)
        meta = {"index_version": self.index.version, "settings_hash": self.index.manifest.get("settings_hash", "")}
        if is_crisis(text):
            msg = messages()["signpost"]
            return Answer(question=text, answer=msg, abstained=True, notice="signpost", coverage="none",
                          sentences=[AnswerSentence(text=msg, citations=[], supported=True)],
                          timings={"retrieve_ms": 0.0, "compose_ms": 0.0, "total_ms": _ms(t0)}, **meta)
        history = history or []
        prepared, query_vec, query_tokens = self._query(text, history)
        k = k or self.settings.retrieval.k
        analysis = analyse(text)

        def evidence_for(f: Filters | None) -> Evidence:
            passages = self.retrieve(prepared.expanded, prepared.standalone, k, f, query_vec=query_vec,
                                     query_tokens=query_tokens, analysis=analysis)
            return self._evidence(text, prepared.standalone, analysis, query_vec, passages)

        found = evidence_for(filters)
        weak = found.coverage == "none" or found.signals["best"] < MIN_DENSE  # nothing it could quote
        names_absent = found.signals.get("missing_name", 0.0) > 0 or found.signals.get("missing_rare", 0.0) > 0
        if weak and history and not prepared.rewritten and could_follow_up(text) and not names_absent:
            # "Did the gains last?" leans on the last turn; "What is the capital of Mongolia?" does not
            prepared, query_vec, query_tokens = self._query(text, history, force=True)
            found = evidence_for(filters) if prepared.rewritten else found
        t1 = time.perf_counter()
        wider = None
        if filters is not None and filters.active():
            everywhere = evidence_for(None)
            gap = everywhere.signals["best"] - found.signals["best"]
            if everywhere.coverage != "none" and (found.coverage != "full" or gap > self.settings.answer.filter_margin):
                wider = everywhere
        if wider is not None and filters is not None:
            answer = filter_notice(text, filters, found.coverage, wider.passages)
        elif found.coverage == "none":
            answer = abstain(text, found.passages, found.missing)
        else:
            answer = self._compose(text, prepared.expanded, query_vec, query_tokens, analysis, found, history)
        answer.signals = found.signals
        answer.retrieved = found.passages
        if mode == "llm" and not answer.abstained:
            answer = self._llm_answer(text, prepared.standalone, found.passages, answer, on_chunk)
        answer.notice = " ".join(x for x in (answer.notice, language_note(text)) if x)  # sources are English
        answer.timings = {"retrieve_ms": round((t1 - t0) * 1000, 1), "compose_ms": _ms(t1), "total_ms": _ms(t0)}
        answer.index_version, answer.settings_hash = meta["index_version"], meta["settings_hash"]
        return answer

    def _query(self, text: str, history: list[Turn],
               force: bool = False) -> tuple[PreparedQuery, np.ndarray, TokenEmbedding]:
        """The engine's query handling: follow-up rewriting, expansion, one embedding."""
        r = self.settings.retrieval
        prepared = prepare(text, history, self._glossary_for(text), r.expand_queries, r.rewrite_followups, force)
        with self.lock:  # the model is shared; torch inference is not re-entrant on all builds
            vectors, tokens = self.embedder.embed_with_tokens([prepared.standalone])
        return prepared, vectors[0], tokens[0]

    def passages(self, question: str, history: list[Turn] | None = None, filters: Filters | None = None,
                 k: int | None = None) -> list[Passage]:
        """The passages `ask` retrieves for this question (the LangChain retriever's path), in the
        order the answer reports them (its top 5 re-ordered by their units: app/answer/unit_rank.py)."""
        return self.ask(question, history=history, filters=filters, k=k).retrieved

    def _glossary_for(self, question: str) -> dict[str, str]:
        glossary = self.index.glossary
        return self.answerability.glossary_for(glossary, question) if self.answerability else glossary

    def _llm_answer(self, question: str, standalone: str, passages: list[Passage], extractive: Answer,
                    on_chunk: Callable[[str], None] | None = None) -> Answer:
        if self.settings.llm.provider == "none":
            extractive.notice = "No LLM is configured (PEERQA_LLM_PROVIDER); this is the extractive answer."
            return extractive
        from peerqa.app.answer.llm import llm_answer  # optional: imports LangChain chat models only when used

        return llm_answer(self, question, standalone, passages, extractive, on_chunk=on_chunk)

    # -- answerability -------------------------------------------------------------------------
    def _table_for(self, passages: list[Passage]) -> SentenceTable:
        """The sentence table: the whole corpus's, or (a store that fetches by row) one over the top
        passages' rows and their neighbours, so that units can run on into the next chunk."""
        if self.table is not None:
            return self.table
        rows = [r for p in passages[: self.settings.answer.compose_passages]
                if (r := self.row_of.get(p.chunk.id)) is not None]
        n = self.index.corpus.n_chunks
        near = {x for r in rows for x in (r - 1, r, r + 1) if 0 <= x < n}
        return SentenceTable.for_rows(self.index.corpus, sorted(near))

    def _candidates(self, passages: list[Passage], table: SentenceTable) -> list[tuple[DocSentence, int]]:
        """The sentences of the top passages with their passage's rank (0-based), each once."""
        out: list[tuple[DocSentence, int]] = []
        seen: set[int] = set()
        for rank, p in enumerate(passages[: self.settings.answer.compose_passages]):
            row = self.row_of.get(p.chunk.id)
            for i in table.by_row.get(row, []) if row is not None else []:
                if i not in seen:
                    seen.add(i)
                    out.append((table.sentences[i], rank))
        return out

    def _evidence(self, question: str, standalone: str, analysis: QuestionAnalysis, query_vec: np.ndarray,
                  passages: list[Passage]) -> Evidence:
        best = max((p.dense_score or 0.0 for p in passages[:5]), default=0.0)
        focus_stems = self._specific(set(tokenize(" ".join(analysis.focus_words)))) \
            or self._specific(set(tokenize(" ".join(content_words(standalone)))))
        table = self._table_for(passages)
        sims = [(sent, table.similarity(sent, query_vec)) for sent, _rank in self._candidates(passages, table)]
        scored = [(sent, sim) for sent, sim in sims if sim is not None]
        best = max([best] + [sim for _s, sim in scored])
        detail, detail_best = closest_detail(analysis, scored, focus_stems, best,
                                             lambda s: with_antecedent(table, s)) if analysis.asks_detail else (None, 0.0)
        checker = self.answerability
        missing = checker.missing_terms(question) if checker else []
        names = checker.missing_names(question) if checker else []
        signals = {
            "best": round(best, 4),
            "missing_rare": float(bool(missing)),
            "missing_name": float(bool(names)),
            "detail_asked": float(analysis.asks_detail),
            "detail_best": round(detail_best, 4),
            "detail_now": float(analysis.asks_present_detail),
            "focus_coverage": round(term_overlap(focus_stems, " ".join(p.chunk.text for p in passages[:3])), 4),
        }
        coverage = decide(signals, self.thresholds) if passages else "none"
        held = detail is not None and detail_best >= self.thresholds.detail_similarity
        return Evidence(passages, signals, coverage, list(dict.fromkeys(names + missing)), table,
                        detail if held and coverage != "none" else None)

    def _specific(self, stems: set[str]) -> set[str]:
        """Stems that say what a question is about: not the ones most passages share ("peer",
        "support", "worker" in this corpus), which sit beside every figure."""
        df: Any = self.answerability.df if self.answerability else {}
        limit = 0.2 * max(1, self.index.corpus.n_chunks)
        return {s for s in stems if df.get(s, 0) <= limit}

    # -- composition -------------------------------------------------------------------------
    def _terms(self, question: str, expanded: str) -> set[str]:
        # A rewritten follow-up is judged on its own words first: the earlier turn's words
        # only count where the follow-up has none of its own.
        own = set(tokenize(" ".join(content_words(question))))
        if not own:
            return set(tokenize(expanded))
        extra = expand(question, self.index.glossary) if self.settings.retrieval.expand_queries else []
        return own | set(tokenize(" ".join(extra)))

    def _compose(self, question: str, expanded: str, query_vec: np.ndarray, query_tokens: TokenEmbedding,
                 analysis: QuestionAnalysis, found: Evidence, history: list[Turn]) -> Answer:
        a = self.settings.answer
        shown = {normalised(s) for turn in history for s in sentences_of(turn.answer)}
        spans = self.token_spans

        def token_score(sentences: list[DocSentence]) -> float | None:
            return spans.sentences_score(query_tokens, sentences) if spans is not None else None

        table = found.table or self._table_for(found.passages)
        anchors = self._candidates(found.passages, table)
        scored = score_units(table, anchors, query_vec, analysis, self._terms(question, expanded), shown, self._idf,
                             token_score, a.statement_items)
        # What the passages can answer reorders them; not in a follow-up, whose shown units are left
        # out of `scored`, so the passage the conversation is about would look empty and sink.
        if self.settings.retrieval.unit_rank_weight > 0 and not history:
            found.passages, scored = reorder(found.passages, scored, self.settings.retrieval.unit_rank_weight,
                                             a.compose_passages)
            anchors = self._candidates(found.passages, table)
        if found.coverage == "partial":
            units = choose_units(scored, max_support=min(2, a.max_support), word_budget=a.word_budget)
            if found.detail is not None and units:  # "how many ... today?": the figure the sources give, first
                units = with_detail(scored, units, found.detail.idx, first=True)
            if not units:
                return abstain(question, found.passages, found.missing)
            msgs = messages()
            focus = analysis.subject or "this topic"
            lead = msgs["partial_lead"].format(detail=analysis.detail_phrase, focus=focus)
            answer = self._cite(question, units, found.passages, lead=lead)
            answer.abstained, answer.coverage = True, "partial"
            answer.notice = msgs["partial_notice"].format(detail=analysis.detail_phrase)
            return answer
        chosen = lead_units(scored, a.word_budget, table if a.lead_continuation else None, shown)
        parts = aspects(question) if chosen and not history and a.aspect_units else []
        if parts:  # a question of several parts: each part its own best unit (aspects.py)
            with self.lock:
                part_vecs = self.embedder.embed(parts)

            def best_for(i: int, terms: set[str]) -> list[ScoredUnit]:
                return score_units(table, anchors, part_vecs[i], analyse(parts[i]), terms, shown, self._idf,
                                   statement_items=a.statement_items)

            chosen = answer_aspects(parts, chosen, best_for, self._idf)
        if found.detail is not None:  # the figure or date that made the answer "full" is shown
            chosen = with_detail(scored, chosen, found.detail.idx)
        units = add_support(scored, chosen, max_support=a.max_support, word_budget=a.word_budget)
        if not units:
            return abstain(question, found.passages, found.missing)
        return self._cite(question, units, found.passages)

    def _cite(self, question: str, units: list[ScoredUnit], passages: list[Passage], lead: str = "") -> Answer:
        return cited_answer(question, units, passages, self.index.corpus, self.row_of, self.index.references, lead=lead)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
