"""The `peerqa` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from peerqa.settings import Settings

EXIT_OK, EXIT_BUILD_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "index_dir", None):
        overrides["index_dir"] = Path(args.index_dir).resolve()
    if getattr(args, "store", None) is not None:
        overrides["store_url"] = args.store
    return Settings(**overrides)  # type: ignore[arg-type]


def _add_index_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-dir", help="index folder (default: $PEERQA_INDEX_DIR or ./data/index); with "
                   "--store, the build's work folder and caches")
    p.add_argument("--store", metavar="URL", help="where the index is served from: postgresql://... "
                   "(default: $PEERQA_STORE_URL; empty: the index folder)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peerqa", description="Evidence answers from the Peer Support Work review.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="build or update the index from source files")
    p.add_argument("paths", nargs="*", help="files or folders (default: the sources folder)")
    _add_index_dir(p)
    p.add_argument("--rebuild", action="store_true", help="re-parse and re-index everything")
    p.add_argument("--json", action="store_true", help="print a JSON report")

    p = sub.add_parser("chunks", help="print every chunk of the active index")
    _add_index_dir(p)
    p.add_argument("--jsonl", action="store_true", required=True, help="one JSON object per line")

    p = sub.add_parser("index-info", help="show the active index")
    _add_index_dir(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("serve", help="start the web app (builds the index first if there is none)")
    _add_index_dir(p)
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="127.0.0.1")

    for module in _command_modules():
        module.add_commands(sub, _add_index_dir)
    return parser


# Each of these modules defines add_commands(sub, add_index_dir) and HANDLERS {name: handler}.
COMMAND_MODULES = ("peerqa.app.cli_answer", "peerqa.app.cli_feedback", "peerqa.eval.cli", "peerqa.app.cli_bench", "peerqa.app.cli_store",
                   "peerqa.app.cli_page")


def _command_modules() -> list[Any]:
    import importlib

    modules = []
    for name in COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return modules


def cmd_ingest(args: argparse.Namespace) -> int:
    from peerqa.app.runtime import run_ingest, seed_sources

    settings = _settings(args)
    paths = [Path(p) for p in args.paths] or None
    if paths is None:
        seed_sources(settings)
    try:
        report = run_ingest(settings, paths, rebuild=args.rebuild, show_progress=not args.json)
    except Exception as exc:  # BuildError, ModelError: nothing was published
        if args.json:
            print(json.dumps({"error": str(exc), "sources": [], "chunks_total": 0}))
        else:
            print(f"peerqa ingest: nothing was built: {exc}", file=sys.stderr)
        return EXIT_BUILD_FAILED
    failed = [s for s in report.sources if s.status == "failed"]
    if args.json:
        out = report.model_dump(include={"sources", "chunks_total", "embedded", "reused", "index_version", "seconds", "citation_link_rate", "warnings"})
        for s in out["sources"]:
            s.pop("source_id", None)
        print(json.dumps(out, indent=1))
    else:
        for s in report.sources:
            line = f"  {s.status:<9} {s.path}"
            if s.chunks:
                line += f"  ({s.chunks} chunks)"
            if s.error:
                line += f"  - {s.error}"
            print(line)
        for w in report.warnings:
            print(f"  warning: {w}")
        rate = f", citation link rate {report.citation_link_rate:.0%}" if report.citation_link_rate is not None else ""
        print(
            f"Index {report.index_version}: {report.chunks_total} chunks, {report.embedded} embedded, "
            f"{report.reused} reused{rate}, {report.seconds:.1f} s"
        )
        if failed:
            print(f"{len(failed)} source(s) failed; the rest are indexed.", file=sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK


def cmd_chunks(args: argparse.Namespace) -> int:
    from peerqa.app.runtime import open_index

    index = open_index(_settings(args))
    out = sys.stdout
    for chunk in index.chunks:
        cites = [index.references[r].model_dump(include={"id", "authors", "year", "title", "doi"}) for r in chunk.cites if r in index.references]
        row = {
            "chunk_id": chunk.id,
            "source": chunk.source_path,
            "section": chunk.section,
            "page": chunk.page_start,
            "page_end": chunk.page_end,
            "char_span": [chunk.char_start, chunk.char_end],
            "kind": chunk.kind,
            "text": chunk.text,
            "embed_text": chunk.embed_text,
            "cites": cites,
            "designs": chunk.designs,
        }
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return EXIT_OK


def cmd_index_info(args: argparse.Namespace) -> int:
    from peerqa.app.runtime import open_index

    index = open_index(_settings(args))
    m = index.manifest
    sources: list[dict[str, Any]] = [
        {k: s.get(k) for k in ("path", "kind", "title", "pages", "id")} for s in m.get("sources", [])
    ]
    info: dict[str, Any] = {
        "index_dir": getattr(index, "location", "") or str(index.folder.parent),  # a database: its URL
        "active_version": index.version,
        "created": m.get("created"),
        "settings_hash": m.get("settings_hash"),
        "settings": m.get("settings"),
        "model": m.get("model"),
        "packages": m.get("packages"),
        "sources": sources,
        "counts": m.get("counts"),
        "citations": m.get("citations"),
        "build_seconds": m.get("build_seconds"),
        "warnings": index.warnings,
    }
    if args.json:
        print(json.dumps(info, indent=1, ensure_ascii=False))
        return EXIT_OK
    print(f"Index folder   {info['index_dir']}")
    print(f"Active version {index.version} (built {info['created']}, {info['build_seconds']} s)")
    print(f"Model          {m['model']['name']} (dim {m['model']['dim']}, sha256 {m['model']['sha256'][:12]}…)")
    print(f"Settings hash  {info['settings_hash']}")
    print(f"Chunks         {m['counts']['chunks']}, references {m['counts']['references']}")
    tokens = m["counts"].get("token_vectors", 0)
    print(f"Token vectors  {tokens} (late interaction)" if tokens else "Token vectors  none (late interaction off)")
    cit = m.get("citations", {})
    if cit.get("seen"):
        print(f"Citations      {cit['resolved']}/{cit['seen']} in-text citations linked ({cit['link_rate']:.0%})")
    print("Sources:")
    for s in sources:
        n = m["counts"]["per_source"].get(s["path"], 0)
        print(f"  {s['path']}  [{s['kind']}]  {s['pages']} pages, {n} chunks  {s['title'][:60]}")
    print("Chunks per section:")
    for section, n in m["counts"]["per_section"].items():
        print(f"  {n:>4}  {section or '(no section)'}")
    for w in index.warnings:
        print(f"warning: {w}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from peerqa.app.runtime import serve

    return serve(_settings(args), port=args.port, address=args.address)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("bm25s", "sentence_transformers", "transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and EXIT_USAGE
    from peerqa.index.store import IndexLoadError

    handlers = {
        "ingest": cmd_ingest,
        "chunks": cmd_chunks,
        "index-info": cmd_index_info,
        "serve": cmd_serve,
    }
    for module in _command_modules():
        handlers.update(module.HANDLERS)
    try:
        from peerqa.index.store_backend import check_store_url

        check_store_url(_settings(args).store_url)
    except ValueError as exc:
        print(f"peerqa: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return handlers[args.command](args)
    except IndexLoadError as exc:
        print(f"peerqa: {exc}", file=sys.stderr)
        return EXIT_BUILD_FAILED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
