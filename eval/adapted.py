"""The `adapted` system: the full engine with the model fine-tuned on the sources (index/adapt.py,
`peerqa adapt`), over an in-memory copy of the index re-embedded with it (chunk, token and
sentence vectors; BM25, chunks and outline shared). The `reranked` system: the full engine with
the cross-encoder trained on the sources (index/rerank_train.py, `peerqa adapt --reranker`).
Run only when named: the first run trains (minutes on a 2-core machine), later runs reuse the
model cached for the corpus.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from peerqa.app.answer.engine import Engine
from peerqa.index.adapt import train
from peerqa.index.embedder import Embedder, SentenceTransformerEmbedder
from peerqa.index.late_interaction import TokenVectors
from peerqa.index.store import LoadedIndex
from peerqa.index.vectors import build_faiss
from peerqa.settings import ModelSettings, Settings


def adapted_settings(settings: Settings, folder: Path) -> Settings:
    return settings.model_copy(update={"model": ModelSettings(
        name=str(folder), sha256="", max_tokens=settings.model.max_tokens, batch_size=settings.model.batch_size)})


def reembedded(index: LoadedIndex, embedder: Embedder) -> LoadedIndex:
    """A shallow copy of the index whose chunk, token and sentence vectors come from `embedder`."""
    vectors, tokens = embedder.embed_with_tokens([c.embed_text for c in index.chunks])
    token_vectors = TokenVectors.from_embeddings(tokens, embedder.dim) if index.token_vectors is not None else None
    sentence_vectors = index.sentence_vectors
    if sentence_vectors is not None and index.sentence_spans:
        texts = [index.chunks[row].text[s:e] for row, s, e in index.sentence_spans]
        sentence_vectors = embedder.embed(texts)
    faiss_index = build_faiss(np.ascontiguousarray(vectors, dtype="float32"), "flat")
    return dataclasses.replace(index, faiss=faiss_index, token_vectors=token_vectors, sentence_vectors=sentence_vectors)


def reranked_engine(settings: Settings, index: LoadedIndex, embedder: Embedder,
                    log: Callable[[str], None] = lambda _m: None) -> Engine:
    from peerqa.app.cli_adapt import default_out
    from peerqa.index.rerank_train import train as train_reranker

    log("reranked: training or reusing the cross-encoder trained on the sources")
    folder, record = train_reranker(index, settings.model, default_out(settings.index_dir), embedder=embedder, log=log)
    log(f"reranked: {folder.name} ({record['steps']} steps, {record['minutes']} min when trained)")
    r = settings.retrieval.model_copy(update={"reranker": str(folder)})
    return Engine(settings.model_copy(update={"retrieval": r}), index, embedder)


def adapted_engine(settings: Settings, index: LoadedIndex, log: Callable[[str], None] = lambda _m: None) -> Engine:
    from peerqa.app.cli_adapt import default_out

    log("adapted: training or reusing the model adapted to the sources")
    folder, record = train(index, settings.model, default_out(settings.index_dir), log=log)
    log(f"adapted: {folder.name} ({record['steps']} steps, {record['minutes']} min when trained)")
    tuned = adapted_settings(settings, folder)
    embedder = SentenceTransformerEmbedder(tuned.model)
    return Engine(tuned, reembedded(index, embedder), embedder)
