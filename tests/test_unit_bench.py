"""The benchmark's plumbing on tiny inputs: the scale run's keys and recall bounds, and the
`peerqa bench` options. Timings are printed by the benchmark, never asserted here."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from peerqa.app.cli import build_parser
from peerqa.index.scale import (
    DEFAULT_SIZES,
    ScaleConfig,
    exact_topk,
    format_scale,
    parse_sizes,
    recall_at_k,
    run_scale,
)

pytestmark = pytest.mark.unit

TINY = ScaleConfig(dim=32, clusters=20, queries=40, ef_search_grid=(8, 16, 64), nprobe_grid=(1, 4, 16))


@pytest.fixture(scope="module")
def tiny_run() -> dict:
    return run_scale([2000], TINY)


def test_scale_run_reports_every_index_with_bounded_recall(tiny_run: dict) -> None:
    (size,) = tiny_run["sizes"]
    assert size["n"] == 2000 and size["dim"] == 32
    assert set(size["indexes"]) == {"flat", "hnsw", "ivf"}
    for kind, r in size["indexes"].items():
        assert {"params", "build_s", "index_bytes", "rss_delta_mb", "recall_at_10", "p50_ms", "p95_ms", "tuned"} <= set(r)
        assert 0.0 <= r["recall_at_10"] <= 1.0, kind
        assert r["index_bytes"] > 0
    assert size["indexes"]["flat"]["recall_at_10"] == 1.0
    assert size["meets_1m_target"] is None  # only judged at 10^6
    assert "2000" in format_scale(tiny_run)


def test_tuning_picks_a_grid_value_and_records_the_curve(tiny_run: dict) -> None:
    indexes = tiny_run["sizes"][0]["indexes"]
    hnsw, ivf = indexes["hnsw"]["tuned"], indexes["ivf"]["tuned"]
    assert hnsw["param"] == "efSearch" and hnsw["value"] in TINY.ef_search_grid
    assert ivf["param"] == "nprobe" and ivf["value"] in TINY.nprobe_grid
    assert indexes["ivf"]["params"]["nlist"] == round(4 * 2000**0.5)
    for tuned in (hnsw, ivf):
        assert all(0.0 <= r <= 1.0 for r in tuned["grid"].values())
        # The smallest setting that reaches the target, or the best of the grid.
        if tuned["reached_target"]:
            assert tuned["grid"][tuned["value"]] >= TINY.target_recall
            assert all(r < TINY.target_recall for v, r in tuned["grid"].items() if v < tuned["value"])


def test_exact_reference_matches_a_full_sort_and_recall_counts_ties() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, 8)).astype("float32")
    queries = rng.standard_normal((5, 8)).astype("float32")
    scores, ids = exact_topk(vectors, queries, 10, block=64)  # several blocks to merge
    full = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :10]
    assert (np.sort(ids, axis=1) == np.sort(full, axis=1)).all()
    assert recall_at_k(ids, vectors, queries, scores, 10) == 1.0
    assert recall_at_k(np.full((5, 10), -1), vectors, queries, scores, 10) == 0.0
    half = ids.copy()
    half[:, 5:] = full[:, -1:]  # repeats of one true neighbour count once
    assert recall_at_k(half, vectors, queries, scores, 10) == pytest.approx(0.6)


def test_same_seed_same_corpus() -> None:
    from peerqa.index.scale import make_corpus

    cfg = replace(TINY, queries=3)
    a, qa = make_corpus(50, cfg)
    b, qb = make_corpus(50, cfg)
    assert a.dtype == np.float32 and a.shape == (50, 32)
    assert np.array_equal(a, b) and np.array_equal(qa, qb)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_parse_sizes() -> None:
    assert parse_sizes("10000,1e5, 1000000") == [10_000, 100_000, 1_000_000]
    for bad in ("", "ten", "0", "-5"):
        with pytest.raises(ValueError):
            parse_sizes(bad)


def test_cli_parser_accepts_the_bench_options() -> None:
    parser = build_parser()
    args = parser.parse_args(["bench", "--index-dir", "/tmp/x", "--json", "--questions", "q.jsonl",
                              "--scale", "1000,2000", "--scale-only", "--hnsw-m", "16", "--hnsw-ef-construction", "40"])
    assert args.command == "bench" and args.json and args.scale_only
    assert args.index_dir == "/tmp/x" and args.questions == "q.jsonl" and args.scale == "1000,2000"
    assert (args.hnsw_m, args.hnsw_ef_construction) == (16, 40)
    bare = parser.parse_args(["bench", "--scale"])
    assert parse_sizes(bare.scale) == list(DEFAULT_SIZES)
    none = parser.parse_args(["bench"])
    assert none.scale is None and not none.scale_only and not none.json
    assert none.questions.endswith("questions.jsonl")


def test_bench_handler_is_registered() -> None:
    from peerqa.app.cli_bench import HANDLERS

    assert "bench" in HANDLERS


def test_bench_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    from peerqa.app.cli import main

    assert main(["bench", "--scale", "many", "--scale-only"]) == 2
    assert "--scale" in capsys.readouterr().err


def test_rebuild_load_sessions_ask_until_the_rebuild_ends_and_report_it():
    import threading
    import time

    from peerqa.app.bench_rebuild import SESSIONS, _during, _sessions, format_rebuild_load

    asked: list[str] = []
    lock = threading.Lock()

    class CountingEngine:
        def ask(self, question: str):
            with lock:
                asked.append(question)
            time.sleep(0.005)

    questions = [f"q{i}" for i in range(8)]
    assert len(_sessions(CountingEngine(), questions, lambda i: i >= 3)) == 3 * SESSIONS
    assert len(set(asked)) > 3  # the sessions start from different questions
    during = _during(CountingEngine(), questions, lambda: time.sleep(0.3), lambda m: None, "fake")
    assert during["n"] >= SESSIONS and during["rebuild_s"] >= 0.3 and during["p95_ms"] >= during["p50_ms"]
    failed = _during(CountingEngine(), questions, lambda: 1 / 0, lambda m: None, "fake")
    assert "ZeroDivisionError" in failed["error"]
    report = {"sessions": SESSIONS, "idle": during, "rebuild_in_thread": during, "rebuild_in_process": during,
              "p95_ratio": {"in_thread": 1.9, "in_process": 2.5}, "target_p95_ratio": 2.0}
    text = format_rebuild_load(report)
    assert "p95 2.5x idle" in text and text.endswith("missed")
    args = build_parser().parse_args(["bench", "--rebuild-load", "--index-dir", "/tmp/x"])
    assert args.rebuild_load and args.index_dir == "/tmp/x"
