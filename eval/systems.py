"""The systems an evaluation compares, all over the same index and one shared embedder.

    full                 the engine as configured (linear fusion of chunk cosine, best-sentence cosine,
                         BM25 and late interaction; section headers; expansion; follow-up rewrite)
    no-headers           dense search over chunk.text instead of the header + text the index embeds
    no-late-interaction  no token-level score in the fusion (settings.retrieval.late_interaction = False)
    no-hybrid            no BM25 in the fusion (settings.retrieval.hybrid = False)
    rrf-fusion           reciprocal rank fusion of dense and BM25 ranks (settings.retrieval.fusion = "rrf")
    no-expansion         no abbreviation/synonym expansion (settings.retrieval.expand_queries = False)
    no-followup-rewrite  follow-ups are not folded into the previous question
    no-sections          no section level (heading-path cosine and best-of folded into passage scores)
    sections-heading-only / sections-best-only   one of the two section scores
    synthesis-coverage   plus aspect coverage of several-part questions in the top 5 (off by default)
    no-aspect-units      the answer does not give each part of a several-part question its own unit
    no-lead-continuation the lead unit is not followed by the next sentence of its paragraph
    adapted, reranked    (only when named) the model adapted to the sources; a cross-encoder trained on them
    bm25                 the index's BM25 alone over peerqa chunks (question text only)
    langchain-default    PyPDFLoader → RecursiveCharacterTextSplitter(1000, 200) → in-memory FAISS
                         over the same embedding model (question text only)

The engine variants answer; the two baselines only retrieve.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

from peerqa.app.answer.engine import Engine, QuestionError, Turn
from peerqa.eval.questions import Question
from peerqa.eval.scoring import K_MAX, AnswerView, Outcome
from peerqa.index.embedder import Embedder
from peerqa.index.late_interaction import TokenVectors
from peerqa.index.store import LoadedIndex, sha256_path
from peerqa.index.vectors import build_faiss
from peerqa.records import Answer
from peerqa.settings import Settings

ENGINE_VARIANTS: dict[str, dict[str, Any]] = {
    # name → changes to settings.retrieval; "no-headers" swaps the dense vectors instead
    "full": {},
    "no-headers": {},
    "no-late-interaction": {"late_interaction": False},
    "no-hybrid": {"hybrid": False},
    "rrf-fusion": {"fusion": "rrf"},
    "no-expansion": {"expand_queries": False},
    "no-followup-rewrite": {"rewrite_followups": False},
    "no-sections": {"section_heading_weight": 0.0, "section_best_weight": 0.0},
    "sections-heading-only": {"section_best_weight": 0.0},
    "sections-best-only": {"section_heading_weight": 0.0},
    "synthesis-coverage": {"aspect_coverage": True},
    # "answer." changes settings.answer instead
    "no-aspect-units": {"answer.aspect_units": False},
    "no-lead-continuation": {"answer.lead_continuation": False},
    "no-statement-items": {"answer.statement_items": False},
    "no-unit-rank": {"unit_rank_weight": 0.0},
    "no-type-prior": {"answer_type_weight": 0.0},
}
BASELINES = ("bm25", "langchain-default")
LLM_SYSTEM = "full-llm"  # the full engine in LLM mode; run by default only when an LLM is configured
SYSTEM_NAMES = tuple(ENGINE_VARIANTS) + BASELINES + (LLM_SYSTEM,)
# The full engine on the index in PostgreSQL (--store); the other systems read the folder index, so
# one run compares the two stores. Run only when named.
STORE_SYSTEM = "full-postgres"
ADAPTED_SYSTEM = "adapted"  # the full engine with the model adapted to the sources (eval/adapted.py); only when named
RERANKED_SYSTEM = "reranked"  # the full engine plus the cross-encoder trained on the sources; only when named
ON_REQUEST = (STORE_SYSTEM, ADAPTED_SYSTEM, RERANKED_SYSTEM)
DESCRIPTIONS = {
    "full": "the engine as configured: linear fusion of chunk cosine, best-sentence cosine, BM25 and late "
            "interaction; section headers embedded; query expansion; follow-up rewriting; section diversity; "
            "abstention",
    "no-headers": "as full, but the chunk and token vectors embed chunk.text instead of section header + text "
                  "(sentence vectors and BM25 unchanged)",
    "no-late-interaction": "as full, without the token-level late-interaction score; the fusion falls back to "
                           "its earlier weights (retrieval.late_interaction = false)",
    "no-hybrid": "as full, without BM25 in the fusion: chunk and sentence cosines only (retrieval.hybrid = false)",
    "rrf-fusion": "as full, but reciprocal rank fusion of the dense and BM25 rankings instead of the linear "
                  "score fusion, so no sentence-level scores (retrieval.fusion = rrf)",
    "no-expansion": "as full, without abbreviation/synonym expansion (retrieval.expand_queries = false)",
    "no-followup-rewrite": "as full, but follow-ups are not folded into the previous question "
                           "(retrieval.rewrite_followups = false)",
    "no-sections": "as full, without the section level: no section heading or best-of score folded into the "
                   "passages' scores (retrieval.section_heading_weight = section_best_weight = 0)",
    "sections-heading-only": "as full, with the section heading-path cosine but not the section best-of score",
    "sections-best-only": "as full, with the section best-of score but not the section heading-path cosine",
    "synthesis-coverage": "as full, plus aspect coverage: a question with two or more aspects gets each aspect's "
                          "best passage into the top 5 (retrieval.aspect_coverage = true, app/answer/aspects.py)",
    "no-aspect-units": "as full, but a question of several parts is answered as one: no part gets its own "
                       "best unit after the lead (answer.aspect_units = false, app/answer/aspects.py)",
    "no-lead-continuation": "as full, but the lead unit is not followed by the next sentence of its "
                            "paragraph (answer.lead_continuation = false, app/answer/compose.py)",
    "no-unit-rank": "as full, but the top passages keep the fused order: not re-ordered by their best answer "
                    "unit (retrieval.unit_rank_weight = 0, app/answer/unit_rank.py)",
    "no-type-prior": "as full, but a passage holding the kind of answer asked for (a list, a definition of the "
                     "term) gets no lift (retrieval.answer_type_weight = 0, app/answer/type_prior.py)",
    "no-statement-items": "as full, but a list item is shown only under its lead-in with its list, never alone, "
                          "even when it is a sentence in its own right (answer.statement_items = false, "
                          "app/answer/compose.py)",
    "full-llm": "as full, but the configured LLM writes the answer from the same passages; every sentence "
                "verified against its citations, extractive fallback on failure (settings.llm)",
    ADAPTED_SYSTEM: "as full, with MiniLM fine-tuned on self-supervised pairs from the sources (peerqa adapt): "
                    "chunk, token, sentence and question vectors from the adapted model",
    RERANKED_SYSTEM: "as full, plus a cross-encoder trained on self-supervised pairs and mined hard negatives from "
                     "the sources (peerqa adapt --reranker), interpolated into the top fused candidates: fused + "
                     "retrieval.reranker_weight x sigmoid(logit) over the top retrieval.reranker_depth",
    STORE_SYSTEM: "as full, but the index is read from PostgreSQL (--store): dense chunk and sentence "
                  "candidates from pgvector's HNSW indexes, BM25 and corpus statistics in SQL, chunks, "
                  "sentences and token vectors fetched by row (bounded caches); the rest of the engine unchanged",
    "bm25": "baseline: the index's BM25 alone over peerqa chunks, question text only, no answer",
    "langchain-default": "baseline: PyPDFLoader → RecursiveCharacterTextSplitter(1000, 200) → in-memory "
                         "LangChain FAISS over the same MiniLM embedder, question text only, no answer",
}


class EvalError(Exception):
    """The evaluation cannot run as asked (unknown system, missing source file)."""


class System(Protocol):
    name: str
    answers: bool

    def run(self, q: Question) -> Outcome: ...


@dataclass
class EngineSystem:
    """An Engine (possibly with a component switched off); answers with the question's history."""

    name: str
    engine: Engine
    answers: bool = True
    mode: str = "extractive"

    def run(self, q: Question) -> Outcome:
        # A follow-up is asked as in a real conversation: the earlier questions first, each answered
        # by this system, so the history holds its own answers (and repeats can be counted).
        history: list[Turn] = []
        for question, _gold in q.context:
            try:
                earlier = self.engine.ask(question, history=history, k=K_MAX, mode=self.mode)
                history.append(Turn(question, earlier.answer))
            except QuestionError:
                history.append(Turn(question, ""))
        t0 = time.perf_counter()
        try:
            answer = self.engine.ask(q.question, history=history, k=K_MAX, mode=self.mode)
        except QuestionError as exc:  # refused (empty or too long): nothing retrieved, nothing said
            ms = (time.perf_counter() - t0) * 1000
            return Outcome((), ms, AnswerView(str(exc), abstained=True), error=str(exc))
        view = answer_view(answer)
        if history:
            view = dataclasses.replace(view, earlier=tuple(t.answer for t in history))
        return Outcome(
            tuple(p.chunk.text for p in answer.retrieved),
            answer.timings.get("total_ms", (time.perf_counter() - t0) * 1000),
            view,
        )


