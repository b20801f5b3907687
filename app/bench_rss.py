"""Serving-process memory of each store: `peerqa bench --store URL` runs a fresh process per store.

Each child loads the model, then the engine on one store, answers the questions one at a time and
reports its resident set size: after the model (`model_mb`), after the engine is ready
(`ready_mb`), and its peak (`peak_mb`, ru_maxrss), with the per-question p50/p95. The index's
share is `ready_mb - model_mb` (and `peak_mb - model_mb` while answering). A fresh process per
store keeps one store's arrays from hiding the other's.

Synthetic N (10^5 by default): a folder version of N chunks written by index/scale_corpus.py is
measured on the folder store, then published into the database and measured there; afterwards
the database's active version is switched back and the synthetic version dropped.
Figures only, never asserted.

    .venv/bin/python -m peerqa.app.bench_rss --index-dir DIR [--store URL] --questions FILE [--n 30]
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from peerqa.settings import SHIPPED_QUESTIONS, Settings

Log = Callable[[str], None]


def _rss_mb() -> float:
    from peerqa.index.scale import rss_mb

    return round(rss_mb(), 1)


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM: ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure(settings: Settings, questions: list[str]) -> dict[str, Any]:
    """In this process: the engine on `settings`' store, its memory and per-question times."""
    from peerqa.app.answer.engine import Engine
    from peerqa.app.runtime import get_embedder, open_index

    embedder = get_embedder(settings)
    embedder.embed(["warm up"])
    model_mb = _rss_mb()
    t0 = time.perf_counter()
    engine = Engine(settings, open_index(settings), embedder)
    ready_s = time.perf_counter() - t0
    ready_mb = _rss_mb()
    times = []
    for q in questions:
        t = time.perf_counter()
        engine.ask(q)
        times.append((time.perf_counter() - t) * 1000)
    out: dict[str, Any] = {
        "chunks": engine.index.corpus.n_chunks, "model_mb": model_mb, "ready_mb": ready_mb,
        "after_mb": _rss_mb(), "peak_mb": _peak_mb(),
        "ready_s": round(ready_s, 1), "questions": len(questions),
        "p50_ms": round(float(np.percentile(times, 50)), 1) if times else None,
        "p95_ms": round(float(np.percentile(times, 95)), 1) if times else None,
    }
    loaded_rows = getattr(engine.index.corpus, "loaded_rows", None)
    if loaded_rows is not None:
        out["rows_held_max"] = loaded_rows()
        out["cache_rows"] = settings.pg.cache_rows
    return out


def run_child(index_dir: Path, store_url: str, questions_file: Path, n: int) -> dict[str, Any]:
    """`measure` in a fresh process (its peak RSS is its own)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PEERQA_STORE_URL=store_url)
    cmd = [sys.executable, "-m", "peerqa.app.bench_rss", "--index-dir", str(index_dir), "--questions",
           str(questions_file), "--n", str(n)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"bench_rss child failed: {out.stderr.strip().splitlines()[-1:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def both_stores(folder_dir: Path, url: str, questions_file: Path, n: int, log: Log) -> dict[str, Any]:
    log(f"  serving RSS: folder store ({folder_dir})")
    folder = run_child(folder_dir, "", questions_file, n)
    log(f"  serving RSS: PostgreSQL store; folder peak {folder['peak_mb']} MB")
    pg = run_child(folder_dir, url, questions_file, n)
    log(f"  serving RSS: PostgreSQL peak {pg['peak_mb']} MB")
    return {"folder": folder, "postgres": pg}


def synthetic_rss(settings: Settings, folder_dir: Path, n: int, questions_file: Path, q: int, log: Log) -> dict[str, Any]:
    """Both stores serving a synthetic N-chunk version; the database is left as it was found."""
    from peerqa.index.pg_schema import connect
    from peerqa.index.pg_store import publish_folder
    from peerqa.index.scale_corpus import write_synthetic

    work = Path(tempfile.mkdtemp(prefix=f"peerqa-synthetic-{n}-"))
    conn = connect(settings.store_url, settings.pg.connect_timeout_s, 0, app="peerqa-bench")
    try:
        t0 = time.perf_counter()
        name = write_synthetic(folder_dir, work, n)
        write_s = round(time.perf_counter() - t0, 1)
        log(f"N={n}: synthetic version {name} written in {write_s} s")
        folder = run_child(work, "", questions_file, q)
        log(f"  folder store: peak {folder['peak_mb']} MB, ready in {folder['ready_s']} s")
        before = conn.execute("SELECT version_id FROM peerqa_active").fetchone()
        t0 = time.perf_counter()
        publish_folder(settings.model_copy(update={"index_dir": work}), work / name)
        publish_s = round(time.perf_counter() - t0, 1)
        log(f"  published into the database in {publish_s} s")
        try:
            pg = run_child(work, settings.store_url, questions_file, q)
            size = conn.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relname LIKE 'peerqa_%%' "
                "AND c.relkind IN ('r', 'i')").fetchone()[0]
        finally:
            _drop(conn, name, before[0] if before else None)
        log(f"  PostgreSQL store: peak {pg['peak_mb']} MB, ready in {pg['ready_s']} s")
        return {"n": n, "write_s": write_s, "publish_s": publish_s, "database_bytes": int(size or 0),
                "folder": folder, "postgres": pg}
    finally:
        conn.close()
        shutil.rmtree(work, ignore_errors=True)


def _drop(conn: Any, name: str, previous: int | None) -> None:
    """Switch the database back to the version it served before and drop the synthetic one."""
    row = conn.execute("SELECT id FROM peerqa_versions WHERE name = %s", (name,)).fetchone()
    if row is None:
        return
    with conn.transaction():
        if previous is not None:
            conn.execute("UPDATE peerqa_active SET version_id = %s, switched = now()", (previous,))
        else:
            conn.execute("DELETE FROM peerqa_active")
        for table in ("peerqa_chunks", "peerqa_sentences"):
            conn.execute(f"DROP INDEX IF EXISTS {table}_hnsw_{int(row[0])}")
        conn.execute("DELETE FROM peerqa_versions WHERE id = %s", (row[0],))


def format_rss(result: dict[str, Any]) -> list[str]:
    lines = ["serving process memory (a fresh process per store; MB of RSS: after the model / engine ready / peak "
             "while answering)"]
    rows = [("shipped", result["shipped_rss"])] if "shipped_rss" in result else []
    rows += [(f"synthetic N={r['n']}", r) for r in result.get("synthetic_rss", [])]
    for label, r in rows:
        for store in ("folder", "postgres"):
            s = r[store]
            held = f", rows held <= {s['rows_held_max']} (cache {s['cache_rows']})" if "rows_held_max" in s else ""
            lines.append(f"  {label:<18} {store:<8} {s['chunks']:>7} chunks  {s['model_mb']:>7} / {s['ready_mb']:>7} / "
                         f"{s['peak_mb']:>7}  ready {s['ready_s']} s, p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms{held}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="measure one serving process (used by peerqa bench --store)")
    p.add_argument("--index-dir", required=True)
    p.add_argument("--questions", default=str(SHIPPED_QUESTIONS))
    p.add_argument("--n", type=int, default=30)
    a = p.parse_args(argv)
    from peerqa.app.cli_bench import load_questions

    settings = Settings(index_dir=Path(a.index_dir).resolve())  # the store from PEERQA_STORE_URL
    print(json.dumps(measure(settings, load_questions(Path(a.questions))[: a.n])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
