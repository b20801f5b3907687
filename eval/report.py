"""Write an evaluation's report folder: report.json, REPORT.md and plots/*.png.

    write_report(result, Path("eval"))   # eval/report.json, eval/REPORT.md, eval/plots/*.png
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peerqa.eval.plots import MAIN, write_plots
from peerqa.eval.questions import UNANSWERABLE
from peerqa.eval.runner import EvalResult
from peerqa.eval.scoring import ANSWER_KEYS, COUNT_KEYS, RETRIEVAL_KEYS

REGENERATE = ".venv/bin/peerqa eval --questions eval/questions.jsonl"
LABELS = {
    "hit@1": "hit@1", "hit@3": "hit@3", "hit@5": "hit@5", "hit@10": "hit@10", "mrr@10": "MRR@10",
    "ndcg@10": "nDCG@10", "recall@5": "recall@5", "abstention_accuracy": "abst. acc",
    "abstention_precision": "abst. P", "abstention_recall": "abst. R", "wrong_abstention_rate": "wrong abst.",
    "keyword_coverage": "keywords", "citation_support": "cit. support", "citation_precision": "cit. precision",
    "latency_p50_ms": "p50 ms", "latency_p95_ms": "p95 ms",
    "lead_hit": "lead hit", "list_completeness": "list compl.", "answer_words": "words",
    "unfinished_lead_ins": "unfinished lead-ins", "unbalanced_quotes": "unbal. quotes",
    "dangling_anaphora": "dangling anaphora", "repeated_units": "repeated units",
}
ANSWER_TABLE = ("abstention_accuracy", "abstention_precision", "abstention_recall", "wrong_abstention_rate",
                *ANSWER_KEYS, *COUNT_KEYS, "latency_p50_ms", "latency_p95_ms")
DELTA_KEYS = ("hit@1", "hit@5", "mrr@10", "ndcg@10", "recall@5", "abstention_accuracy", "keyword_coverage", "lead_hit")
SECTION_KEYS = ("hit@5", "mrr@10", "recall@5", "abstention_accuracy", "keyword_coverage")
DEFINITIONS = """\
- **Evidence match.** A gold quote lies in a passage when, after lowercasing, straightening quote marks,
  mapping dashes to `-`, dropping `*` and collapsing white space, it is a substring of the passage, or at
  least half of its word 5-grams occur in the passage (a quote a chunk boundary splits). A passage is
  relevant when it holds a gold quote. Retrieval figures read the first 10 passages and average over the
  questions with gold quotes (`n_with_evidence`); unanswerable questions have none.
- **hit@k**: share of questions with a relevant passage among the first k. **recall@5**: share of a
  question's gold quotes found in the first 5, averaged. **MRR@10**: mean reciprocal rank of the first
  relevant passage (0 if none in 10). **nDCG@10**: binary gains; the ideal list has
  max(gold quotes, relevant passages retrieved) relevant passages, capped at 10.
- **Abstention** (engine systems only; unanswerable = should abstain): accuracy = right calls / all
  questions; precision = right abstentions / abstentions; recall = abstentions on unanswerable /
  unanswerable; wrong abst. = abstentions on answerable / answerable questions.
- **keywords**: share of a question's keywords found in the answer text (normalised as above; an
  abstention covers none), averaged over questions with keywords. **cit. support**: share of answer
  sentences contained in a passage they cite. **cit. precision**: share of cited passages that hold a gold
  quote. Both over answered (not abstained) questions.
- **What the answer says** (answer units: a sentence with its antecedent, a lead-in with its list):
  **lead hit**: the first unit holds a keyword (an abstention on an answerable question counts 0);
  **list compl.**: keyword coverage of list questions; **words**: mean length of answered answers.
  Counted over all answers (each should be 0): **unfinished lead-ins** (a unit ending on ":",
  "include", "such as", "the following"), **unbal. quotes** (a unit whose quotation marks do not
  pair), **dangling anaphora** (the answer opens with "They/These/This ..." unresolved),
  **repeated units** (a follow-up's unit that an earlier answer of its conversation showed; follow-ups
  are asked after their context questions, each answered by the same system).
- **Latency**: p50/p95 of the engine's `total_ms` per question (question → answer, retrieval and
  composition). For the baselines, the wall time of their retrieval call.
- **Sections**: the question's `section` field; a synthesis question's `A | B` counts under both A and
  B, so section rows add up to more than the question count. Unanswerable questions have no section and
  appear under `(no section)`.
