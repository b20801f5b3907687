"""`peerqa eval`: run systems over a question file and write the report folder.

    peerqa eval [--questions FILE] [--index-dir DIR] [--report DIR] [--systems full,bm25] [--cv] [--json]

A plug-in of app/cli.py: it calls add_commands(sub, add_index_dir) and dispatches through HANDLERS.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from peerqa.settings import SHIPPED_QUESTIONS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_commands(sub, add_index_dir) -> None:  # type: ignore[no-untyped-def]
    from peerqa.eval.systems import SYSTEM_NAMES

    p = sub.add_parser("eval", help="evaluate retrieval and answers on a question file; write a report")
    p.add_argument("--questions", metavar="FILE", default=str(SHIPPED_QUESTIONS),
                   help="question file (JSON Lines; default: the shipped curated questions)")
    add_index_dir(p)
    p.add_argument("--report", metavar="DIR", default=None,
                   help="folder for REPORT.md, report.json and plots/ (default: <home>/eval, home being "
                        "$PEERQA_HOME or the current folder)")
    p.add_argument("--systems", metavar="A,B", default="",
                   help=f"comma-separated systems (default: all of {','.join(SYSTEM_NAMES)})")
    p.add_argument("--cv", action="store_true",
                   help="also cross-validate the section level's weights, and with the system reranked the "
                        "re-ranker's weight and depth (5 folds over questions, retrieval only; default: off)")
    p.add_argument("--json", action="store_true", help="print the summary and the files written as JSON "
                   "(default: off, one summary line)")


def cmd_eval(args: argparse.Namespace) -> int:
    from peerqa.app.cli import _settings
    from peerqa.app.cli_schema import fail, print_json
    from peerqa.eval.questions import QuestionFileError, load_questions
    from peerqa.eval.systems import EvalError, parse_systems

    try:  # refuse bad arguments before loading the model and the index
        names = parse_systems(args.systems, llm_configured=_settings(args).llm.provider != "none")
        load_questions(Path(args.questions))
    except (EvalError, QuestionFileError) as exc:
        return fail(args.json, "eval", str(exc), EXIT_USAGE)
    from peerqa.eval.report import write_report
    from peerqa.eval.runner import run_eval

    try:
        result = run_eval(_settings(args), Path(args.questions), names, cv=args.cv)
    except EvalError as exc:
        return fail(args.json, "eval", str(exc), EXIT_FAILED)
    files = write_report(result, Path(args.report) if args.report else _settings(args).home / "eval")
    if args.json:
        r = result.report
        print_json({"n_questions": r["n_questions"], "index_version": r.get("index_version", ""),
                    "settings_hash": r.get("settings_hash", ""), "systems": r["systems"],
                    "files": [str(f) for f in files]})
        return EXIT_OK
    print(summary_line(result.report))
    for path in files:
        print(f"  wrote {path}")
    return EXIT_OK


def summary_line(report: dict[str, Any]) -> str:
    parts = []
    for name, s in report["systems"].items():
        text = f"{name}: hit@5 {s['hit@5']:.3f}" if s["hit@5"] is not None else f"{name}: hit@5 –"
        if s.get("abstention_accuracy") is not None:
            text += f", abstention accuracy {s['abstention_accuracy']:.3f}"
        parts.append(text)
    return f"{report['n_questions']} questions; " + "; ".join(parts)


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"eval": cmd_eval}
