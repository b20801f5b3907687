"""`peerqa adapt`: fine-tune the bundled model on the active index's sources (index/adapt.py),
or with --reranker train a cross-encoder re-ranker on them (index/rerank_train.py).

    peerqa adapt [--index-dir DIR] [--out DIR] [--reranker] [--json]

Trains once per corpus (the folder is keyed by the sources' hashes and the training settings; an
existing one is reused) and prints the folder and how to use it. Nothing changes until it is
used: an index built with the adapted model, or the re-ranker named in the settings
(PEERQA_RETRIEVAL__RERANKER). Both are options, not the default (README, "Ranking").
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from peerqa.app.cli_schema import fail, print_json

EXIT_OK, EXIT_FAILED = 0, 1


def default_out(index_dir: Path) -> Path:
    return index_dir.parent / "adapted"


def add_commands(sub, add_index_dir) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser("adapt", help="fine-tune the embedding model on the sources (self-supervised, offline)")
    add_index_dir(p)
    p.add_argument("--out", metavar="DIR", default="", help="where adapted models live (default: <index_dir>/../adapted)")
    p.add_argument("--reranker", action="store_true", help="train a cross-encoder re-ranker instead of adapting "
                   "the embedding model (default: off; about 10 minutes on 2 cores, folder <out>/<key>-ce)")
    p.add_argument("--json", action="store_true", help="print the training record as JSON (default: off)")


def cmd_adapt(args: argparse.Namespace) -> int:
    from peerqa.app.cli import _settings
    from peerqa.app.runtime import open_index
    from peerqa.index.adapt import train
    from peerqa.index.store import IndexLoadError

    settings = _settings(args)
    try:
        index = open_index(settings)
    except IndexLoadError as exc:
        return fail(args.json, "adapt", str(exc), EXIT_FAILED)
    os.nice(10)  # a shared machine: training yields to serving
    out = Path(args.out) if args.out else default_out(settings.index_dir)
    if args.reranker:
        return _reranker(args, settings, index, out)
    folder, record = train(index, settings.model, out, log=lambda m: print(f"adapt: {m}", file=sys.stderr, flush=True))
    if args.json:
        print_json({"folder": str(folder), **record})
    else:
        print(f"adapted model: {folder} ({record['steps']} steps, {record['minutes']} min)")
        print(f"use it: PEERQA_MODEL__NAME={folder} PEERQA_MODEL__SHA256= peerqa ingest --index-dir DIR")
    return EXIT_OK


def _reranker(args: argparse.Namespace, settings, index, out: Path) -> int:  # type: ignore[no-untyped-def]
    from peerqa.app.runtime import get_embedder
    from peerqa.index.embedder import ModelError
    from peerqa.index.rerank_train import train

    try:
        embedder = get_embedder(settings)  # dense hard negatives come from the index's own model
        folder, record = train(index, settings.model, out, embedder=embedder,
                               log=lambda m: print(f"adapt: {m}", file=sys.stderr, flush=True))
    except (ModelError, OSError) as exc:
        return fail(args.json, "adapt", str(exc), EXIT_FAILED)
    use = f"PEERQA_RETRIEVAL__RERANKER={folder}"
    if args.json:
        print_json({"folder": str(folder), **record, "use": use})
    else:
        print(f"re-ranker: {folder} ({record['steps']} steps, {record['minutes']} min)")
        print(f"use it: {use} peerqa ask ... (or serve, eval); weight and depth: "
              "PEERQA_RETRIEVAL__RERANKER_WEIGHT, PEERQA_RETRIEVAL__RERANKER_DEPTH")
    return EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"adapt": cmd_adapt}
