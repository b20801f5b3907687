"""Evaluation: metrics, question files, scoring, report and gate logic on tiny hand-made inputs."""

from __future__ import annotations

import json
import math

import pytest

from peerqa.eval import metrics
from peerqa.eval.gate import verdict, write_baseline
from peerqa.eval.questions import NO_SECTION, Question, QuestionFileError, load_questions, section_labels
from peerqa.eval.report import render_markdown, write_report
from peerqa.eval.runner import EvalResult
from peerqa.eval.scoring import METRIC_KEYS, AnswerView, Outcome, score_question, system_summary
from peerqa.eval.systems import SYSTEM_NAMES, EvalError, parse_systems, variant_settings

pytestmark = pytest.mark.unit

QUOTE = "Peer support workers ‘draw’ on their own lived experience of recovery - and hope"
PASSAGE = "Intro text. PEER support workers 'draw' on their own\n lived   experience of *recovery* – and hope."


# -- evidence matching --------------------------------------------------------------------
def test_normalise_folds_case_quotes_dashes_stars_and_space():
    assert metrics.normalise("  A “B” ‘c’ – d — *e*\n\tF ") == 'a "b" \'c\' - d - e f'


def test_quote_matches_after_normalising_and_not_otherwise():
    assert metrics.quote_matches(QUOTE, PASSAGE)
    assert not metrics.quote_matches("peer support workers draw on training manuals", PASSAGE)
    assert not metrics.quote_matches("", PASSAGE)


def test_a_quote_split_by_a_chunk_boundary_counts_where_half_its_5grams_are():
    quote = "one two three four five six seven eight nine ten"  # 6 five-grams
    first = "start of chunk one two three four five six seven eight"  # holds 4 of 6
    second = "seven eight nine ten and the rest"  # holds 0 of 6 (no full 5-gram)
    assert metrics.quote_matches(quote, first)
    assert not metrics.quote_matches(quote, second)
    assert metrics.quote_matches(quote, "x one two three four five six seven y")  # 3 of 6: exactly half
    assert not metrics.quote_matches(quote, "x one two three four five six y")  # 2 of 6


def test_short_quotes_need_full_containment():
    assert metrics.quote_matches("lived experience", PASSAGE)
    assert not metrics.quote_matches("lived expertise", PASSAGE)


# -- ranking metrics ----------------------------------------------------------------------
def test_hit_mrr_and_recall_on_a_ranked_list():
    rel = [False, False, True, False]
    assert [metrics.hit_at_k(rel, k) for k in (1, 3, 5)] == [0.0, 1.0, 1.0]
    assert metrics.mrr_at_k(rel, 10) == pytest.approx(1 / 3)
    assert metrics.mrr_at_k(rel, 2) == 0.0
    assert metrics.mrr_at_k([], 10) == 0.0
    passages = ["alpha beta", "nothing", "gamma delta"]
    assert metrics.recall_at_k(["alpha beta", "gamma delta"], passages, 2) == 0.5
    assert metrics.recall_at_k(["alpha beta", "gamma delta"], passages, 5) == 1.0
    assert metrics.recall_at_k([], passages, 5) is None


