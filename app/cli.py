"""The `peerqa` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from peerqa.app.cli_schema import fail, print_json
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
    p.add_argument("--index-dir", help="index folder (default: $PEERQA_INDEX_DIR, else <home>/data/index, home "
                   "being $PEERQA_HOME or the current folder); with --store, the build's work folder and caches")
    p.add_argument("--store", metavar="URL", help="where the index is served from: postgresql://... "
                   "(default: $PEERQA_STORE_URL; empty: the index folder)")


class UsageError(Exception):
    """A command line argparse refused (the message argparse would print)."""


class Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is raised, so `--json` can report it as JSON."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (usage: {self.format_usage().strip().removeprefix('usage: ')})")


def add_json(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--json", action="store_true", help=f"{text} (default: off, plain text)")


def build_parser() -> argparse.ArgumentParser:
    from peerqa import __version__

    parser = Parser(prog="peerqa", description="Evidence answers from the Peer Support Work review.")
    parser.add_argument("--version", action="version", version=f"peerqa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="build or update the index from source files")
    p.add_argument("paths", nargs="*", help="files or folders (default: the sources folder, $PEERQA_SOURCES_DIR "
                   "or <home>/sources; a missing one is created holding the shipped review)")
    _add_index_dir(p)
    p.add_argument("--rebuild", action="store_true", help="re-parse and re-index everything (default: off, "
                   "unchanged sources are reused)")
    add_json(p, "print the build report as JSON")

    p = sub.add_parser("chunks", help="print every chunk of the active index as JSON Lines")
    _add_index_dir(p)
    add_json(p, "JSON Lines (the default already; with --json an error is JSON too)")
    p.add_argument("--jsonl", action="store_true", help="JSON Lines: the default, accepted for old scripts")

    p = sub.add_parser("index-info", help="show the active index")
    _add_index_dir(p)
    add_json(p, "print the index description as JSON")

    p = sub.add_parser("serve", help="start the web app (builds the index first if there is none)")
    _add_index_dir(p)
    p.add_argument("--port", type=int, default=8501, help="port to listen on (default: 8501)")
    p.add_argument("--address", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this "
                   "machine only)")
    add_json(p, "print one JSON line with the URL once the index is ready (errors as JSON)")

    for module in _command_modules():
        module.add_commands(sub, _add_index_dir)
    return parser


# Each of these modules defines add_commands(sub, add_index_dir) and HANDLERS {name: handler}.
COMMAND_MODULES = ("peerqa.app.cli_answer", "peerqa.app.cli_feedback", "peerqa.eval.cli", "peerqa.app.cli_bench", "peerqa.app.cli_store",
                   "peerqa.app.cli_page", "peerqa.app.cli_adapt")


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
        return fail(args.json, "ingest", f"nothing was built: {exc}", EXIT_BUILD_FAILED)
    failed = [s for s in report.sources if s.status == "failed"]
    if args.json:
        out = report.model_dump(include={"chunks_total", "embedded", "reused", "index_version", "seconds",
                                         "citation_link_rate", "warnings"})
        out["sources"] = [{"source": s.path, "status": s.status, "chunks": s.chunks, "error": s.error}
                          for s in report.sources]
        print_json(out)
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
    from peerqa.app.provenance import chunk_fields
    from peerqa.app.runtime import open_index

    settings = _settings(args)
    index = open_index(settings)
    for chunk in index.chunks:
        row = {**chunk_fields(chunk, index.references, settings.sources_dir), "text": chunk.text,
               "embed_text": chunk.embed_text, "context": chunk.context}
        print_json(row, lines=True)
    return EXIT_OK


def cmd_index_info(args: argparse.Namespace) -> int:
    from peerqa.app.runtime import open_index

    index = open_index(_settings(args))
    m = index.manifest
    sources: list[dict[str, Any]] = [
        {"source": s.get("path"), "source_id": s.get("id"), "kind": s.get("kind"), "title": s.get("title"),
         "pages": s.get("pages")} for s in m.get("sources", [])
    ]
    info: dict[str, Any] = {
        "index_dir": getattr(index, "location", "") or str(index.folder.parent),  # a database: its URL
        "index_version": index.version,
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
        print_json(info)
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
        n = m["counts"]["per_source"].get(s["source"], 0)
        print(f"  {s['source']}  [{s['kind']}]  {s['pages']} pages, {n} chunks  {s['title'][:60]}")
    print("Chunks per section:")
    for section, n in m["counts"]["per_section"].items():
        print(f"  {n:>4}  {section or '(no section)'}")
    for w in index.warnings:
        print(f"warning: {w}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from peerqa.app.runtime import serve

    return serve(_settings(args), port=args.port, address=args.address, as_json=args.json)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("bm25s", "sentence_transformers", "transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    parser = build_parser()
    words = sys.argv[1:] if argv is None else argv
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        command = next((w for w in words if not w.startswith("-")), "")
        return fail("--json" in words, command or "peerqa", str(exc), EXIT_USAGE)
    except SystemExit as exc:  # --help, --version
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
    as_json = bool(getattr(args, "json", False))
    command = " ".join(x for x in (args.command, getattr(args, "store_command", None)) if x)
    try:
        from peerqa.index.store_backend import check_store_url

        check_store_url(_settings(args).store_url)
    except ValueError as exc:
        return fail(as_json, command, str(exc), EXIT_USAGE)
    try:
        return handlers[args.command](args)
    except IndexLoadError as exc:
        return fail(as_json, command, str(exc), EXIT_BUILD_FAILED)
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