def answer_view(answer: Answer) -> AnswerView:
    by_n = {c.n: c.passage.chunk.text for c in answer.citations}
    quoted = [s for s in answer.sentences if s.role != "notice"]
    sentences = tuple((s.text, tuple(by_n[n] for n in s.citations if n in by_n)) for s in quoted)
    units: dict[int, list[str]] = {}
    for s in quoted:
        units.setdefault(s.unit, []).append(s.text)
    return AnswerView(answer.answer, answer.abstained, sentences, tuple(by_n.values()),
                      units=tuple(tuple(u) for u in units.values()) if quoted and answer.citations else (),
                      coverage=answer.coverage, signals=tuple(sorted(answer.signals.items())))


@dataclass
class RetrieverSystem:
    """A retrieve-only baseline: question text in, passage texts out, timed by wall clock."""

    name: str
    retrieve: Callable[[str], list[str]]
    answers: bool = False

    def run(self, q: Question) -> Outcome:
        t0 = time.perf_counter()
        texts = self.retrieve(q.question)[:K_MAX]
        return Outcome(tuple(texts), (time.perf_counter() - t0) * 1000)


class ProjectEmbeddings(Embeddings):
    """LangChain Embeddings over the project's embedder (normalised MiniLM vectors)."""

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(list(texts)).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed([text])[0].tolist()  # type: ignore[no-any-return]


