"""CI gate: the full engine on eval/questions.jsonl must not fall more than 0.03 below the committed
baseline (eval/baseline.json) on evidence hit@5, abstention accuracy, recall or precision, keyword
coverage or lead hit; its wrong-abstention rate may not rise more than 0.03; and no answer may end on
an unfinished lead-in.

    .venv/bin/python -m peerqa.eval.gate [--index-dir DIR]      # exit 0 pass, 1 regression, 2 cannot run
    .venv/bin/python -m peerqa.eval.gate --write-baseline       # record the current figures as the baseline

Without --index-dir the shipped sources are indexed into a temporary folder first, so the gate
measures the code under test, not whatever index happens to be on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from peerqa.settings import PACKAGE_DIR, SHIPPED_QUESTIONS, SHIPPED_SOURCES, Settings

# Abstention recall too: accuracy is dominated by answerable questions, so "always answer"
# would cost accuracy only ~0.03 and could slip under the tolerance.
GATED = ("hit@5", "abstention_accuracy", "abstention_recall", "abstention_precision", "keyword_coverage", "lead_hit")
LOWER_IS_BETTER = ("wrong_abstention_rate",)  # gated too: may not rise more than the tolerance
MUST_BE_ZERO = ("unfinished_lead_ins",)  # an answer that ends on "...:" with its list missing fails the gate
TOLERANCE = 0.03
QUESTIONS = SHIPPED_QUESTIONS
BASELINE = PACKAGE_DIR / "eval" / "baseline.json"
EXIT_PASS, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2


def verdict(current: dict[str, float | None], baseline: dict[str, Any],
            tolerance: float = TOLERANCE) -> tuple[bool, list[str]]:
    """(passed, one line per gated figure). A figure fails when it is missing or lower than
    baseline − tolerance; rising is always fine."""
    ok = True
    lines = []
    for key in GATED:
        base, now = baseline.get(key), current.get(key)
        if base is None:
            lines.append(f"{key:<20} {_f(now)}  (no baseline figure: not gated)")
            continue
        floor = float(base) - tolerance
        passed = now is not None and now >= floor - 1e-9  # tolerance for float rounding of the JSON
        ok = ok and passed
        lines.append(f"{key:<20} {_f(now)}  baseline {float(base):.3f}, floor {floor:.3f}  "
                     + ("ok" if passed else "REGRESSION"))
    for key in MUST_BE_ZERO:
        now = current.get(key)
        passed = now == 0
        ok = ok and passed
        lines.append(f"{key:<20} {now if now is not None else 'missing'}  must be 0  " + ("ok" if passed else "REGRESSION"))
    for key in LOWER_IS_BETTER:
        base, now = baseline.get(key), current.get(key)
        if base is None:
            lines.append(f"{key:<20} {_f(now)}  (no baseline figure: not gated)")
            continue
        ceiling = float(base) + tolerance
        passed = now is not None and now <= ceiling + 1e-9
        ok = ok and passed
        lines.append(f"{key:<20} {_f(now)}  baseline {float(base):.3f}, ceiling {ceiling:.3f}  "
                     + ("ok" if passed else "REGRESSION"))
    return ok, lines


def _f(value: float | None) -> str:
    return "missing" if value is None else f"{value:.3f}"


def measure(settings: Settings, questions: Path) -> tuple[dict[str, Any], str]:
    """The full engine's figures on the question file, and the index settings hash."""
    from peerqa.eval.runner import run_eval

    result = run_eval(settings, questions, ["full"])
    return result.report["systems"]["full"], result.report["settings_hash"]


def build_temp_index(root: Path) -> Settings:
    """Index the shipped sources into `root` (the gate's private, throw-away index)."""
    from peerqa.app.runtime import run_ingest

    settings = Settings(index_dir=root / "index", sources_dir=SHIPPED_SOURCES)
    print(f"gate: indexing {settings.sources_dir} into a temporary folder", file=sys.stderr, flush=True)
    run_ingest(settings, show_progress=False)
    return settings


def write_baseline(path: Path, figures: dict[str, Any], settings_hash: str) -> None:
    # A figure the question file cannot give (no unanswerable questions: no recall) is not recorded.
    data: dict[str, Any] = {key: round(float(figures[key]), 4) for key in GATED + LOWER_IS_BETTER
                            if figures.get(key) is not None}
    data.update({"index_settings_hash": settings_hash, "measured": date.today().isoformat()})
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def run(args: argparse.Namespace, settings: Settings) -> int:
    figures, settings_hash = measure(settings, args.questions)
    if args.write_baseline:
        write_baseline(args.baseline, figures, settings_hash)
        print(f"gate: wrote {args.baseline}: hit@5 {figures['hit@5']:.3f}, "
              f"abstention accuracy {figures['abstention_accuracy']:.3f}")
        return EXIT_PASS
    baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
    passed, lines = verdict(figures, baseline)
    print(f"gate: full engine on {args.questions.name} ({figures['n']} questions), tolerance {TOLERANCE}")
    for line in lines:
        print("  " + line)
    if baseline.get("index_settings_hash") not in (None, settings_hash):
        # Chunking or model settings changed since the baseline was measured: still gated, but say so.
        print(f"  note: index settings hash {settings_hash} differs from the baseline's "
              f"{baseline['index_settings_hash']}; re-measure with --write-baseline if the change is intended")
    print("gate: PASS" if passed else "gate: FAIL (a gated figure dropped more than the tolerance)")
    return EXIT_PASS if passed else EXIT_REGRESSION


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(prog="python -m peerqa.eval.gate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, help="an existing index (default: index ./sources into a temp dir)")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help=argparse.SUPPRESS)  # for tests
    parser.add_argument("--baseline", type=Path, default=BASELINE, help="baseline figures (default: eval/baseline.json)")
    parser.add_argument("--write-baseline", action="store_true", help="record this run's figures as the baseline")
    args = parser.parse_args(argv)
    if not args.write_baseline and not args.baseline.is_file():
        print(f"gate: no baseline file {args.baseline}; create it with --write-baseline", file=sys.stderr)
        return EXIT_ERROR
    from peerqa.eval.questions import QuestionFileError
    from peerqa.index.store import IndexLoadError

    try:
        if args.index_dir is not None:
            return run(args, Settings(index_dir=args.index_dir.resolve()))
        with tempfile.TemporaryDirectory(prefix="peerqa-gate-") as tmp:
            return run(args, build_temp_index(Path(tmp)))
    except (IndexLoadError, QuestionFileError, ValueError) as exc:
        print(f"gate: cannot run: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