def test_ndcg_is_one_for_an_ideal_list_and_discounts_lower_ranks():
    assert metrics.ndcg_at_k([True, False], 10, n_gold=1) == 1.0
    assert metrics.ndcg_at_k([False, True], 10, n_gold=1) == pytest.approx(1 / math.log2(3))
    # Two gold quotes, one found at rank 1: the ideal list would have had two relevant passages.
    assert metrics.ndcg_at_k([True], 10, n_gold=2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    # Overlapping chunks repeat a quote: more relevant passages than quotes never exceed 1.
    assert metrics.ndcg_at_k([True, True, True], 10, n_gold=1) == pytest.approx(1.0)
    assert metrics.ndcg_at_k([False, False], 10, n_gold=1) == 0.0
    assert metrics.ndcg_at_k([], 10, n_gold=0) == 0.0


# -- answer metrics -----------------------------------------------------------------------
def test_keyword_coverage_is_case_insensitive_and_none_without_keywords():
    assert metrics.keyword_coverage(["February 2017", "HSE", "Mayo"], "first employed in february 2017 by the hse") == pytest.approx(2 / 3)
    assert metrics.keyword_coverage([], "anything") is None
    assert metrics.keyword_coverage(["x-ray"], "an X–ray") == 1.0  # dash variants


def test_citation_support_and_precision():
    p1, p2 = "Peer workers reduce readmissions. They also help discharge.", "Unrelated passage."
    sentences = [("They also help discharge.", ("Unrelated passage.", p1)), ("Invented claim.", (p1,)), ("Uncited.", ())]
    assert metrics.citation_support(sentences) == pytest.approx(1 / 3)
    assert metrics.citation_support([]) is None
    assert metrics.citation_precision([p1, p2], ["peer workers reduce readmissions"]) == 0.5
    assert metrics.citation_precision([], ["x"]) is None
    assert metrics.citation_precision([p1], []) is None


def test_abstention_scores_count_the_four_cells():
    pairs = [(True, True), (True, False), (False, True), (False, False), (False, False)]
    s = metrics.abstention_scores(pairs)
    assert s == {"abstention_accuracy": 3 / 5, "abstention_precision": 1 / 2, "abstention_recall": 1 / 2,
                 "wrong_abstention_rate": 1 / 3}
    none = metrics.abstention_scores([(False, False)])
    assert none["abstention_precision"] is None and none["abstention_recall"] is None
    assert none["abstention_accuracy"] == 1.0


def test_percentile_and_mean():
    assert metrics.percentile([10.0, 20.0, 30.0, 40.0], 50) == 25.0
    assert metrics.percentile([100.0] * 19 + [1000.0], 95) == pytest.approx(145.0)
    assert metrics.percentile([], 50) is None
    assert metrics.mean([1.0, None, 0.0]) == 0.5
    assert metrics.mean([None]) is None


# -- question files -----------------------------------------------------------------------
def test_load_questions_reads_any_file_in_the_format(tmp_path):
    path = tmp_path / "q.jsonl"
    rows = [
        {"id": "a", "question": "What is peer respite?", "evidence": ["x"], "section": "A | B", "type": "synthesis"},
        {"question": "And for young people?", "context": [{"question": "What is peer respite?", "answer": "..."}]},
        {"id": "u", "question": "Salary?", "type": "unanswerable", "evidence": [], "section": ""},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    qs = load_questions(path)
    assert [q.id for q in qs] == ["a", "2", "u"]
    assert qs[0].sections == ["A", "B"] and qs[1].type == "fact"
    assert qs[1].context == (("What is peer respite?", "..."),)
    assert qs[2].should_abstain and qs[2].sections == [NO_SECTION]
    assert section_labels("Context") == ["Context"]
    path.write_text('{"id": 1}\n', encoding="utf-8")
    with pytest.raises(QuestionFileError, match="line 1"):
        load_questions(path)
    with pytest.raises(QuestionFileError):
        load_questions(tmp_path / "missing.jsonl")


# -- scoring and summaries ------------------------------------------------------------------
def _q(qid: str, qtype: str = "fact", evidence: tuple[str, ...] = ("gold quote here",), section: str = "S1",
       keywords: tuple[str, ...] = ("gold",)) -> Question:
    return Question(id=qid, question=f"question {qid}?", type=qtype, section=section, evidence=evidence, keywords=keywords)


def _answer(text: str, cited: str, abstained: bool = False) -> AnswerView:
    return AnswerView(text, abstained, ((text, (cited,)),) if not abstained else (), (cited,) if not abstained else ())


def test_score_question_for_an_answer_and_for_a_baseline():
    q = _q("q1")
    hit = Outcome(("other", "the gold quote here indeed"), 120.0, _answer("the gold quote here", "the gold quote here indeed"))
    s = score_question(q, hit)
    assert s.values["hit@1"] == 0.0 and s.values["hit@3"] == 1.0 and s.values["mrr@10"] == 0.5
    assert s.values["keyword_coverage"] == 1.0 and s.values["citation_support"] == 1.0
    assert s.values["citation_precision"] == 1.0 and s.abstained is False
    base = score_question(q, Outcome(("gold quote here",), 3.0))
    assert base.abstained is None and base.values["keyword_coverage"] is None and base.values["hit@1"] == 1.0
    unanswerable = score_question(_q("u", "unanswerable", (), "", ()), Outcome(("x",), 5.0, _answer("no", "", True)))
    assert unanswerable.values["hit@5"] is None and unanswerable.abstained is True


def test_system_summary_breaks_down_by_type_and_section():
    scores = [
        score_question(_q("a", section="S1 | S2"), Outcome(("gold quote here",), 100.0, _answer("gold", "gold quote here"))),
        score_question(_q("b"), Outcome(("miss",), 200.0, _answer("x", "miss", abstained=True))),
        score_question(_q("u", "unanswerable", (), "", ()), Outcome(("miss",), 300.0, _answer("x", "", True))),
    ]
    s = system_summary(scores)
    assert set(METRIC_KEYS) <= set(s)
    assert s["n"] == 3 and s["n_with_evidence"] == 2
    assert s["hit@5"] == 0.5 and s["abstention_accuracy"] == pytest.approx(2 / 3)
    assert s["wrong_abstention_rate"] == 0.5 and s["abstention_precision"] == 0.5
    assert s["latency_p50_ms"] == 200.0
    assert s["by_section"]["S2"]["n"] == 1 and s["by_section"]["S1"]["n"] == 2
    assert s["by_section"][NO_SECTION]["hit@5"] is None
    assert s["by_type"]["unanswerable"]["abstention_recall"] == 1.0
    assert s["misses"] == {"not_in_top5": ["b"], "wrong_abstention": ["b"], "missed_abstention": []}
    baseline = system_summary([score_question(_q("a"), Outcome(("gold quote here",), 1.0))])
    assert baseline["abstention_accuracy"] is None and baseline["keyword_coverage"] is None


# -- systems, report, gate -------------------------------------------------------------------
def test_parse_systems_keeps_canonical_order_and_refuses_unknown_names():
    assert parse_systems("") == [n for n in SYSTEM_NAMES if n != "full-llm"]
    assert parse_systems("", llm_configured=True) == list(SYSTEM_NAMES)
    assert parse_systems("bm25, full") == ["full", "bm25"]
    with pytest.raises(EvalError, match="nope"):
        parse_systems("full,nope")


def test_variant_settings_change_only_retrieval_switches(settings_factory):
    settings = settings_factory()
    changed = variant_settings(settings, {"hybrid": False})
    assert changed.retrieval.hybrid is False and settings.retrieval.hybrid is True
    assert changed.retrieval.k == settings.retrieval.k and changed.index_dir == settings.index_dir
    assert variant_settings(settings, {}) is settings


def _result() -> EvalResult:
    qs = [_q("a"), _q("u", "unanswerable", (), "", ())]
    full = [score_question(qs[0], Outcome(("gold quote here",), 100.0, _answer("gold", "gold quote here"))),
            score_question(qs[1], Outcome(("x",), 150.0, _answer("no", "", True)))]
    bm25 = [score_question(q, Outcome(("gold quote here",), 2.0)) for q in qs]
    report = {
        "systems": {"full": system_summary(full), "bm25": system_summary(bm25)},
        "answers": {"full": True, "bm25": False},
        "descriptions": {"full": "the engine", "bm25": "BM25 alone"},
        "index_version": "v1", "settings_hash": "abc", "packages": {"numpy": "2"}, "eval_packages": {},
        "questions_file": "q.jsonl", "n_questions": 2, "question_types": {"fact": 1, "unanswerable": 1},
        "created": "2026-01-01T00:00:00+00:00", "seconds": {"total": 1.0, "build_systems": 0.1},
    }
    return EvalResult(qs, {"full": full, "bm25": bm25}, report)


def test_report_folder_has_markdown_json_and_plots(tmp_path):
    files = write_report(_result(), tmp_path / "rep")
    names = {p.relative_to(tmp_path / "rep").as_posix() for p in files}
    assert names == {"report.json", "REPORT.md", "plots/hit_at_k.png", "plots/sections_hit5.png", "plots/latency.png"}
    data = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="utf-8"))
    assert data["systems"]["bm25"]["keyword_coverage"] is None and data["systems"]["full"]["hit@5"] == 1.0
    md = (tmp_path / "rep" / "REPORT.md").read_text(encoding="utf-8")
    assert md.startswith("# Evaluation report") and ".venv/bin/peerqa eval --questions eval/questions.jsonl" in md
    assert "| full | 1.000 |" in md and "plots/hit_at_k.png" in md
    assert all((tmp_path / "rep" / n).read_bytes()[:4] == b"\x89PNG" for n in names if n.endswith(".png"))


