"""`peerqa eval` and the CI gate end to end on the real review index, with a 6-question subset."""

from __future__ import annotations

import json

import pytest

from peerqa.app.cli import main
from peerqa.eval import gate
from peerqa.eval.scoring import COUNT_KEYS, METRIC_KEYS
from tests.conftest import REPO

pytestmark = pytest.mark.integration
TYPES = ("fact", "list", "definition", "synthesis", "unanswerable", "followup")
TOP_KEYS = {"systems", "index_version", "settings_hash", "packages", "questions_file", "n_questions", "created"}


@pytest.fixture
def subset(tmp_path):
    """One question of each type from the curated set."""
    rows = [json.loads(line) for line in (REPO / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    picked = [next(r for r in rows if r["type"] == t) for t in TYPES]
    path = tmp_path / "subset.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in picked), encoding="utf-8")
    return path


def test_eval_writes_the_report_folder_with_sane_figures(review_index, subset, tmp_path, capsys):
    settings, _ = review_index
    out = tmp_path / "report"
    code = main(["eval", "--questions", str(subset), "--index-dir", str(settings.index_dir),
                 "--report", str(out), "--systems", "full,bm25"])
    assert code == 0, capsys.readouterr().err
    for name in ("REPORT.md", "report.json", "plots/hit_at_k.png", "plots/sections_hit5.png", "plots/latency.png"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert TOP_KEYS <= set(data) and data["n_questions"] == 6
    assert list(data["systems"]) == ["full", "bm25"]
    assert data["packages"] and data["index_version"] and data["settings_hash"]
    full, bm25 = data["systems"]["full"], data["systems"]["bm25"]
    for system in (full, bm25):
        assert set(METRIC_KEYS) <= set(system) and {"by_type", "by_section"} <= set(system)
        assert set(system["by_type"]) == set(TYPES)
        for key in METRIC_KEYS:
            value = system[key]
            if value is None or key.endswith("_ms"):
                continue
            if key in COUNT_KEYS or key == "answer_words":
                assert value >= 0, (key, value)  # counts and lengths
            else:
                assert 0.0 <= value <= 1.0, (key, value)
        assert system.get("unfinished_lead_ins") in (None, 0)
        assert system["latency_p50_ms"] > 0 and system["latency_p95_ms"] >= system["latency_p50_ms"]
    assert full["hit@10"] is not None and full["hit@10"] >= full["hit@5"] >= full["hit@1"]
    assert full["abstention_accuracy"] is not None and full["keyword_coverage"] is not None
    assert bm25["abstention_accuracy"] is None and bm25["citation_support"] is None
    md = (out / "REPORT.md").read_text(encoding="utf-8")
    assert "| full |" in md and "| bm25 |" in md
    assert "6 questions" in capsys.readouterr().out


def test_gate_passes_against_its_own_baseline_and_fails_a_higher_one(review_index, subset, tmp_path, capsys):
    settings, _ = review_index
    baseline = tmp_path / "baseline.json"
    common = ["--index-dir", str(settings.index_dir), "--questions", str(subset), "--baseline", str(baseline)]
    assert gate.main([*common, "--write-baseline"]) == 0
    recorded = json.loads(baseline.read_text(encoding="utf-8"))
    assert {"hit@5", "abstention_accuracy", "abstention_recall", "keyword_coverage", "lead_hit",
            "index_settings_hash", "measured"} <= set(recorded)
    assert gate.main(common) == 0
    assert "gate: PASS" in capsys.readouterr().out
    baseline.write_text(json.dumps({**recorded, "hit@5": recorded["hit@5"] + 0.05}), encoding="utf-8")
    assert gate.main(common) == 1
    assert "REGRESSION" in capsys.readouterr().out


def test_eval_cv_reports_the_section_weights_in_sample_and_cross_validated(review_index, subset, tmp_path):
    settings, _ = review_index
    out = tmp_path / "report"
    assert main(["eval", "--questions", str(subset), "--index-dir", str(settings.index_dir),
                 "--report", str(out), "--systems", "full", "--cv"]) == 0
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    cv = data["ranking_cv"]
    assert cv["n"] == 5  # the unanswerable question has no evidence
    assert len(cv["cross_validated"]["weights_per_fold"]) == 5
    for part in ("off", "shipped", "in_sample", "cross_validated"):
        assert all(0.0 <= cv[part][k] <= 1.0 for k in ("hit@5", "mrr@10", "recall@5")), part
    # in-sample is the best of the grid, so at least as good as off and shipped
    score = {p: cv[p]["hit@5"] + cv[p]["mrr@10"] for p in ("off", "shipped", "in_sample")}
    assert score["in_sample"] >= max(score["off"], score["shipped"]) - 1e-9
    assert "Section level: in-sample and cross-validated" in (out / "REPORT.md").read_text(encoding="utf-8")
    urc = data["unit_rank_cv"]
    assert urc["n"] == 5 and urc["shipped"]["weight"] == settings.retrieval.unit_rank_weight
    assert len(urc["cross_validated"]["weights_per_fold"]) == 5 and 0.0 in urc["grid"]
    score = {p: urc[p]["hit@5"] + urc[p]["mrr@10"] for p in ("off", "shipped", "in_sample")}
    assert score["in_sample"] >= max(score["off"], score["shipped"]) - 1e-9
    # the re-ordering moves passages within the top 5 only, so hit@5 never changes with the weight
    assert len({round(v["hit@5"], 6) for v in urc["per_weight"].values()}) == 1
    assert "Unit re-ordering: in-sample and cross-validated" in (out / "REPORT.md").read_text(encoding="utf-8")
