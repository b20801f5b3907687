"""The index in a real PostgreSQL with pgvector (started by the tests, see tests/pg_server.py).

Build, ask, readers during a rebuild, a build killed mid-publish, concurrent builds, schema
refusals and upgrades, a database that goes away under a loaded engine, and copying between the
stores. Small synthetic corpora with the real model; no mocks of the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from peerqa.app.answer.engine import Engine, Filters
from peerqa.app.runtime import open_index, run_ingest
from peerqa.index.pg_schema import BUILD_LOCK_KEY, SCHEMA_VERSION, connect, init_schema
from peerqa.index.pg_search import PgDenseIndex
from peerqa.index.store import IndexLoadError, load_index
from peerqa.index.store_backend import StoreUnavailable, active_version
from peerqa.settings import Settings
from tests.conftest import REPO

pytestmark = pytest.mark.integration

TOPICS = {
    "housing": ("Housing", "Peer workers helped tenants keep their homes and find secure housing after hospital stays."),
    "employment": ("Employment", "Peer workers supported people returning to paid employment and job interviews."),
    "training": ("Training", "Peer support worker training covered boundaries, recovery stories and supervision."),
    "burnout": ("Wellbeing", "Peer workers reported burnout and stress when supervision and support were missing."),
    "forensic": ("Forensic Care", "Peer support in prisons and forensic services helped people leaving custody."),
    "youth": ("Youth Services", "Young people valued youth peer workers close to their own age in schools."),
}


def write_doc(folder: Path, name: str, topics: list[str], repeat: int = 3) -> Path:
    """A small plain-text study with one section per topic, a few paragraphs each."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [f"Study of {name.replace('-', ' ')}", ""]
    for key in topics:
        title, sentence = TOPICS[key]
        parts += [title.upper(), ""]
        for i in range(repeat):
            parts += [f"{sentence} In site {i + 1} of the {name} study, staff and service users described this "
                      f"work in detail over {i + 2} years of follow-up, with examples from daily practice.", ""]
    path = folder / f"{name}.txt"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def pg_settings(tmp_path: Path, url: str, sources: Path, work: str = "work", **kw) -> Settings:
    return Settings(index_dir=tmp_path / work, sources_dir=sources, store_url=url, **kw)  # type: ignore[arg-type]


def init(url: str, upto: int = SCHEMA_VERSION) -> None:
    conn = connect(url)
    try:
        init_schema(conn, upto=upto)
    finally:
        conn.close()


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "peerqa.app.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, HF_HUB_OFFLINE="1", **(env or {})))


