"""The shipped review through the real pipeline: pypdf, the bundled model, FAISS and BM25 on disk."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peerqa.app.runtime import open_index, run_ingest
from peerqa.index.embedder import model_dir, sha256_file, token_counter, weights_file
from peerqa.settings import BUNDLED_MODEL_SHA256, Settings
from tests.conftest import REPO, REVIEW_PDF

pytestmark = pytest.mark.integration


def test_bundled_model_weights_are_the_expected_ones():
    settings = Settings()
    assert sha256_file(weights_file(model_dir(settings.model))) == BUNDLED_MODEL_SHA256


def test_review_chunks_are_whole_sectioned_paged_and_within_256_pieces(review_index):
    settings, report = review_index
    assert report.sources[0].status == "ok"
    index = open_index(settings)
    chunks = index.chunks
    count = token_counter(settings.model)
    assert 200 < len(chunks) < 1000
    assert max(count(c.embed_text) + 2 for c in chunks) <= 256
    body = [c for c in chunks if c.kind == "body"]
    assert all(c.section_path and c.page_start for c in body)
    sections = set(index.sections())
    for expected in (
        "Findings › Definitions, Values and the Role › Definitions",
        "Findings › Specific Services › Forensic",
        "Findings › Specific Interventions › Crisis/Inpatient/Discharge Support › Peer Respite",
        "Possible implications for developments in Ireland",
        "Glossary of Terms",
    ):
        assert expected in sections, expected
    # The page a reader sees: Training starts on p. 46 of the report.
    training = [c for c in chunks if c.section_path[-1:] == ["Training"]]
    assert training[0].page_start == 46
    assert not any("Psychiatric services (Washington, D.C.)" in c.text for c in chunks)  # reference list kept out
    assert report.citation_link_rate is not None and report.citation_link_rate > 0.85


def test_chunks_link_citations_to_reference_entries(review_index):
    settings, _ = review_index
    index = open_index(settings)
    cited = [c for c in index.chunks if "Charles et al. (2021)" in c.text]
    assert cited
    refs = [index.references[r] for r in cited[0].cites]
    assert any(r.authors[0] == "Charles" and r.year == 2021 for r in refs)


def test_no_change_rebuild_embeds_nothing(review_index):
    settings, first = review_index
    again = run_ingest(settings, show_progress=False)
    assert again.embedded == 0 and again.reused == first.embedded
    assert again.chunks_total == first.chunks_total


def _cli(*args: str, env_index: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peerqa.app.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_cli_ingest_reports_a_broken_pdf_by_name_and_exits_3(tmp_path):
    sources = tmp_path / "src"
    sources.mkdir()
    shutil.copy(REVIEW_PDF, sources / REVIEW_PDF.name)
    (sources / "truncated.pdf").write_bytes(REVIEW_PDF.read_bytes()[:5000])
    shutil.copy(REVIEW_PDF.with_suffix(".pdf"), sources / "copy-of-review.pdf")
    out = _cli("ingest", str(sources), "--index-dir", str(tmp_path / "idx"), "--json")
    assert out.returncode == 3, out.stderr
    report = json.loads(out.stdout)
    status = {s["source"]: s for s in report["sources"]}
    assert status["truncated.pdf"]["status"] == "failed" and status["truncated.pdf"]["error"]
    # The same bytes twice: the first in name order is ingested, the other reported.
    assert status["copy-of-review.pdf"]["status"] == "ok"
    assert status[REVIEW_PDF.name]["status"] == "duplicate"
    assert report["chunks_total"] > 200 and report["index_version"]

    info = _cli("index-info", "--index-dir", str(tmp_path / "idx"), "--json")
    assert info.returncode == 0
    meta = json.loads(info.stdout)
    assert meta["model"]["sha256"] == BUNDLED_MODEL_SHA256 and meta["counts"]["chunks"] == report["chunks_total"]
    assert meta["counts"]["token_vectors"] > 100 * report["chunks_total"]  # ~170 word pieces a chunk

    chunks = _cli("chunks", "--index-dir", str(tmp_path / "idx"))
    rows = [json.loads(line) for line in chunks.stdout.splitlines()]
    assert len(rows) == report["chunks_total"]
    assert set(rows[0]) >= {"chunk_id", "source", "section", "page", "page_label", "text", "embed_text", "studies"}


def test_cli_without_an_index_says_how_to_build_one(tmp_path):
    out = _cli("index-info", "--index-dir", str(tmp_path / "none"))
    assert out.returncode == 1
    assert "peerqa ingest" in out.stderr


def test_text_rendition_of_the_review_is_a_near_duplicate(tmp_path):
    txt = REPO / "tests" / "data" / "peer-support-work-scoping-review-2023.txt"
    sources = tmp_path / "src"
    sources.mkdir()
    shutil.copy(REVIEW_PDF, sources / REVIEW_PDF.name)
    shutil.copy(txt, sources / "review.txt")
    settings = Settings(index_dir=tmp_path / "idx", sources_dir=sources)
    report = run_ingest(settings, show_progress=False)
    status = {s.path: s.status for s in report.sources}
    assert status == {REVIEW_PDF.name: "ok", "review.txt": "duplicate"}


def test_langchain_retriever_returns_documents_with_provenance(review_index):
    from peerqa.index.langchain_retriever import PeerQARetriever

    settings, _ = review_index
    retriever = PeerQARetriever.from_settings(settings, k=4)
    docs = retriever.invoke("How are peer support workers trained?")
    assert len(docs) == 4
    assert any("Training" in d.metadata["section"] for d in docs)
    # LangChain's loader conventions: page is the 0-based page of the file, page_label as printed
    assert all(d.metadata["source"] == "peer-support-work-scoping-review-2023.pdf" for d in docs)
    assert all(isinstance(d.metadata["page"], int) and d.metadata["page_label"].isdigit() for d in docs)


def test_token_vectors_are_the_models_own_word_pieces_and_match_paraphrases(review_index):
    """Late interaction on the real model: one unit vector per word piece of what was embedded,
    the same text vectors as embed(), and a paraphrase ("burnt out") scoring the passage that
    says "burnout" above one that does not."""
    import numpy as np

    from peerqa.app.runtime import get_embedder
    from peerqa.index.late_interaction import query_pieces

    settings, _ = review_index
    index = open_index(settings)
    tv = index.token_vectors
    assert tv is not None and tv.rows == len(index.chunks)
    count = token_counter(settings.model)
    for row in (0, len(index.chunks) // 2, len(index.chunks) - 1):
        assert tv.offsets[row + 1] - tv.offsets[row] == count(index.chunks[row].embed_text)
    norms = np.linalg.norm(tv.vectors[:500].astype("float32"), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-2)

    embedder = get_embedder(settings)
    question = "Are peer workers more burnt out than other staff?"
    vecs, (tokens,) = embedder.embed_with_tokens([question])
    assert np.allclose(vecs[0], embedder.embed([question])[0], atol=1e-5)
    assert "burnt" in [tokens.tokens[i] for i in query_pieces(tokens)]
    assert "the" not in [tokens.tokens[i] for i in query_pieces(tokens)]
    burnout = next(i for i, c in enumerate(index.chunks) if "burnout were not significantly different" in c.text)
    unrelated = next(i for i, c in enumerate(index.chunks) if "search terms used included" in c.text)
    scores = tv.scores(tokens, [burnout, unrelated])
    assert scores[0] > scores[1] + 0.05
