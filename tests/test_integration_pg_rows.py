"""A PostgreSQL-backed process holds only what a question needs (issue 15, item 3).

A corpus several times larger than the serving caches, in a real PostgreSQL: the engine answers
as the folder store does while never holding more chunk rows than its cache, never walking all
chunks, and reading BM25, corpus statistics and token vectors by term and row.
"""

from __future__ import annotations

import pytest

from peerqa.app.answer.engine import Engine
from peerqa.app.runtime import open_index, run_ingest
from peerqa.index.pg_corpus import PgCorpus
from peerqa.index.store import IndexLoadError, load_index
from tests.test_integration_pg import TOPICS, init, pg_settings, sql, write_doc

pytestmark = pytest.mark.integration

CACHE = 8
QUESTIONS = ("How were tenants helped to keep their homes?", "What did training cover?",
             "Did peer workers suffer from burnout?", "What about prisons?", "What did young people value?",
             "How were people helped back into paid employment?")


def test_pg_serving_holds_a_bounded_number_of_rows_and_answers_as_the_folder(tmp_path, pg_url):
    init(pg_url)
    sources = tmp_path / "sources"
    write_doc(sources, "multi-site-study", list(TOPICS), repeat=8)
    settings = pg_settings(tmp_path, pg_url, sources, pg={"cache_rows": CACHE, "token_cache_rows": CACHE},
                           chunking={"max_tokens": 80, "min_tokens": 10})  # about a chunk per paragraph
    report = run_ingest(settings, show_progress=False)
    n = report.chunks_total
    assert n > 3 * CACHE, n  # the corpus is larger than what a serving process may hold
    assert sql(pg_url, "SELECT count(*) FROM peerqa_tokens")[0][0] == n
    assert sql(pg_url, "SELECT count(DISTINCT chunk_row) FROM peerqa_postings")[0][0] == n

    pg_engine = Engine.from_settings(settings)
    corpus = pg_engine.index.corpus
    assert isinstance(corpus, PgCorpus) and not corpus.in_memory and pg_engine.table is None
    folder_engine = Engine(settings, load_index(settings.index_dir), pg_engine.embedder)  # the build's own folder
    for question in QUESTIONS:
        a, b = folder_engine.ask(question), pg_engine.ask(question)
        assert [p.chunk.id for p in a.retrieved] == [p.chunk.id for p in b.retrieved], question
        assert [round(p.score, 4) for p in a.retrieved] == [round(p.score, 4) for p in b.retrieved], question
        assert a.abstained == b.abstained and a.signals == b.signals, question
        assert a.answer == b.answer, question
        assert [[s.id for s in c.studies] for c in a.citations] == [[s.id for s in c.studies] for c in b.citations]
    # What the process held: never more chunk rows than its cache, never a walk over every chunk.
    assert 0 < corpus.loaded_rows() <= CACHE < n
    assert corpus.full_scans == 0
    assert not isinstance(pg_engine.index.references, dict)  # reference records fetched by id, when cited
    tokens = pg_engine.index.token_vectors
    assert tokens is not None and 0 < tokens._rows.peak <= CACHE  # type: ignore[attr-defined]
    assert len(pg_engine.index.sections()) == len(folder_engine.index.sections())
    # An abstention reads the corpus statistics from tables, as the folder counts them.
    a, b = folder_engine.ask("What does the review say about clozapine dosing?"), \
        pg_engine.ask("What does the review say about clozapine dosing?")
    assert b.abstained and a.signals == b.signals and "clozapine" in b.notice

    # A version published before schema 3 has no by-row tables: refused with the command to republish.
    sql(pg_url, "UPDATE peerqa_versions SET by_row = false")
    with pytest.raises(IndexLoadError, match="published by an older peerqa.*peerqa ingest --store postgresql://"):
        open_index(settings)