def test_markdown_without_the_full_engine_still_renders():
    result = _result()
    result.report["systems"].pop("full")
    result.report["answers"].pop("full")
    md = render_markdown(result.report)
    assert "Change against the full engine" not in md and "| bm25 |" in md


def test_gate_verdict_tolerates_a_small_drop_and_fails_a_larger_one(tmp_path):
    base = {"hit@5": 0.80, "abstention_accuracy": 0.90, "abstention_recall": 0.70, "wrong_abstention_rate": 0.02}
    clean = {"unfinished_lead_ins": 0, "wrong_abstention_rate": 0.02}
    ok, lines = verdict({"hit@5": 0.771, "abstention_accuracy": 0.95, "abstention_recall": 0.70, **clean}, base)
    assert ok and all("ok" in line or "not gated" in line for line in lines)
    ok, lines = verdict({"hit@5": 0.76, "abstention_accuracy": 0.90, "abstention_recall": 0.70, **clean}, base)
    assert not ok and "REGRESSION" in lines[0]
    ok, _ = verdict({"hit@5": 0.80, "abstention_accuracy": None, "abstention_recall": 0.70, **clean}, base)
    assert not ok
    # "Always answer" keeps accuracy within the tolerance here but loses all recall: caught.
    ok, lines = verdict({"hit@5": 0.80, "abstention_accuracy": 0.875, "abstention_recall": 0.0, **clean}, base)
    assert not ok and "REGRESSION" in lines[2]
    # Abstaining on answerable questions may not rise past the tolerance; no unfinished lead-in, ever.
    ok, lines = verdict({"hit@5": 0.80, "abstention_accuracy": 0.9, "abstention_recall": 0.7,
                         "unfinished_lead_ins": 0, "wrong_abstention_rate": 0.06}, base)
    assert not ok and any("wrong_abstention_rate" in line and "REGRESSION" in line for line in lines)
    ok, lines = verdict({"hit@5": 0.80, "abstention_accuracy": 0.9, "abstention_recall": 0.7,
                         "unfinished_lead_ins": 1, "wrong_abstention_rate": 0.02}, base)
    assert not ok and any("unfinished_lead_ins" in line and "REGRESSION" in line for line in lines)
    ok, lines = verdict({"hit@5": 0.1, "abstention_accuracy": 0.1, "unfinished_lead_ins": 0}, {})
    assert ok and "not gated" in lines[0]
    path = tmp_path / "baseline.json"
    write_baseline(path, {"hit@5": 0.812345, "abstention_accuracy": 0.9, "abstention_recall": None}, "hash1")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {"hit@5", "abstention_accuracy", "index_settings_hash", "measured"}
    assert data["hit@5"] == 0.8123


def test_eval_command_is_registered_and_refuses_bad_arguments(tmp_path, capsys):
    from peerqa.app.cli import build_parser, main

    args = build_parser().parse_args(["eval", "--questions", "q.jsonl", "--systems", "full,bm25"])
    assert args.command == "eval" and args.systems == "full,bm25"
    assert main(["eval", "--questions", str(tmp_path / "none.jsonl"), "--index-dir", str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "q.jsonl").write_text('{"question": "x?"}\n', encoding="utf-8")
    assert main(["eval", "--questions", str(tmp_path / "q.jsonl"), "--systems", "bogus"]) == 2
    assert "unknown system" in capsys.readouterr().err
