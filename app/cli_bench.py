"""`peerqa bench`: serving figures for the shipped corpus and, with --scale, the synthetic scale run.

Shipped corpus (skipped with --scale-only):
  ingest_full_s         a full build of <repo>/sources into a fresh temporary index folder
  ingest_incremental_s  the same sources plus one small generated .txt, ingested again
  cold_start_s          a fresh `python -c` that loads the engine and answers one question
  query_p50_ms / p95    warm Engine.ask over the questions file, after 3 warm-up questions
  peak_rss_mb           getrusage max RSS of this process and of its largest child
  page_p50_ms / max     warm render of each answer's first cited page with its quote highlighted
                        (what opening a citation in the app costs), after one warm-up render
With --index-dir the existing index serves the cold-start and query figures and nothing is built.
Figures are reported against targets, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from peerqa.app.cli_schema import fail
from peerqa.index.scale import DEFAULT_SIZES, format_scale, machine_info, parse_sizes, run_scale, stderr_log
from peerqa.settings import SHIPPED_QUESTIONS, SHIPPED_SOURCES, Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
TARGET_P50_MS, TARGET_P95_MS = 150.0, 400.0
TARGET_PAGE_MS = 1000.0
PAGE_RENDERS = 20
WARMUP = 3
INCREMENTAL_NAME = "bench-incremental-note.txt"
Log = Callable[[str], None]

# Run in a fresh interpreter: everything a first question costs (imports, model, index) counts.
COLD_START = """
import json, sys, time
t0 = time.perf_counter()
from peerqa.app.answer.engine import Engine
from peerqa.settings import Settings
t1 = time.perf_counter()
engine = Engine.from_settings(Settings())
t2 = time.perf_counter()
answer = engine.ask(sys.argv[1])
t3 = time.perf_counter()
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "ask_s": t3 - t2, "abstained": answer.abstained,
                  "vmhwm_mb": round(int(hwm[0]) / 1024, 1) if hwm else None}), flush=True)
"""


def add_commands(sub, add_index_dir) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser("bench", help="time ingest, cold start and queries; optionally the synthetic scale run")
    add_index_dir(p)  # here: an existing index for the query figures (nothing is built)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table (default: off)")
    p.add_argument("--questions", default=str(SHIPPED_QUESTIONS),
                   help="JSONL file whose 'question' fields are timed (default: the shipped curated questions)")
    p.add_argument("--scale", nargs="?", const=",".join(map(str, DEFAULT_SIZES)), default=None, metavar="N,N,...",
                   help="also run the synthetic FAISS scale benchmark at these corpus sizes "
                        "(default sizes: %(const)s)")
    p.add_argument("--scale-only", action="store_true", help="only the scale run (implies --scale; default: off)")
    p.add_argument("--rss-scale", default="100000", metavar="N,N,...",
                   help="with --store: serving-process memory of both stores also on synthetic versions of these "
                        "chunk counts (index/scale_corpus.py; default 100000, 0 to skip)")
    p.add_argument("--rebuild-load", action="store_true",
                   help="only answer p50/p95 of 4 sessions, idle and during a rebuild (in a thread vs a "
                        "separate low-priority process); --index-dir is copied, not changed (default: off)")
    p.add_argument("--hnsw-m", type=int, default=None, help="HNSW M in the scale run (default 32)")
    p.add_argument("--hnsw-ef-construction", type=int, default=None,
                   help="HNSW efConstruction in the scale run (default 80, as index/vectors.py builds)")


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def load_questions(path: Path) -> list[str]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [str(item["question"]) for item in lines if item.get("question")]


def peak_rss_mb() -> dict[str, float]:
    """ru_maxrss (KiB on Linux) of this process and of its largest child. The children's figure is
    an upper bound: Linux carries the parent's RSS at fork over exec into the child's ru_maxrss, so
    a child spawned by a process holding the model reads at least that much. The cold-start child
    therefore also reports its own VmHWM (reset by exec)."""
    return {
        "self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def incremental_text() -> str:
    """A small, plausible source: one heading and a few paragraphs, so it makes a chunk or two."""
    para = ("Peer support workers in the pilot site met weekly for group supervision. Supervisors "
            "with lived experience were valued, and workers asked for clearer role descriptions. ")
    return "Benchmark note on supervision\n\n" + "\n\n".join(para * 2 for _ in range(3)) + "\n"


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = round(time.perf_counter() - t0, 2)


def ingest_figures(index_dir: Path, sources_dir: Path, log: Log) -> dict[str, Any]:
    """Full build of the shipped sources, then an incremental build with one more small file.
    The sources are copied so that the added file never touches the repository's folder."""
    from peerqa.app.runtime import run_ingest

    shutil.copytree(SHIPPED_SOURCES, sources_dir)
    settings = Settings(index_dir=index_dir, sources_dir=sources_dir)
    log(f"full ingest of {SHIPPED_SOURCES} into {index_dir} (includes loading the model)")
    with timed() as full:
        report = run_ingest(settings, show_progress=False)
    log(f"full ingest: {full['s']} s, {report.chunks_total} chunks")
    (sources_dir / INCREMENTAL_NAME).write_text(incremental_text(), encoding="utf-8")
    log("incremental ingest with one added .txt")
    with timed() as inc:
        again = run_ingest(settings, show_progress=False)
    log(f"incremental ingest: {inc['s']} s, embedded {again.embedded}, reused {again.reused}")
    return {
        "ingest_full_s": full["s"],
        "ingest_incremental_s": inc["s"],
        "ingest": {"chunks_full": report.chunks_total, "chunks_incremental": again.chunks_total,
                   "embedded_incremental": again.embedded, "reused_incremental": again.reused},
    }