def sql(url: str, query: str, params: tuple = ()) -> list[tuple]:
    conn = connect(url)
    try:
        cur = conn.execute(query, params)
        return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def test_pg_build_ask_filters_and_same_results_as_folder(tmp_path, pg_url):
    init(pg_url)
    sources = tmp_path / "sources"
    write_doc(sources, "community-study", ["housing", "employment", "training"])
    write_doc(sources, "services-study", ["burnout", "forensic", "youth"])
    settings = pg_settings(tmp_path, pg_url, sources)
    report = run_ingest(settings, show_progress=False)
    assert active_version(settings) == report.index_version
    assert sql(pg_url, "SELECT count(*) FROM peerqa_chunks")[0][0] == report.chunks_total > 6
    # Each version has its own HNSW index on chunk and sentence vectors.
    names = {r[0] for r in sql(pg_url, "SELECT indexname FROM pg_indexes WHERE indexname LIKE '%%_hnsw_%%'")}
    assert len(names) == 2

    pg_engine = Engine.from_settings(settings)
    dense = pg_engine.index.faiss
    assert isinstance(dense, PgDenseIndex)  # chunk vectors stay in the database
    # The dense query can walk the version's HNSW index (the planner prefers an exact scan at this
    # size; with sorting off it must use the index, with the filter in the same scan).
    sql_text, params = dense.nearest_sql(pg_engine.embedder.embed(["homes"])[0], 10, Filters(kind="other"))
    conn = connect(pg_url)
    try:
        with conn.transaction():
            conn.execute("SET LOCAL enable_sort = off")
            plan = " ".join(r[0] for r in conn.execute("EXPLAIN " + sql_text, params).fetchall())
    finally:
        conn.close()
    assert f"Index Scan using peerqa_chunks_hnsw_{dense.version_id}" in plan and "source_kind" in plan
    folder_engine = Engine(settings, load_index(settings.index_dir), pg_engine.embedder)  # the build's own folder
    assert folder_engine.index.version == pg_engine.index.version
    for question in ("How were tenants helped to keep their homes?", "What did training cover?",
                     "Did peer workers suffer from burnout?", "What about prisons?"):
        a, b = folder_engine.ask(question), pg_engine.ask(question)
        assert [p.chunk.id for p in a.retrieved] == [p.chunk.id for p in b.retrieved]
        assert [round(p.score, 4) for p in a.retrieved] == [round(p.score, 4) for p in b.retrieved]
        assert a.answer == b.answer and not b.abstained
    answer = pg_engine.ask("How were tenants helped to keep their homes?")
    assert "housing" in answer.answer.lower() and answer.citations[0].passage.chunk.section == "Housing"

    # Filters are applied in SQL: every passage passes them, even ones far from the question.
    youth = next(c.section for c in pg_engine.index.chunks if c.section.endswith("Youth Services"))
    filtered = pg_engine.ask("How were tenants helped to keep their homes?", filters=Filters(section=youth))
    assert filtered.retrieved and {p.chunk.section for p in filtered.retrieved} == {youth}
    source_id = next(s.id for s in pg_engine.index.sources.values() if s.path == "services-study.txt")
    by_source = pg_engine.searcher._dense(pg_engine.embedder.embed(["homes"])[0], 50,
                                          pg_engine._keep(Filters(source=source_id[:12])))
    assert by_source and all(pg_engine.index.chunks[r].source_path == "services-study.txt" for r, _ in by_source)

    # The CLI reads the same store (--store), and index-info names the database without a password.
    out = cli("ask", "What did training cover?", "--store", pg_url, "--json", "--index-dir", str(tmp_path / "other"))
    assert out.returncode == 0, out.stderr
    assert '"index_version": "' + report.index_version in out.stdout
    info = cli("index-info", "--store", pg_url)
    assert info.returncode == 0 and "peerqa_test" in info.stdout and report.index_version in info.stdout


def test_pg_schema_is_explicit_old_schema_refused_with_the_upgrade_command(tmp_path, pg_url):
    sources = tmp_path / "sources"
    write_doc(sources, "small-study", ["housing", "training"], repeat=1)
    settings = pg_settings(tmp_path, pg_url, sources)
    with pytest.raises(StoreUnavailable, match="has no peerqa schema; create it with: peerqa store init --store"):
        open_index(settings)
    with pytest.raises(StoreUnavailable, match="no peerqa schema"):
        run_ingest(settings, show_progress=False)  # ingest never creates the schema by itself
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").glob("2*"))

    init(pg_url, upto=1)  # a database set up by an older peerqa
    with pytest.raises(StoreUnavailable, match=r"schema is version 1, this peerqa needs 3; upgrade it with: "
                                               r"peerqa store init --store postgresql://"):
        open_index(settings)
    with pytest.raises(StoreUnavailable, match="upgrade it with"):
        run_ingest(settings, show_progress=False)
    out = cli("store", "init", "--store", pg_url)
    assert out.returncode == 0, out.stderr
    assert "applied schema migration(s) 2, 3" in out.stdout
    assert cli("store", "init", "--store", pg_url).stdout.strip().endswith("nothing to do")
    with pytest.raises(IndexLoadError, match="no index in .*; build one with: peerqa ingest --store"):
        open_index(settings)
    run_ingest(settings, show_progress=False)
    assert open_index(settings).chunks

    sql(pg_url, "INSERT INTO peerqa_schema (version) VALUES (99)")  # a newer peerqa upgraded it
    with pytest.raises(StoreUnavailable, match="newer than this peerqa"):
        open_index(settings)