"""


def fmt(value: Any, key: str = "") -> str:
    if value is None:
        return "–"
    if key.endswith("_ms"):
        return f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def metric_table(groups: dict[str, dict[str, Any]], keys: tuple[str, ...], first: str,
                 counts: bool = False) -> list[str]:
    header = [first] + (["n", "n ev."] if counts else []) + [LABELS[k] for k in keys]
    rows = []
    for name, figures in groups.items():
        lead = [name] + ([str(figures["n"]), str(figures["n_with_evidence"])] if counts else [])
        rows.append(lead + [fmt(figures.get(k), k) for k in keys])
    return table(header, rows)


def _delta(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None else f"{a - b:+.3f}"


def won_lost(system: dict[str, Any], full: dict[str, Any]) -> str:
    """Paired hit@5 counts: questions this system gets into the top 5 and full does not, and back."""
    mine, theirs = set(system["misses"]["not_in_top5"]), set(full["misses"]["not_in_top5"])
    return f"+{len(theirs - mine)} / −{len(mine - theirs)}"


def ablation_table(systems: dict[str, dict[str, Any]]) -> list[str]:
    full = systems[MAIN]
    rows = [[name] + [_delta(figures.get(k), full.get(k)) for k in DELTA_KEYS] + [won_lost(figures, full)]
            for name, figures in systems.items() if name != MAIN]
    out = table(["system − full"] + [LABELS[k] for k in DELTA_KEYS] + ["hit@5 won / lost"], rows)
    if full["n_with_evidence"]:
        # Small differences are single questions; say how small, so nobody reads noise as a finding.
        out += ["", f"One question moves hit@k by {1 / full['n_with_evidence']:.3f} ({full['n_with_evidence']} "
                    f"questions with evidence) and abstention accuracy by {1 / full['n']:.3f}. "
                    "\"won / lost\": questions with the evidence in the top 5 for this system but not for full, "
                    "and the reverse."]
    return out


def type_hit_table(systems: dict[str, dict[str, Any]], key: str = "hit@5") -> list[str]:
    types = sorted({t for s in systems.values() for t in s["by_type"]})
    rows = [[name] + [fmt(s["by_type"].get(t, {}).get(key)) for t in types] for name, s in systems.items()]
    return table([f"{key} by type"] + types, rows)


def never_abstain_note(report: dict[str, Any]) -> list[str]:
    """The trivial reference for abstention accuracy: a system that always answers."""
    n = report["n_questions"]
    unanswerable = report["question_types"].get(UNANSWERABLE, 0)
    if not n or not any(report["answers"].values()):
        return []
    return [f"For reference: always answering scores abstention accuracy {(n - unanswerable) / n:.3f} on this file "
            f"({unanswerable} of {n} questions are unanswerable); abstaining on everything scores "
            f"{unanswerable / n:.3f}.", ""]


def calibration_section(cal: dict[str, Any]) -> list[str]:
    """The abstention thresholds: as configured, learned in-sample, and 5-fold cross-validated."""
    keys = ("abstention_precision", "abstention_recall", "wrong_abstention_rate", "abstention_accuracy")
    rows = []
    for name, label in (("current", "as configured"), ("in_sample", "learned, in-sample"),
                        ("cross_validated", f"learned, {cal['cross_validated']['folds']}-fold cross-validated")):
        part = cal[name]
        t = part.get("thresholds")
        shown = ", ".join(f"{k.replace('_similarity', '')} {v:.3f}" for k, v in t.items()) if t else "per fold"
        rows.append([label, *[fmt(part.get(k)) for k in keys], shown])
    return [
        "### Abstention calibration (`full`)",
        "",
        f"Thresholds of the abstention decision searched on the full engine's signals for {cal['n']} questions "
        f"({cal['n_unanswerable']} unanswerable), maximising abstention F1; cross-validated figures pool the "
        "held-out predictions of thresholds chosen on the other four fifths (eval/calibration.py).",
        "",
        *table(["thresholds", *[LABELS[k] for k in keys], "values"], rows),
        "",
    ]


def _cv_rows(cv: dict[str, Any], off: str, cells: Callable[[dict[str, Any], dict[str, Any]], list[str]]) -> list[list[str]]:
    """The four rows of a cross-validation table (off, as configured, best in-sample, held out),
    each its label and `cells(part, synthesis part)`."""
    labels = (("off", off), ("shipped", "as configured"), ("in_sample", "best, in-sample"),
              ("cross_validated", f"chosen on 4/5, scored on 1/5 ({cv['cross_validated']['folds']} folds)"))
    return [[label, *cells(cv[name], cv[name]["by_type"].get("synthesis", {}))] for name, label in labels]


def _ranked_cells(part: dict[str, Any], syn: dict[str, Any], shown: str) -> list[str]:
    return [fmt(part["hit@1"]), fmt(part["hit@5"]), fmt(part["mrr@10"]), fmt(part["recall@5"]), fmt(syn.get("hit@5")),
            shown]


def ranking_cv_section(cv: dict[str, Any]) -> list[str]:
    """The section level's weights: off, as shipped, best in-sample, and 5-fold cross-validated."""
    def cells(part: dict[str, Any], syn: dict[str, Any]) -> list[str]:
        w = part.get("weights")
        shown = f"heading {w[0]:g}, best-of {w[1]:g}" if w else \
            "; ".join(f"({h:g}, {b:g})" for h, b in part.get("weights_per_fold", []))
        return [fmt(part["hit@5"]), fmt(part["mrr@10"]), fmt(part["recall@5"]), fmt(syn.get("hit@5")),
                fmt(syn.get("recall@5")), shown]

    rows = _cv_rows(cv, "off (0, 0)", cells)
    return [
        "### Section level: in-sample and cross-validated (`full`, retrieval only)",
        "",
        f"The two section weights (index/sections.py) over a grid (heading {cv['grid']['heading']}, best-of "
        f"{cv['grid']['best']}) for {cv['n']} questions with evidence; the cross-validated row pools the held-out "
        "fifths, each scored with the pair that maximised hit@5 + MRR@10 on the other four (eval/ranking_cv.py).",
        "",
        *table(["section weights", "hit@5", "MRR@10", "recall@5", "synthesis hit@5", "synthesis recall@5", "weights"],
               rows),
        "",
    ]


