"""The corpus interface (index/corpus.py): statistics, bounded caches, and the engine reading a
corpus by row (a per-question sentence table) answering as it does with the whole corpus in memory."""

from __future__ import annotations

import dataclasses

import pytest

from peerqa.app.answer.engine import Engine
from peerqa.index.corpus import MemoryCorpus
from peerqa.index.corpus_stats import MemoryStats
from peerqa.index.pg_corpus import BoundedCache
from peerqa.records import Chunk, Reference
from tests.fakes import FakeEmbedder, engine_over_text
from tests.test_unit_ingest import MINI_DOC

pytestmark = pytest.mark.unit


class RowCorpus(MemoryCorpus):
    """The folder's corpus pretending not to be in memory, counting the rows it is asked for."""

    in_memory = False

    def __init__(self, index) -> None:  # type: ignore[no-untyped-def]
        super().__init__(index)
        self.asked: set[int] = set()

    def chunks(self, rows: list[int]) -> dict[int, Chunk]:
        self.asked.update(rows)
        return super().chunks(rows)


def _chunk(i: int, text: str, section: str = "Findings") -> Chunk:
    return Chunk(id=f"c{i}", source_id="s", source_path="s.txt", section_path=[section], char_start=0,
                 char_end=len(text), text=text, embed_text=text)


def test_memory_stats_count_what_the_abstention_signals_read():
    chunks = [_chunk(0, "Funding from the Health Service Executive (HSE) pays peer support workers."),
              _chunk(1, "Occupational therapists and occupational therapists met.", "Forensic Care")]
    refs = [Reference(id="r1", raw="Smith, J. (2020). A trial.", authors=["Smith, J."], year=2020)]
    stats = MemoryStats.from_chunks(chunks, refs)
    assert stats.n_chunks == 2 and stats.df("peer") == 1 and stats.df("forens") == 1 and stats.df("absent") == 0
    assert stats.has_bigram("health", "servic") and not stats.has_bigram("servic", "health")
    assert stats.printed("HSE") and not stats.printed("NHS")
    assert stats.expansion("HSE") == "Health Service Executive" and stats.expansion("NHS") == ""
    assert stats.expansion("OT") == "occupational therapists"  # spelled out twice in running text
    assert stats.has_prefix("occu") and stats.has_prefix("therap") and not stats.has_prefix("zzz")
    assert stats.surname_years("smith") == {2020} and stats.surname_years("jones") is None


def test_bounded_cache_fetches_only_what_it_lacks_and_never_holds_more_than_its_size():
    fetched: list[list[int]] = []

    def fetch(keys: list[int]) -> dict[int, int]:
        fetched.append(keys)
        return {k: k * 10 for k in keys}

    cache = BoundedCache(3)
    assert cache.get_many([1, 2], fetch) == {1: 10, 2: 20}
    assert cache.get_many([2, 3, 4], fetch) == {2: 20, 3: 30, 4: 40}
    assert fetched == [[1, 2], [3, 4]] and len(cache) == 3 and cache.peak == 3
    cache.get_many([1], fetch)  # 1 was the least recently used: evicted, read again
    assert fetched[-1] == [1] and cache.fetched == 5 and len(cache) <= 3


def test_engine_over_a_corpus_read_by_row_answers_as_over_the_whole_corpus(settings_factory):
    whole = engine_over_text(settings_factory(), "mini.txt", MINI_DOC)
    index = dataclasses.replace(whole.index, _corpus=None)
    corpus = RowCorpus(index)
    index._corpus = corpus
    by_row = Engine(whole.settings, index, FakeEmbedder())
    assert whole.table is not None and by_row.table is None
    for question in ("What helps people leaving prison?", "Who described prison peer workers?",
                     "What does the review look at?"):
        a, b = whole.ask(question), by_row.ask(question)
        assert [p.chunk.id for p in a.retrieved] == [p.chunk.id for p in b.retrieved]
        assert a.signals == b.signals and a.answer == b.answer and a.abstained == b.abstained
    assert corpus.asked and len(corpus.asked) <= len(index.chunks)