def source_files(index: LoadedIndex, sources_dir: Path) -> list[Path]:
    """The index's source files, found in the sources folder and checked to be the same bytes."""
    paths = []
    for src in index.sources.values():
        path = sources_dir / src.path
        if not path.is_file():
            raise EvalError(f"source {src.path} of the index is not in {sources_dir} (needed by langchain-default)")
        if sha256_path(path) != src.id:
            raise EvalError(f"{path} is not the file the index was built from (sha256 differs)")
        paths.append(path)
    return paths


def langchain_default(index: LoadedIndex, sources_dir: Path, embedder: Embedder) -> RetrieverSystem:
    """LangChain's default pipeline over the index's sources, built in memory (no pickle, no files)."""
    from langchain_community.document_loaders import PyPDFLoader, TextLoader
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    pages: list[Document] = []
    for path in source_files(index, sources_dir):
        loader = PyPDFLoader(str(path)) if path.suffix.lower() == ".pdf" else TextLoader(str(path), autodetect_encoding=True)
        pages.extend(loader.load())
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(pages)
    store = FAISS.from_documents(splits, ProjectEmbeddings(embedder))

    def retrieve(question: str) -> list[str]:
        return [d.page_content for d in store.similarity_search(question, k=K_MAX)]

    return RetrieverSystem("langchain-default", retrieve)