def unit_rank_cv_section(cv: dict[str, Any]) -> list[str]:
    """The unit re-ordering's weight: off (the fused order), as configured, best in-sample, and
    5-fold cross-validated (eval/unit_rank_cv.py)."""
    return engine_weight_cv_section(
        cv, "Unit re-ordering", "unit re-ordering",
        "The top passages re-ordered by fused + weight x their best answer unit's score (app/answer/unit_rank.py)")


def type_prior_cv_section(cv: dict[str, Any]) -> list[str]:
    """The answer-type prior's weight, the same way (eval/unit_rank_cv.py)."""
    return engine_weight_cv_section(
        cv, "Answer-type prior", "answer-type prior",
        "A candidate that holds the kind of answer asked for (a list, a definition of the term) scoring fused + "
        "weight (app/answer/type_prior.py)")


def engine_weight_cv_section(cv: dict[str, Any], title: str, column: str, what: str) -> list[str]:
    def shown(part: dict[str, Any]) -> str:
        return f"{part['weight']:g}" if "weight" in part else "; ".join(f"{w:g}" for w in part.get("weights_per_fold", []))

    rows = _cv_rows(cv, "off (weight 0)", lambda part, syn: _ranked_cells(part, syn, shown(part)))
    return [
        f"### {title}: in-sample and cross-validated (`full`)",
        "",
        f"{what}, weights {cv['grid']}, {cv['n']} questions with evidence, each asked of the engine; the "
        "cross-validated row pools the held-out fifths, each scored with the weight that maximised hit@5 + MRR@10 "
        "on the other four (eval/unit_rank_cv.py).",
        "",
        *table([column, "hit@1", "hit@5", "MRR@10", "recall@5", "synthesis hit@5", "weight"], rows),
        "",
    ]


def reranker_cv_section(cv: dict[str, Any]) -> list[str]:
    """The re-ranker's weight and depth: off (the fused order), as configured, best in-sample, and
    5-fold cross-validated (eval/rerank_cv.py)."""
    def shown(part: dict[str, Any]) -> str:
        point = part.get("point")
        return f"{point[0]:g} over the top {point[1]}" if point else \
            "; ".join(f"({w:g}, {d})" for w, d in part.get("points_per_fold", []))

    rows = _cv_rows(cv, "off (weight 0)", lambda part, syn: _ranked_cells(part, syn, shown(part)))
    return [
        "### Re-ranker: in-sample and cross-validated (`reranked`, retrieval only)",
        "",
        f"fused + weight x sigmoid(cross-encoder logit) over the top `depth` fused candidates (app/answer/rerank.py), "
        f"weights {cv['grid']['weight']}, depths {cv['grid']['depth']}, {cv['n']} questions with evidence; the "
        "cross-validated row pools the held-out fifths, each scored with the point that maximised hit@5 + MRR@10 "
        "on the other four (eval/rerank_cv.py).",
        "",
        *table(["re-ranker", "hit@1", "hit@5", "MRR@10", "recall@5", "synthesis hit@5", "weight, depth"], rows),
        "",
    ]


