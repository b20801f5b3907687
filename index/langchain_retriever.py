"""A LangChain retriever over a peerqa index, for use in any LangChain chain.

    from peerqa.index.langchain_retriever import PeerQARetriever
    retriever = PeerQARetriever(index_dir="data/index", search_kwargs={"k": 5})
    docs = retriever.invoke("What training do peer support workers need?", section="Findings")

It returns exactly the passages the answer engine retrieves (`Engine.passages`, the code path of
`Engine.ask`): the engine's query handling (follow-up rewriting is moot for one question; glossary
and synonym expansion), every retrieval setting (pool, hybrid, fusion, late interaction, reranker,
per-section cap) and the engine's section/source/kind filters, on the folder or the PostgreSQL
store (`store_url` / PEERQA_STORE_URL). `k` and the filters come from `search_kwargs` and may be
overridden per call: `invoke(q, k=3, kind="included_study")`. Metadata: app/provenance.py.

This module keeps its documented import path in `peerqa.index`, but it drives the engine: it
imports `peerqa.app` when a retriever is built (never at import time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from peerqa.records import Passage
from peerqa.settings import Settings

SEARCH_KEYS = ("k", "section", "source", "kind")
KINDS = ("", "review", "included_study", "other")


def check_search_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    """`k` (an int >= 1) and the filters `section`, `source`, `kind`; anything else is refused."""
    unknown = sorted(set(values) - set(SEARCH_KEYS))
    if unknown:
        raise ValueError(f"unknown search argument(s) {', '.join(unknown)}; use {', '.join(SEARCH_KEYS)}")
    k = values.get("k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"k must be an integer of at least 1, not {k!r}")
    for key in ("section", "source", "kind"):
        if not isinstance(values.get(key, ""), str):
            raise ValueError(f"{key} must be text")
    if values.get("kind", "") not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(repr(x) for x in KINDS[1:])}")
    return values


class PeerQARetriever(BaseRetriever):
    """The answer engine's retrieval over the active peerqa index, as a LangChain retriever."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    settings: Settings | None = Field(None, description="all of peerqa's settings (default: Settings())")
    index_dir: Path | None = Field(None, description="the index folder (overrides settings.index_dir)")
    store_url: str | None = Field(None, repr=False, description="postgresql://... (overrides settings.store_url)")
    k: int | None = Field(None, description="passages returned (default: search_kwargs['k'], else settings.retrieval.k)")
    search_kwargs: dict[str, Any] = Field(default_factory=dict, description="k, section, source, kind")
    engine: Any = Field(None, exclude=True, repr=False, description="an Engine to share (default: built once)")
    _engine: Any = PrivateAttr(None)

    @field_validator("k")
    @classmethod
    def _k_positive(cls, k: int | None) -> int | None:
        if k is not None and k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        return k

    @field_validator("search_kwargs")
    @classmethod
    def _known_search_kwargs(cls, values: dict[str, Any]) -> dict[str, Any]:
        return check_search_kwargs(dict(values))

    @model_validator(mode="after")
    def _resolve_settings(self) -> PeerQARetriever:
        settings = self.settings or Settings()
        update: dict[str, Any] = {}
        if self.index_dir is not None:
            update["index_dir"] = Path(self.index_dir).expanduser().resolve()
        if self.store_url is not None:
            update["store_url"] = self.store_url
        self.settings = settings.model_copy(update=update) if update else settings
        return self

    @classmethod
    def from_settings(cls, settings: Settings, k: int | None = None, **kwargs: Any) -> PeerQARetriever:
        return cls(settings=settings, k=k, **kwargs)

    def get_engine(self) -> Any:
        """The engine whose retrieval this is (loaded on first use; shared per settings)."""
        if self._engine is None:
            if self.engine is not None:
                self._engine = self.engine
            else:
                from peerqa.app.engines import shared_engine

                assert self.settings is not None
                self._engine = shared_engine(self.settings)
        return self._engine

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        from peerqa.app.answer.engine import Filters
        from peerqa.app.provenance import chunk_fields

        args = check_search_kwargs({**self.search_kwargs, **({"k": self.k} if self.k else {}), **kwargs})
        engine = self.get_engine()
        assert self.settings is not None
        filters = Filters(section=args.get("section", ""), source=args.get("source", ""), kind=args.get("kind", ""))
        passages = engine.passages(query, filters=filters, k=args.get("k") or self.settings.retrieval.k)
        return [passage_to_document(p, chunk_fields(p.chunk, engine.index.references, self.settings.sources_dir))
                for p in passages]


def passage_to_document(p: Passage, fields: dict[str, Any]) -> Document:
    """A Document with the shared provenance fields plus this retrieval's rank and scores."""
    metadata = {**fields, "rank": p.rank, "score": p.score, "dense_score": p.dense_score, "bm25_score": p.bm25_score}
    return Document(page_content=p.chunk.text, id=p.chunk.id, metadata=metadata)
