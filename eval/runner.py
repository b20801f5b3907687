"""Run systems over a question file and gather the report data (no files written here).

    result = run_eval(settings, Path("eval/questions.jsonl"), ["full", "bm25"])
    result.report   # the dict report.json holds
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peerqa.eval.questions import Question, load_questions
from peerqa.eval.scoring import QuestionScore, score_question, system_summary
from peerqa.eval.systems import DESCRIPTIONS, System, build_systems
from peerqa.index.builder import package_versions
from peerqa.settings import PACKAGE_DIR, Settings

EVAL_PACKAGES = ("langchain-community", "langchain-text-splitters", "matplotlib")
Log = Callable[[str], None]


@dataclass
class EvalResult:
    questions: list[Question]
    scores: dict[str, list[QuestionScore]]  # system → one score per question, in file order
    report: dict[str, Any] = field(default_factory=dict)


def stderr_log(msg: str) -> None:
    print(f"eval: {msg}", file=sys.stderr, flush=True)


def run_systems(systems: list[System], questions: list[Question], log: Log = stderr_log) -> dict[str, list[QuestionScore]]:
    """Every question through every system. Interleaved (each question through all systems before
    the next) so that background load on a shared machine affects every system's latency alike."""
    scores: dict[str, list[QuestionScore]] = {s.name: [] for s in systems}
    t0 = time.perf_counter()
    for i, q in enumerate(questions, start=1):
        for system in systems:
            scores[system.name].append(score_question(q, system.run(q)))
        if i % 25 == 0 or i == len(questions):
            log(f"{i}/{len(questions)} questions, {time.perf_counter() - t0:.0f} s")
    return scores


def display_path(path: Path) -> str:
    """eval/<name> for the shipped question files (stable across checkouts and installs)."""
    try:
        return "eval/" + str(path.resolve().relative_to((PACKAGE_DIR / "eval").resolve()))
    except ValueError:
        return str(path)


def run_eval(settings: Settings, questions_path: Path, system_names: list[str], log: Log = stderr_log,
             cv: bool = False) -> EvalResult:
    """Load the index and the model once, build the systems, run and summarise them; with `cv`, also
    cross-validate the section level's weights over the questions (eval/ranking_cv.py) and the unit
    re-ordering's weight (eval/unit_rank_cv.py), and with
    `reranked` among the systems the re-ranker's weight and depth (eval/rerank_cv.py)."""
    from peerqa.app.runtime import get_embedder, open_index

    t_start = time.perf_counter()
    questions = load_questions(questions_path)
    index = open_index(settings.model_copy(update={"store_url": ""}))  # the folder; full-postgres reads the database
    embedder = get_embedder(settings)
    log(f"{len(questions)} questions, index {index.version}, systems {', '.join(system_names)}")
    t_build = time.perf_counter()
    systems = build_systems(system_names, settings, index, embedder, log)
    build_seconds = time.perf_counter() - t_build
    scores = run_systems(systems, questions, log)
    by_name = {s.name: s for s in systems}
    calibration = None
    if "full" in scores and any(s.signals for s in scores["full"]):
        from peerqa.app.answer.answerability import Thresholds
        from peerqa.eval.calibration import calibrate

        examples = [(s.signals, s.question.should_abstain) for s in scores["full"] if s.signals]
        calibration = calibrate(examples, Thresholds.from_settings(settings.answer))
    report: dict[str, Any] = {
        "systems": {name: system_summary(rows) for name, rows in scores.items()},
        "answers": {name: by_name[name].answers for name in scores},
        "descriptions": {name: DESCRIPTIONS[name] for name in scores},
        "index_version": index.version,
        "settings_hash": index.manifest.get("settings_hash", ""),
        "packages": index.manifest.get("packages", {}),
        "eval_packages": package_versions(EVAL_PACKAGES),
        "questions_file": display_path(questions_path),
        "n_questions": len(questions),
        "question_types": _count(q.type for q in questions),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": {"total": round(time.perf_counter() - t_start, 1), "build_systems": round(build_seconds, 1)},
    }
    if calibration is not None:
        report["calibration"] = calibration
    if cv and "full" in by_name:
        from peerqa.eval.ranking_cv import cross_validate
        from peerqa.eval.systems import EngineSystem

        full = by_name["full"]
        if isinstance(full, EngineSystem):
            t_cv = time.perf_counter()
            report["ranking_cv"] = cross_validate(full.engine, questions, log)
            report["seconds"]["ranking_cv"] = round(time.perf_counter() - t_cv, 1)
            from peerqa.eval.unit_rank_cv import cross_validate as cross_validate_unit_rank

            t_cv = time.perf_counter()
            report["unit_rank_cv"] = cross_validate_unit_rank(full.engine, questions, log)
            report["seconds"]["unit_rank_cv"] = round(time.perf_counter() - t_cv, 1)
            from peerqa.eval.unit_rank_cv import TYPE_PRIOR_GRID

            t_cv = time.perf_counter()  # the same cross-validation, of the answer-type prior's weight
            report["type_prior_cv"] = cross_validate_unit_rank(full.engine, questions, log, "answer_type_weight",
                                                               TYPE_PRIOR_GRID)
            report["seconds"]["type_prior_cv"] = round(time.perf_counter() - t_cv, 1)
    reranked = by_name.get("reranked")
    if cv and reranked is not None:
        from peerqa.eval.rerank_cv import cross_validate as cross_validate_reranker
        from peerqa.eval.systems import EngineSystem

        if isinstance(reranked, EngineSystem):
            t_cv = time.perf_counter()
            report["reranker_cv"] = cross_validate_reranker(reranked.engine, questions, log)
            report["seconds"]["reranker_cv"] = round(time.perf_counter() - t_cv, 1)
    return EvalResult(questions, scores, report)


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out