def render_markdown(report: dict[str, Any]) -> str:
    systems: dict[str, dict[str, Any]] = report["systems"]
    main = MAIN if MAIN in systems else next(iter(systems))
    m = systems[main]
    types = ", ".join(f"{n} {t}" for t, n in sorted(report["question_types"].items(), key=lambda x: -x[1]))
    lines = [
        "# Evaluation report",
        "",
        "Regenerate (writes this file, `eval/report.json` and `eval/plots/*.png`; needs an index of",
        "`./sources`, built by `.venv/bin/peerqa ingest`, or pass `--index-dir DIR`):",
        "",
        "```bash",
        REGENERATE,
        "```",
        "",
        f"Run {report['created']} on `{report['questions_file']}`: {report['n_questions']} questions ({types}); "
        f"index `{report['index_version']}` (settings hash `{report['settings_hash']}`); "
        f"{len(systems)} systems over the same questions in {report['seconds']['total']:.0f} s "
        f"({report['seconds']['build_systems']:.0f} s of it building the in-memory baselines and variants).",
        "",
        "## Systems",
        "",
        *[f"- **{name}**: {report['descriptions'].get(name, '')}" for name in systems],
        "",
        "### Retrieval",
        "",
        *metric_table(systems, (*RETRIEVAL_KEYS, "latency_p50_ms", "latency_p95_ms"), "system"),
        "",
        "### Answers and abstention (engine systems; the baselines do not answer)",
        "",
        *metric_table({n: s for n, s in systems.items() if report["answers"].get(n)}, ANSWER_TABLE, "system"),
        "",
        *never_abstain_note(report),
    ]
    if main == MAIN and len(systems) > 1:
        lines += ["### Change against the full engine", "", *ablation_table(systems), ""]
    if report.get("calibration"):
        lines += calibration_section(report["calibration"])
    if report.get("ranking_cv"):
        lines += ranking_cv_section(report["ranking_cv"])
    if report.get("unit_rank_cv"):
        lines += unit_rank_cv_section(report["unit_rank_cv"])
    if report.get("type_prior_cv"):
        lines += type_prior_cv_section(report["type_prior_cv"])
    if report.get("reranker_cv"):
        lines += reranker_cv_section(report["reranker_cv"])
    lines += [
        "## By question type",
        "",
        *type_hit_table(systems),
        "",
        f"All figures of `{main}` by type:",
        "",
        *metric_table(m["by_type"], RETRIEVAL_KEYS + ANSWER_TABLE, "type", counts=True),
        "",
        f"## By section (`{main}`, weakest hit@5 first)",
        "",
    ]
    by_section = dict(sorted(m["by_section"].items(),
                             key=lambda kv: (kv[1]["hit@5"] is None, kv[1]["hit@5"] or 0.0, kv[0])))
    lines += [*metric_table(by_section, SECTION_KEYS, "section", counts=True), ""]
    miss = m.get("misses", {})
    lines += [
        f"## Questions to look at (`{main}`)",
        "",
        f"- gold evidence not in the top 5 ({len(miss.get('not_in_top5', []))}): "
        + (", ".join(miss.get("not_in_top5", [])) or "none"),
        f"- abstained on an answerable question ({len(miss.get('wrong_abstention', []))}): "
        + (", ".join(miss.get("wrong_abstention", [])) or "none"),
        f"- answered an unanswerable question ({len(miss.get('missed_abstention', []))}): "
        + (", ".join(miss.get("missed_abstention", [])) or "none"),
        "",
        "## Plots",
        "",
        "![hit@k per system](plots/hit_at_k.png)",
        "",
        f"![hit@5 of {main} by section](plots/sections_hit5.png)",
        "",
        *(["![latency](plots/latency.png)", ""] if any(report["answers"].values()) else []),
        "## How the figures are computed",
        "",
        DEFINITIONS,
        f"Packages: {', '.join(f'{k} {v}' for k, v in {**report['packages'], **report['eval_packages']}.items())}.",
        "",
    ]
    return "\n".join(lines)


def rounded(value: Any, places: int = 4) -> Any:
    """Floats rounded for a readable, diff-friendly JSON file."""
    if isinstance(value, float):
        return round(value, places)
    if isinstance(value, dict):
        return {k: rounded(v, places) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, places) for v in value]
    return value


def write_report(result: EvalResult, folder: Path) -> list[Path]:
    """report.json, REPORT.md and plots/*.png into `folder` (created); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "report.json"
    json_path.write_text(json.dumps(rounded(result.report), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = folder / "REPORT.md"
    md_path.write_text(render_markdown(result.report), encoding="utf-8")
    return [json_path, md_path, *write_plots(result.scores, result.report, folder / "plots")]
