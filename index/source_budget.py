"""The embedding part of each source's budget (`ingest/budget.py` has the rest).

Sources are embedded one after another into the embedding cache, each on its own clock, which
already holds the time its parse took: a source whose time runs out mid-way fails by name with
the reason, and the build goes on with the others. The builder's own embedding pass then finds
every vector in the cache.
"""

from __future__ import annotations

from collections.abc import Callable

from peerqa.index.cache import EmbeddingCache, text_key
from peerqa.index.embedder import Embedder
from peerqa.ingest.budget import OverBudget, SourceClock
from peerqa.ingest.parse import ParsedSource

Progress = Callable[[str, float], None]


def embed_sources_within_budget(
    parsed: list[ParsedSource],
    clocks: dict[str, SourceClock],
    embedder: Embedder,
    cache: EmbeddingCache,
    with_tokens: bool,
    progress: Progress,
    limit_s: float,
) -> tuple[set[str], list[tuple[ParsedSource, str]]]:
    """(text keys embedded, sources over budget with the reason); failed sources are not removed here.
    A source parsed in an earlier build (from the parse cache) starts a fresh clock of `limit_s`."""
    from peerqa.index.builder import _chunk_vectors, _sentence_vectors

    embedded: set[str] = set()
    over: list[tuple[ParsedSource, str]] = []
    n = max(1, len(parsed))
    for index, source in enumerate(parsed):
        clock = clocks.setdefault(source.source.id, SourceClock(limit_s))
        lo, span = 0.5 + 0.4 * index / n, 0.4 / n

        def tick(clock: SourceClock = clock) -> None:
            clock.check("reading, chunking and embedding")

        def scaled(message: str, fraction: float, name: str = source.source.path, lo: float = lo, span: float = span) -> None:
            progress(message.replace("Embedding passages", f"Embedding {name}"), lo + span * (fraction - 0.5) / 0.4)

        clock.start()
        try:
            keys = [text_key(c.embed_text) for c in source.chunks]
            _vectors, _tokens, missing = _chunk_vectors(source.chunks, keys, embedder, cache, with_tokens, scaled, tick)
            embedded.update(missing)
            _sentence_vectors(source.chunks, embedder, cache, tick)
            tick()
        except OverBudget as exc:
            over.append((source, str(exc)))
        finally:
            clock.stop()
    return embedded, over