def test_pg_two_readers_keep_answering_during_a_rebuild(tmp_path, pg_url):
    init(pg_url)
    sources = tmp_path / "sources"
    write_doc(sources, "first-study", ["housing", "training"])
    settings = pg_settings(tmp_path, pg_url, sources)
    first = run_ingest(settings, show_progress=False).index_version
    readers = [Engine.from_settings(settings) for _ in range(2)]
    seen: list[set[str]] = [set(), set()]
    errors: list[BaseException] = []
    stop = threading.Event()

    def read(i: int) -> None:
        engine = readers[i]
        try:
            while not stop.is_set():
                if active_version(settings) != engine.index.version:  # as the web app does per page run
                    engine = Engine(settings, open_index(settings), engine.embedder)
                answer = engine.ask("What did peer support worker training cover?")
                assert not answer.abstained and answer.citations
                seen[i].add(answer.index_version)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    write_doc(sources, "second-study", ["burnout", "youth"])
    second = run_ingest(settings, show_progress=False).index_version
    deadline = time.monotonic() + 60
    while not all(second in s for s in seen) and time.monotonic() < deadline and not errors:
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(s <= {first, second} and first in s and second in s for s in seen), seen
    assert open_index(settings).version == second
    assert readers[0].ask("Did peer workers report burnout?").index_version == first  # the old version still serves


def test_pg_build_killed_mid_publish_leaves_the_active_version(tmp_path, pg_url):
    init(pg_url)
    sources = tmp_path / "sources"
    write_doc(sources, "first-study", ["housing", "training"], repeat=2)
    settings = pg_settings(tmp_path, pg_url, sources)
    first = run_ingest(settings, show_progress=False).index_version
    write_doc(sources, "second-study", ["burnout", "forensic"], repeat=2)

    # Hold the active pointer so the build stops inside its publishing transaction, rows written.
    blocker = connect(pg_url, autocommit=False)
    blocker.execute("LOCK TABLE peerqa_active IN ACCESS EXCLUSIVE MODE")
    proc = subprocess.Popen(
        [sys.executable, "-m", "peerqa.app.cli", "ingest", "--store", pg_url, "--index-dir", str(settings.index_dir),
         "--json"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, HF_HUB_OFFLINE="1", PEERQA_SOURCES_DIR=str(sources)),
    )
    try:
        deadline = time.monotonic() + 240
        waiting: list[tuple] = []
        while time.monotonic() < deadline and proc.poll() is None and not waiting:
            waiting = sql(pg_url, "SELECT pid FROM pg_stat_activity WHERE application_name = 'peerqa-publish' "
                                  "AND wait_event_type = 'Lock'")
            time.sleep(0.2)
        assert waiting, "the build never reached its publishing transaction"
        in_flight = sql(pg_url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'peerqa-publish' "
                                "AND xact_start IS NOT NULL")[0][0]
        assert in_flight == 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        blocker.rollback()
        blocker.close()
    deadline = time.monotonic() + 30  # the server notices the dead client and rolls its transaction back
    while sql(pg_url, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'peerqa-%%' "
                      "AND application_name <> 'peerqa'")[0][0] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert active_version(settings) == first
    assert [r[0] for r in sql(pg_url, "SELECT name FROM peerqa_versions")] == [first]
    assert sql(pg_url, "SELECT count(DISTINCT version_id) FROM peerqa_chunks")[0][0] == 1
    assert len(sql(pg_url, "SELECT indexname FROM pg_indexes WHERE indexname LIKE '%%_hnsw_%%'")) == 2
    assert open_index(settings).version == first
    # The advisory lock died with the killed process: the next build runs and publishes.
    second = run_ingest(settings, show_progress=False).index_version
    assert second != first and active_version(settings) == second


