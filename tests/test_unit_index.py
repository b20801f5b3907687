"""Index building, storage and search with a fake embedder: incremental builds, atomic switch,
checksums, FAISS against brute force."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from peerqa.index.builder import BuildError, build_index
from peerqa.index.search import HybridSearcher, brute_force
from peerqa.index.store import IndexLoadError, load_index, read_active
from peerqa.index.vectors import build_faiss, search_faiss
from tests.fakes import FakeEmbedder
from tests.pdfgen import make_pdf
from tests.test_unit_ingest import MINI_DOC

pytestmark = pytest.mark.unit

DIFFERENT_DOC = "\n\n".join(
    f"Paragraph {i} describes family carers, eating disorders and recovery colleges in town {i}." for i in range(12)
)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_faiss_matches_numpy_brute_force(kind):
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(2000, 32)).astype("float32")
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = build_faiss(vecs, kind, hnsw_m=16, ivf_nlist=16)
    hits = 0
    for q in vecs[:20] + 0.01:
        q = q / np.linalg.norm(q)
        exact = brute_force(vecs, q, 10)
        got = [row for row, _ in search_faiss(index, q, 10)]
        if kind == "flat":
            assert got == exact
        hits += len(set(got) & set(exact))
    assert hits / 200 >= (1.0 if kind == "flat" else 0.8)


def _sources(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "mini.txt").write_text(MINI_DOC, encoding="utf-8")
    make_pdf(
        folder / "study.pdf",
        [["A STUDY OF PEER RESPITE", "Peer respite houses offer a calm place to stay.", "Guests valued the peer staff."]],
        title="A study of peer respite",
    )
    return folder


def test_build_is_incremental_and_drops_removed_sources(tmp_path, settings_factory):
    folder = _sources(tmp_path)
    settings = settings_factory(sources_dir=folder)
    emb = FakeEmbedder()
    first = build_index(settings, emb)
    assert [s.status for s in first.sources] == ["ok", "ok"]
    assert first.embedded == first.chunks_total > 0 and first.reused == 0
    again = build_index(settings, emb)
    assert again.embedded == 0 and again.reused == first.embedded
    assert again.index_version == first.index_version  # nothing changed: nothing republished
    (folder / "study.pdf").unlink()
    third = build_index(settings, emb)
    index = load_index(settings.index_dir)
    assert {c.source_path for c in index.chunks} == {"mini.txt"}
    assert third.embedded == 0


def test_broken_file_is_reported_and_the_rest_ingest(tmp_path, settings_factory):
    folder = _sources(tmp_path)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04")
    report = build_index(settings_factory(sources_dir=folder), FakeEmbedder())
    status = {s.path: s for s in report.sources}
    assert status["broken.pdf"].status == "failed" and status["broken.pdf"].error
    assert status["notes.docx"].status == "skipped"
    assert status["mini.txt"].status == "ok" and status["study.pdf"].status == "ok"


def test_duplicate_bytes_are_ingested_once(tmp_path, settings_factory):
    folder = _sources(tmp_path)
    (folder / "mini-copy.txt").write_text(MINI_DOC, encoding="utf-8")
    report = build_index(settings_factory(sources_dir=folder), FakeEmbedder())
    dups = [s for s in report.sources if s.status == "duplicate"]
    assert len(dups) == 1 and report.warnings


def test_failed_build_leaves_the_serving_index(tmp_path, settings_factory):
    folder = _sources(tmp_path)
    settings = settings_factory(sources_dir=folder)
    build_index(settings, FakeEmbedder())
    before = read_active(settings.index_dir)
    (folder / "new.txt").write_text(DIFFERENT_DOC, encoding="utf-8")
    with pytest.raises(RuntimeError):
        build_index(settings, FakeEmbedder(fail_after=0))
    assert read_active(settings.index_dir) == before
    assert load_index(settings.index_dir).version == before
    assert not list(settings.index_dir.glob(".build-*"))


def test_nothing_to_build_raises_without_touching_the_index(tmp_path, settings_factory):
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "junk.pdf").write_bytes(b"garbage")
    settings = settings_factory(sources_dir=folder)
    with pytest.raises(BuildError, match="junk.pdf"):
        build_index(settings, FakeEmbedder())
    assert read_active(settings.index_dir) is None


def test_corrupted_active_version_falls_back_and_model_mismatch_is_refused(tmp_path, settings_factory):
    folder = _sources(tmp_path)
    settings = settings_factory(sources_dir=folder)
    build_index(settings, FakeEmbedder())
    good = read_active(settings.index_dir)
    (folder / "extra.txt").write_text(DIFFERENT_DOC, encoding="utf-8")
    build_index(settings, FakeEmbedder())
    newest = read_active(settings.index_dir)
    chunks_file = settings.index_dir / newest / "chunks.jsonl"
    chunks_file.write_text(chunks_file.read_text() + "tampered\n")
    loaded = load_index(settings.index_dir)
    assert loaded.version == good and "corrupted" in loaded.warnings[0]
    with pytest.raises(IndexLoadError, match="peerqa ingest --rebuild"):
        load_index(settings.index_dir, {"model": "another-model"})
    with pytest.raises(IndexLoadError, match="dimensional"):
        load_index(settings.index_dir, {"dim": 384})


def test_index_folder_is_plain_files_with_metadata(tmp_path, settings_factory):
    settings = settings_factory(sources_dir=_sources(tmp_path))
    report = build_index(settings, FakeEmbedder())
    folder = settings.index_dir / report.index_version
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"] == {"name": "fake-embedder", "sha256": "0" * 64, "dim": 64}
    assert manifest["settings_hash"] == settings.index_hash()
    assert {"torch", "faiss-cpu", "bm25s"} <= set(manifest["packages"])
    assert set(manifest["files"]) >= {"chunks.jsonl", "references.jsonl", "vectors.faiss", "outline.json"}
    for path in folder.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"


def test_settings_that_shape_the_index_change_its_identity(settings_factory):
    a = settings_factory()
    b = settings_factory(chunking={"max_tokens": 128})
    c = settings_factory(retrieval={"k": 3})
    assert a.index_hash() != b.index_hash()
    assert a.index_hash() == c.index_hash()


def test_hybrid_search_finds_the_passage_and_filters(tmp_path, settings_factory):
    settings = settings_factory(sources_dir=_sources(tmp_path))
    build_index(settings, FakeEmbedder())
    index = load_index(settings.index_dir)
    searcher = HybridSearcher(index, FakeEmbedder())
    top = searcher.search("peer respite houses", k=3)
    assert top[0].chunk.source_path == "study.pdf"
    assert top[0].chunk.page_start == 1
    only_txt = searcher.search("peer respite houses", k=3, keep=lambda c: c.source_path == "mini.txt")
    assert only_txt and all(p.chunk.source_path == "mini.txt" for p in only_txt)
    assert searcher.search("peer respite houses", k=3) == top  # deterministic