def bm25_only(index: LoadedIndex) -> RetrieverSystem:
    def retrieve(question: str) -> list[str]:
        return [index.chunks[row].text for row, _score in index.bm25.search(question, K_MAX)]

    return RetrieverSystem("bm25", retrieve)


def without_headers(index: LoadedIndex, embedder: Embedder) -> LoadedIndex:
    """A shallow copy of the index whose chunk and token vectors embed chunk.text (no section header).
    Built in memory once per run; everything else (BM25, sentence vectors) is shared."""
    texts = [c.text for c in index.chunks]
    token_vectors = None
    if index.token_vectors is None:
        vectors = embedder.embed(texts)
    else:
        vectors, tokens = embedder.embed_with_tokens(texts)
        token_vectors = TokenVectors.from_embeddings(tokens, embedder.dim)
    faiss_index = build_faiss(np.ascontiguousarray(vectors, dtype="float32"), "flat")
    return dataclasses.replace(index, faiss=faiss_index, token_vectors=token_vectors)


def variant_settings(settings: Settings, changes: dict[str, Any]) -> Settings:
    if not changes:
        return settings
    answer = {k.split(".", 1)[1]: v for k, v in changes.items() if k.startswith("answer.")}
    retrieval = {k: v for k, v in changes.items() if not k.startswith("answer.")}
    return settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update=retrieval),
                                       "answer": settings.answer.model_copy(update=answer)})


def parse_systems(spec: str | None, llm_configured: bool = False) -> list[str]:
    """'a,b' → ['a', 'b'] in the canonical order; None or '' → all systems (the LLM mode only
    when an LLM is configured)."""
    if not spec:
        return [n for n in SYSTEM_NAMES if n != LLM_SYSTEM or llm_configured]
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in (*SYSTEM_NAMES, *ON_REQUEST)]
    if unknown or not names:
        raise EvalError(f"unknown system(s) {', '.join(unknown) or '(none)'}; choose from "
                        f"{', '.join((*SYSTEM_NAMES, *ON_REQUEST))}")
    return [n for n in (*SYSTEM_NAMES, *ON_REQUEST) if n in names]


def build_systems(names: list[str], settings: Settings, index: LoadedIndex, embedder: Embedder,
                  log: Callable[[str], None] = lambda _msg: None) -> list[System]:
    """The named systems, sharing one loaded index and one embedder."""
    systems: list[System] = []
    for name in names:
        if name == "no-headers":
            log("no-headers: embedding the chunk texts without headers")
            systems.append(EngineSystem(name, Engine(settings, without_headers(index, embedder), embedder)))
        elif name in ENGINE_VARIANTS:
            systems.append(EngineSystem(name, Engine(variant_settings(settings, ENGINE_VARIANTS[name]), index, embedder)))
        elif name == LLM_SYSTEM:
            systems.append(EngineSystem(name, Engine(settings, index, embedder), mode="llm"))
        elif name == STORE_SYSTEM:
            systems.append(EngineSystem(name, store_engine(settings, embedder)))
        elif name == ADAPTED_SYSTEM:
            from peerqa.eval.adapted import adapted_engine

            systems.append(EngineSystem(name, adapted_engine(settings, index, log)))
        elif name == RERANKED_SYSTEM:
            from peerqa.eval.adapted import reranked_engine

            systems.append(EngineSystem(name, reranked_engine(settings, index, embedder, log)))
        elif name == "bm25":
            systems.append(bm25_only(index))
        elif name == "langchain-default":
            log("langchain-default: loading, splitting and embedding the sources")
            systems.append(langchain_default(index, settings.sources_dir, embedder))
    return systems


def store_engine(settings: Settings, embedder: Embedder) -> Engine:
    """The full engine over the index in the database named by settings.store_url."""
    from peerqa.app.runtime import open_index
    from peerqa.index.store_backend import uses_postgres

    if not uses_postgres(settings):
        raise EvalError(f"{STORE_SYSTEM} reads the index in PostgreSQL: give --store postgresql://... "
                        "(or PEERQA_STORE_URL)")
    return Engine(settings, open_index(settings), embedder)
