"""The LangChain retriever: LangChain's own standard retriever tests (langchain-tests), and the same
passages as the answer engine for the same question, filters and settings."""

from __future__ import annotations

import re

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests
from pydantic import ValidationError

from peerqa.app.answer.engine import Engine, Filters
from peerqa.app.engines import shared_engine
from peerqa.index.langchain_retriever import PeerQARetriever

pytestmark = pytest.mark.integration

QUESTIONS = [
    "What training do PSWs need?",
    "What about prisons?",
    "How do peer support workers experience burnout?",
    "Which barriers to implementing peer support were reported?",
]
FILTERS = [Filters(), Filters(kind="included_study"), Filters(section="Findings"),
           Filters(source="peer-support-work-scoping-review-2023.pdf")]


class TestStandard(RetrieversIntegrationTests):
    """langchain-tests' RetrieversIntegrationTests, unchanged, on the shipped review's index (the async
    test runs on anyio's asyncio backend)."""

    pytestmark = pytest.mark.anyio

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture(autouse=True)
    def _index(self, review_index) -> None:
        self._settings = review_index[0]

    @property
    def retriever_constructor(self) -> type[PeerQARetriever]:
        return PeerQARetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"index_dir": self._settings.index_dir, "settings": self._settings}

    @property
    def retriever_query_example(self) -> str:
        return "What training do peer support workers receive?"


def _ids(docs) -> list[str]:
    return [d.id for d in docs]


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_retriever_returns_the_engines_passages(review_index, question):
    settings, _ = review_index
    engine = shared_engine(settings)
    retriever = PeerQARetriever(settings=settings, search_kwargs={"k": 5})
    for f in FILTERS:
        expected = [p.chunk.id for p in engine.ask(question, filters=f, k=5).retrieved]
        got = retriever.invoke(question, section=f.section, source=f.source, kind=f.kind)
        assert _ids(got) == expected, f
        assert all(d.metadata["section"].startswith(f.section) for d in got)


def test_every_retrieval_setting_is_honoured(review_index):
    """Each setting changes what the engine retrieves; the retriever built with it follows."""
    settings, _ = review_index
    question = QUESTIONS[2]
    base = _ids(PeerQARetriever(settings=settings, k=8).invoke(question))
    changed = 0
    for update in ({"fusion": "rrf"}, {"late_interaction": False}, {"hybrid": False}, {"per_section_cap": 1},
                   {"expand_queries": False}, {"pool": 5}):
        variant = settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update=update)})
        expected = [p.chunk.id for p in Engine(variant, shared_engine(settings).index,
                                               shared_engine(settings).embedder).passages(question, k=8)]
        got = _ids(PeerQARetriever(settings=variant, k=8).invoke(question))
        assert got == expected, update
        changed += got != base
    assert changed >= 4  # the settings are not ignored


def test_k_and_filters_come_from_search_kwargs_and_invoke(review_index):
    settings, _ = review_index
    retriever = PeerQARetriever(settings=settings, search_kwargs={"k": 2, "kind": "review"})
    assert len(retriever.invoke(QUESTIONS[0])) == 2
    assert len(retriever.invoke(QUESTIONS[0], k=4)) == 4
    assert len(PeerQARetriever(settings=settings).invoke(QUESTIONS[0])) == settings.retrieval.k
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="k must be"):
            retriever.invoke(QUESTIONS[0], k=bad)
    with pytest.raises(ValidationError):
        PeerQARetriever(settings=settings, k=0)
    with pytest.raises(ValidationError):
        PeerQARetriever(settings=settings, search_kwargs={"top_k": 3})
    with pytest.raises(ValueError, match="kind must be"):
        retriever.invoke(QUESTIONS[0], kind="blog")


def test_metadata_follows_the_loader_conventions_and_keeps_ours(review_index):
    from langchain_community.document_loaders import PyPDFLoader

    settings, _ = review_index
    docs = PeerQARetriever(settings=settings, k=5).invoke(QUESTIONS[0])
    pdf = settings.sources_dir / "peer-support-work-scoping-review-2023.pdf"
    pages = PyPDFLoader(str(pdf)).load()  # LangChain's own loader: page 0-based, page_label as printed
    for d in docs:
        m = d.metadata
        assert m["source"] == pdf.name and m["chunk_id"] == d.id and m["section"]
        loaded = pages[m["page"]]
        assert loaded.metadata["page"] == m["page"]
        # the passage's first words are printed on that page of the file
        words = re.findall(r"[a-z]{4,}", d.page_content.lower())[:5]
        assert all(w in loaded.page_content.lower() for w in words), (m["page"], words)
        assert set(m) >= {"source_id", "section_path", "page_label", "char_span", "studies", "score", "rank"}
    # cited studies: a passage that cites some, asked for by its own words
    index = shared_engine(settings).index
    cited = next(c for c in index.chunks if any(r in index.references for r in c.cites))
    found = {d.id: d for d in PeerQARetriever(settings=settings, k=10).invoke(" ".join(cited.text.split()[:30]))}
    studies = found[cited.id].metadata["studies"]
    assert studies and all(set(s) == {"id", "label", "authors", "year", "title", "doi", "url"} for s in studies)
    assert [s["id"] for s in studies] == [r for r in cited.cites if r in index.references]