def test_pg_concurrent_builds_take_turns_through_the_advisory_lock(tmp_path, pg_url):
    init(pg_url)
    sources = tmp_path / "sources"
    write_doc(sources, "first-study", ["housing", "employment"], repeat=2)
    here = pg_settings(tmp_path, pg_url, sources, work="machine-a")
    elsewhere = pg_settings(tmp_path, pg_url, sources, work="machine-b")  # another machine's work folder
    holder = connect(pg_url)
    try:
        assert holder.execute("SELECT pg_try_advisory_lock(%s)", (BUILD_LOCK_KEY,)).fetchone()[0]
        with pytest.raises(RuntimeError, match="another build is running on the index database"):
            run_ingest(here, show_progress=False)
        out = cli("ingest", "--store", pg_url, "--index-dir", str(tmp_path / "machine-c"),
                  env={"PEERQA_SOURCES_DIR": str(sources)})
        assert out.returncode == 1 and "another build is running" in out.stderr
        assert sql(pg_url, "SELECT count(*) FROM peerqa_versions")[0][0] == 0
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s)", (BUILD_LOCK_KEY,))
        holder.close()
    # Two builds started together from two processes: one publishes, the other waits its turn or is
    # refused; never two half-versions.
    procs = [subprocess.Popen([sys.executable, "-m", "peerqa.app.cli", "ingest", "--store", pg_url, "--index-dir",
                               str(s.index_dir), "--json"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ, HF_HUB_OFFLINE="1", PEERQA_SOURCES_DIR=str(sources)))
             for s in (here, elsewhere)]
    results = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert 0 in codes, results
    for code, (stdout, stderr) in zip(codes, results, strict=True):
        assert code == 0 or (code == 1 and "another build is running" in stdout), stdout + stderr  # --json: stdout
    versions = sql(pg_url, "SELECT v.name, v.chunks, (SELECT count(*) FROM peerqa_chunks c WHERE c.version_id = v.id) "
                           "FROM peerqa_versions v")
    assert versions and all(n == c for _name, n, c in versions)
    assert active_version(here) in {name for name, _n, _c in versions}


def test_pg_database_going_away_gives_a_clear_error_not_a_hang(tmp_path):
    from tests.pg_server import embedded_server

    sources = tmp_path / "sources"
    write_doc(sources, "small-study", ["housing", "training"], repeat=2)
    with embedded_server(tmp_path / "own-pg") as server:
        url = server.get_uri()
        init(url)
        settings = pg_settings(tmp_path, url, sources, pg={"connect_timeout_s": 2, "pool_size": 2})
        run_ingest(settings, show_progress=False)
        engine = Engine.from_settings(settings)
        assert not engine.ask("What did training cover?").abstained
        # The server drops every serving connection: the pool replaces them, the next question is answered.
        dropped = sql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'peerqa-serve'")
        assert dropped
        assert not engine.ask("What did training cover?").abstained
        # The server dies: the question fails with a clear message, within the timeouts.
        os.kill(server.get_pid(), signal.SIGKILL)
        outcome: list[BaseException | object] = []

        def ask() -> None:
            try:
                outcome.append(engine.ask("How were tenants helped?"))
            except BaseException as exc:  # noqa: BLE001 - inspected below
                outcome.append(exc)

        started = time.monotonic()
        t = threading.Thread(target=ask, daemon=True)
        t.start()
        t.join(60)
        assert not t.is_alive(), "the question hung on a dead database"
        assert time.monotonic() - started < 30
        assert isinstance(outcome[0], StoreUnavailable), outcome
        assert "not answered" in str(outcome[0]) or "not answering" in str(outcome[0])
        assert "postgres:***@" in str(outcome[0]) or "@" not in str(outcome[0])
        from peerqa.index.pg_store import close_pools

        close_pools()