def cold_start(index_dir: Path, question: str, log: Log) -> dict[str, Any]:
    """Wall time from spawning a fresh interpreter until its first answer line arrives."""
    env = dict(os.environ, PEERQA_INDEX_DIR=str(index_dir), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    log("cold start: fresh interpreter, Engine.from_settings + one ask")
    t0 = time.perf_counter()
    # stderr goes to a file: a pipe nobody reads could fill up with progress bars and stall the child.
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen([sys.executable, "-c", COLD_START, question], stdout=subprocess.PIPE,
                                stderr=errors, text=True, env=env)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        seconds = round(time.perf_counter() - t0, 2)
        proc.communicate()
        errors.seek(0)
        err = errors.read()
    if proc.returncode != 0 or not line.strip():
        raise RuntimeError(f"cold-start child failed (exit {proc.returncode}): {err.strip()[-500:]}")
    inner = {k: round(v, 2) if isinstance(v, float) else v for k, v in json.loads(line).items()}
    log(f"cold start: {seconds} s ({inner})")
    return {"cold_start_s": seconds, "cold_start": inner}


def query_figures(settings: Settings, questions: list[str], log: Log) -> dict[str, Any]:
    from peerqa.app.answer.engine import Engine, QuestionError

    engine = Engine.from_settings(settings)
    for q in questions[:WARMUP]:
        engine.ask(q)
    log(f"warm queries: {len(questions)} questions")
    times: list[float] = []
    abstained = skipped = 0
    cited: list[tuple[str, Any, str]] = []  # (source file, chunk, quote) for the page figure
    for q in questions:
        t0 = time.perf_counter()
        try:
            answer = engine.ask(q)
        except QuestionError:
            skipped += 1  # not a question the engine accepts: no answer time to report
            continue
        times.append((time.perf_counter() - t0) * 1000)
        abstained += answer.abstained
        first = answer.citations[0] if answer.citations else None
        if first is not None and first.passage.chunk.page_start and len(cited) < PAGE_RENDERS:
            cited.append((first.passage.chunk.source_path, first.passage.chunk, first.quote))
    return {
        "cited_pages": cited,
        "query_p50_ms": percentile(times, 50),
        "query_p95_ms": percentile(times, 95),
        "queries": {"timed": len(times), "skipped": skipped, "abstained": abstained, "warmup": WARMUP,
                    "max_ms": round(max(times), 1) if times else None, "chunks": len(engine.index.chunks)},
    }


def corpus_bench(index_dir: Path | None, questions: list[str], log: Log) -> dict[str, Any]:
    out: dict[str, Any] = {"ingest_full_s": None, "ingest_incremental_s": None}
    with tempfile.TemporaryDirectory(prefix="peerqa-bench-") as tmp:
        if index_dir is None:
            index_dir = Path(tmp) / "index"
            out.update(ingest_figures(index_dir, Path(tmp) / "sources", log))
        out["index_dir"] = str(index_dir) if out["ingest_full_s"] is None else "temporary (built above)"
        out.update(cold_start(index_dir, questions[0], log))
        settings = Settings(index_dir=index_dir) if out["ingest_full_s"] is None else \
            Settings(index_dir=index_dir, sources_dir=Path(tmp) / "sources")
        out.update(query_figures(settings, questions, log))
        out.update(page_figures(settings.sources_dir, out.pop("cited_pages"), log))
    out["peak_rss_mb"] = peak_rss_mb()
    out["targets"] = {
        "query_p50_ms": {"target": TARGET_P50_MS, "met": out["query_p50_ms"] <= TARGET_P50_MS},
        "query_p95_ms": {"target": TARGET_P95_MS, "met": out["query_p95_ms"] <= TARGET_P95_MS},
        "page_max_ms": {"target": TARGET_PAGE_MS, "met": out["page_max_ms"] is not None
                        and out["page_max_ms"] <= TARGET_PAGE_MS},
    }
    return out


def page_figures(sources_dir: Path, cited: list[tuple[str, Any, str]], log: Log) -> dict[str, Any]:
    """Warm renders of cited pages with their quotes highlighted, as the app's Show page does
    (app/page_view.py: the chunk's page, or a later page of it that holds the quote)."""
    from peerqa.app.page_view import PageError, cited_page, find_source_file

    times: list[float] = []
    located = boxes = 0
    for n, (name, chunk, quote) in enumerate(cited[:1] + cited):  # the first one again: warm-up
        path = find_source_file(sources_dir, name)
        if path is None or path.suffix.lower() != ".pdf":
            continue
        t0 = time.perf_counter()
        try:
            shown = cited_page(path, chunk, quote)
        except PageError as exc:
            log(f"page render failed: {exc}")
            continue
        if n > 0:
            times.append((time.perf_counter() - t0) * 1000)
            located += shown.located > 0
            boxes += len(shown.boxes)
    log(f"cited pages: {len(times)} warm renders")
    return {"page_p50_ms": percentile(times, 50) if times else None,
            "page_max_ms": round(max(times), 1) if times else None,
            "pages": {"rendered": len(times), "with_highlight": located, "boxes": boxes}}


def _fmt(value: Any, unit: str) -> str:
    return "skipped (--index-dir)" if value is None else f"{value} {unit}"


def format_corpus(r: dict[str, Any]) -> str:
    t, q = r["targets"], r["queries"]
    rows = [
        ("index", f"{r['index_dir']} ({q['chunks']} chunks)"),
        ("ingest_full_s", _fmt(r["ingest_full_s"], "s")),
        ("ingest_incremental_s", _fmt(r["ingest_incremental_s"], "s")
         + (f" (+1 .txt: embedded {r['ingest']['embedded_incremental']}, reused {r['ingest']['reused_incremental']})"
            if "ingest" in r else "")),
        ("cold_start_s", f"{r['cold_start_s']} s (in the child: imports {r['cold_start']['import_s']} s, "
                         f"model + index {r['cold_start']['load_s']} s, first ask {r['cold_start']['ask_s']} s)"),
        ("query_p50_ms", f"{r['query_p50_ms']} ms (target <= {t['query_p50_ms']['target']:.0f}: "
                         f"{'met' if t['query_p50_ms']['met'] else 'missed'})"),
        ("query_p95_ms", f"{r['query_p95_ms']} ms (target <= {t['query_p95_ms']['target']:.0f}: "
                         f"{'met' if t['query_p95_ms']['met'] else 'missed'})"),
        ("queries", f"{q['timed']} timed after {q['warmup']} warm-up, max {q['max_ms']} ms, "
                    f"{q['abstained']} abstained, {q['skipped']} refused"),
        ("page_p50_ms", f"{r['page_p50_ms']} ms, max {r['page_max_ms']} ms over {r['pages']['rendered']} cited pages "
                        f"({r['pages']['with_highlight']} with the quote highlighted; target max <= "
                        f"{t['page_max_ms']['target']:.0f}: {'met' if t['page_max_ms']['met'] else 'missed'})"),
        ("peak_rss_mb", f"{r['peak_rss_mb']['self']} this process, {r['peak_rss_mb']['children']} largest child "
                        f"(ru_maxrss, includes the parent's RSS at fork); cold-start child's own peak "
                        f"(VmHWM) {r['cold_start'].get('vmhwm_mb')}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)


def format_machine(m: dict[str, Any]) -> str:
    load = ", ".join(str(x) for x in m["load_avg_at_start"])
    return (f"machine: {m['platform']}, {m['cpu']}, {m['cpus']} CPUs, {m['memory_gb']} GB RAM, "
            f"Python {m['python']}, load average {load} (1/5/15 min) at start")


def cmd_bench(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    log = stderr_log("bench")
    try:
        sizes = parse_sizes(args.scale or ",".join(map(str, DEFAULT_SIZES))) if args.scale or args.scale_only else []
    except ValueError as exc:
        return fail(args.json, "bench", f"--scale: {exc}", EXIT_USAGE)
    result: dict[str, Any] = {"machine": machine_info()}
    if args.rebuild_load:
        return _rebuild_load(args, result, log)
    if getattr(args, "store", None):  # the database store beside the folder store (app/bench_pg.py)
        from peerqa.app.bench_pg import cmd_bench_pg, format_pg

        result.update(cmd_bench_pg(args, [] if args.scale_only else load_questions(Path(args.questions)), log))
        result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, indent=1) if args.json else format_machine(result["machine"]) + "\n" + format_pg(result))
        return EXIT_OK
    if not args.scale_only:
        questions_path = Path(args.questions)
        if not questions_path.exists():
            return fail(args.json, "bench", f"no such file {questions_path}", EXIT_USAGE)
        questions = load_questions(questions_path)
        if not questions:
            return fail(args.json, "bench", f"no questions in {questions_path}", EXIT_USAGE)
        index_dir = Path(args.index_dir).resolve() if args.index_dir else None
        try:
            # Flat, so that e.g. `jq .query_p50_ms` reads a figure directly.
            result.update(corpus_bench(index_dir, questions, log))
        except RuntimeError as exc:
            return fail(args.json, "bench", f"{exc}", EXIT_FAILED)
    if sizes:
        from dataclasses import replace

        from peerqa.index.scale import ScaleConfig

        cfg = ScaleConfig()
        if args.hnsw_m:
            cfg = replace(cfg, hnsw_m=args.hnsw_m)
        if args.hnsw_ef_construction:
            cfg = replace(cfg, hnsw_ef_construction=args.hnsw_ef_construction)
        result["scale"] = run_scale(sizes, cfg, log)
    result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(result, indent=1))
        return EXIT_OK
    print(format_machine(result["machine"]))
    if "query_p50_ms" in result:
        print("\nshipped corpus\n" + format_corpus(result))
    if "scale" in result:
        print("\nsynthetic scale (dim 384, clustered, 200 held-out queries, single-query latency on 1 thread)\n"
              + format_scale(result["scale"]))
    print(f"\nload average at end: {', '.join(map(str, result['load_avg_at_end']))}")
    return EXIT_OK


def _rebuild_load(args: argparse.Namespace, result: dict[str, Any], log: Log) -> int:
    from peerqa.app.bench_rebuild import format_rebuild_load, rebuild_load

    questions = load_questions(Path(args.questions)) if Path(args.questions).exists() else []
    if not questions:
        return fail(args.json, "bench", f"no questions in {args.questions}", EXIT_USAGE)
    result["rebuild_load"] = rebuild_load(Path(args.index_dir).resolve() if args.index_dir else None, questions, log)
    result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(format_machine(result["machine"]))
        print(f"\nanswers of {result['rebuild_load']['sessions']} sessions asking at once\n"
              + format_rebuild_load(result["rebuild_load"]))
    return EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"bench": cmd_bench}
