"""`peerqa feedback-export`: staff feedback → candidate evaluation questions (JSONL)."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_commands(sub, add_index_dir) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser("feedback-export", help="export staff feedback as candidate evaluation questions (JSONL)")
    add_index_dir(p)
    p.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    p.add_argument("--db", metavar="FILE", help="the feedback file (default: <index-dir>/../feedback.sqlite)")
    p.add_argument("--json", action="store_true", help="JSON Lines out as always; errors, and with --out the "
                   "summary, as JSON on stdout (default: off, messages on stderr)")


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from peerqa.app.cli import _settings
    from peerqa.app.cli_schema import fail, print_json
    from peerqa.app.feedback import FeedbackStore, default_path, export_jsonl

    path = Path(args.db) if args.db else default_path(_settings(args))
    try:
        # No feedback yet is not an error: export nothing, and say where we looked.
        store = FeedbackStore(path) if path.exists() else None
        if args.out:
            out_path = Path(args.out)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = out_path.with_name(f".{out_path.name}.tmp")
            with tmp.open("w", encoding="utf-8") as fh:
                n = export_jsonl(store, fh) if store else 0
            tmp.replace(out_path)  # a reader never sees half a file
        else:
            n = export_jsonl(store, sys.stdout) if store else 0
    except sqlite3.DatabaseError as exc:
        return fail(args.json, "feedback-export", f"cannot read {path}: {exc}", EXIT_FAILED)
    except OSError as exc:
        return fail(args.json, "feedback-export", f"cannot write {args.out}: {exc.strerror or exc}", EXIT_FAILED)
    if args.json and args.out:
        print_json({"exported": n, "db": str(path), "out": str(args.out)})
    if store is None:
        print(f"peerqa feedback-export: no feedback file at {path}; nothing to export", file=sys.stderr)
    else:
        print(f"peerqa feedback-export: {n} candidate question(s) from {path}", file=sys.stderr)
    return EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"feedback-export": cmd_feedback_export}
