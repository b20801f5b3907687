"""A LangChain retriever over a peerqa index, for use in any LangChain chain.

    from peerqa.index.langchain_retriever import PeerQARetriever
    retriever = PeerQARetriever.from_settings(Settings(), k=5)
    docs = retriever.invoke("What training do peer support workers need?")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from peerqa.index.search import HybridSearcher
from peerqa.records import Passage
from peerqa.settings import Settings


def passage_to_document(p: Passage, references: Mapping[str, Any] | None = None) -> Document:
    c = p.chunk
    cites = [references[r].short() for r in c.cites if references and r in references]
    return Document(
        page_content=c.text,
        id=c.id,
        metadata={
            "chunk_id": c.id,
            "source": c.source_path,
            "source_id": c.source_id,
            "section": c.section,
            "page": c.page_start,
            "page_end": c.page_end,
            "char_span": [c.char_start, c.char_end],
            "score": p.score,
            "cites": cites,
            "designs": c.designs,
        },
    )


class PeerQARetriever(BaseRetriever):
    """Hybrid (dense + BM25) retrieval over the active peerqa index."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    searcher: Any
    k: int = 5

    @classmethod
    def from_settings(cls, settings: Settings, k: int = 5) -> PeerQARetriever:
        from peerqa.app.runtime import get_embedder, open_index

        index = open_index(settings)
        searcher = HybridSearcher(index, get_embedder(settings), pool=settings.retrieval.pool, rrf_k=settings.retrieval.rrf_k)
        return cls(searcher=searcher, k=k)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        passages = self.searcher.search(query, k=self.k)
        return [passage_to_document(p, self.searcher.index.references) for p in passages]