def test_pg_store_copy_both_ways_keeps_the_same_answers(tmp_path, pg_url):
    sources = tmp_path / "sources"
    write_doc(sources, "copy-study", ["housing", "forensic", "youth"], repeat=2)
    folder = Settings(index_dir=tmp_path / "folder", sources_dir=sources)
    version = run_ingest(folder, show_progress=False).index_version
    out = cli("store", "copy", "--from", str(folder.index_dir), "--to", pg_url)
    assert out.returncode == 1 and "store init" in out.stderr  # no schema yet: refused, nothing written
    assert cli("store", "init", "--store", pg_url).returncode == 0
    out = cli("store", "copy", "--from", str(folder.index_dir), "--to", pg_url)
    assert out.returncode == 0, out.stderr
    back = tmp_path / "back"
    out = cli("store", "copy", "--from", pg_url, "--to", str(back))
    assert out.returncode == 0, out.stderr
    restored = load_index(back)
    original = load_index(folder.index_dir)
    assert restored.version == version
    assert [c.id for c in restored.chunks] == [c.id for c in original.chunks]
    assert (back / version / "chunks.jsonl").read_bytes() == (folder.index_dir / version / "chunks.jsonl").read_bytes()
    embedder = Engine.from_settings(folder).embedder
    pg_engine = Engine.from_settings(pg_settings(tmp_path, pg_url, sources))
    for engine in (Engine(folder, restored, embedder), pg_engine):
        a, b = Engine(folder, original, embedder).ask("What about prisons?"), engine.ask("What about prisons?")
        assert a.answer == b.answer and [p.chunk.id for p in a.retrieved] == [p.chunk.id for p in b.retrieved]
    assert cli("store", "copy", "--from", str(back), "--to", str(tmp_path / "x")).returncode == 2
    status = cli("store", "status", "--store", pg_url)
    assert status.returncode == 0 and f"Active version {version}" in status.stdout and "Schema         3" in status.stdout
    # The LangChain retriever reads the database store unchanged.
    from peerqa.index.langchain_retriever import PeerQARetriever

    retriever = PeerQARetriever(settings=pg_settings(tmp_path, pg_url, sources), engine=pg_engine)
    docs = retriever.invoke("What about prisons?", k=3)
    assert len(docs) == 3 and "prison" in " ".join(d.page_content.lower() for d in docs)
    assert [d.id for d in docs] == [p.chunk.id for p in pg_engine.ask("What about prisons?", k=3).retrieved]
    # ... and built from the URL alone (PEERQA_STORE_URL's setting), the same passages
    own = PeerQARetriever(index_dir=tmp_path / "work2", store_url=pg_url, settings=Settings(sources_dir=sources))
    assert [d.id for d in own.invoke("What about prisons?", k=3)] == [d.id for d in docs]


def test_pg_store_answers_the_curated_questions_as_the_folder_store_does(review_index, pg_url):
    """The shipped review in both stores, one eval run, one system per store (issue: within 0.01)."""
    from peerqa.eval.runner import run_eval

    settings, _report = review_index
    init(pg_url)
    pg = settings.model_copy(update={"store_url": pg_url})
    from peerqa.index.pg_copy import folder_to_pg

    folder_to_pg(settings.index_dir, pg)
    result = run_eval(pg, REPO / "eval" / "questions.jsonl", ["full", "full-postgres"], log=lambda _m: None)
    folder_scores, pg_scores = result.report["systems"]["full"], result.report["systems"]["full-postgres"]
    assert folder_scores["hit@5"] > 0.8
    for metric in ("hit@5", "abstention_accuracy", "mrr@10"):
        assert abs(folder_scores[metric] - pg_scores[metric]) <= 0.01, (metric, folder_scores[metric], pg_scores[metric])


def test_pg_old_versions_are_pruned_with_their_indexes(tmp_path, pg_url):
    init(pg_url)
    sources = tmp_path / "sources"
    settings = pg_settings(tmp_path, pg_url, sources, index={"keep_versions": 2})
    built = []
    for i, topic in enumerate(["housing", "employment", "training"]):
        write_doc(sources, f"study-{i}", [topic], repeat=1)
        built.append(run_ingest(settings, show_progress=False).index_version)
    names = [r[0] for r in sql(pg_url, "SELECT name FROM peerqa_versions ORDER BY id")]
    assert names == built[1:] and active_version(settings) == built[-1]
    indexes = {r[0] for r in sql(pg_url, "SELECT indexname FROM pg_indexes WHERE indexname LIKE '%%_hnsw_%%'")}
    ids = [r[0] for r in sql(pg_url, "SELECT id FROM peerqa_versions ORDER BY id")]
    assert indexes == {f"peerqa_{t}_hnsw_{i}" for t in ("chunks", "sentences") for i in ids}
    assert sql(pg_url, "SELECT count(DISTINCT version_id) FROM peerqa_chunks")[0][0] == 2
