"""`peerqa bench --store postgresql://…`: the database store beside the folder store, same run.

Shipped corpus: publishing the folder's active version into the database (its build step),
warm per-question p50/p95 of the whole engine on each store, and recall@10 of pgvector's HNSW
against exact search for the curated questions' embeddings.

Synthetic corpora (the clustered vectors of index/scale.py, 10^5 by default; 10^6 only when asked):
COPY and HNSW build time, recall@10 against exact search and single-query p50/p95 in SQL, with
the smallest `hnsw.ef_search` of a grid that reaches recall 0.95, beside FAISS flat and HNSW on
the same vectors. Figures only, never asserted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from peerqa.index.pg_schema import connect
from peerqa.index.pg_store import safe_mem
from peerqa.index.scale import ScaleConfig, bench_index, exact_topk, make_corpus, recall_at_k
from peerqa.settings import Settings

Log = Callable[[str], None]
EF_GRID = (40, 64, 100, 200, 400)
RSS_QUESTIONS = 30  # questions each serving process answers while its memory is measured


def _percentiles(times_ms: list[float]) -> tuple[float, float]:
    return round(float(np.percentile(times_ms, 50)), 2), round(float(np.percentile(times_ms, 95)), 2)


def pg_search_table(url: str, vectors: np.ndarray, queries: np.ndarray, truth_scores: np.ndarray,
                    cfg: ScaleConfig, settings: Settings, log: Log) -> dict[str, Any]:
    """Load `vectors` into a scratch table, build its HNSW index, tune ef_search, time queries."""
    from pgvector.psycopg import register_vector

    pg = settings.pg
    table = f"peerqa_bench_{os.getpid()}"
    dim = vectors.shape[1]
    conn = connect(url, pg.connect_timeout_s, 0, app="peerqa-bench")
    register_vector(conn)
    try:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, embedding vector({dim}) NOT NULL)")
        t0 = time.perf_counter()
        with conn.cursor().copy(f"COPY {table} (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "vector"])
            for i, vec in enumerate(vectors):
                copy.write_row([i, vec])
        copy_s = time.perf_counter() - t0
        log(f"  pgvector: copied {len(vectors)} rows in {copy_s:.1f} s; building HNSW")
        t0 = time.perf_counter()
        conn.execute(f"SET maintenance_work_mem = '{safe_mem(pg.maintenance_work_mem)}'")
        conn.execute(f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops) "
                     f"WITH (m = {int(pg.hnsw_m)}, ef_construction = {int(pg.hnsw_ef_construction)})")
        index_s = time.perf_counter() - t0
        conn.execute(f"ANALYZE {table}")
        size = conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()[0]
        sql = f"SELECT id FROM {table} ORDER BY embedding <=> %s LIMIT {int(cfg.k)}"

        def run(ef: int) -> tuple[np.ndarray, list[float]]:
            conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            found, times = [], []
            for q in queries:
                t = time.perf_counter()
                ids = [r[0] for r in conn.execute(sql, (q,)).fetchall()]
                times.append((time.perf_counter() - t) * 1000)
                found.append(ids + [-1] * (cfg.k - len(ids)))
            return np.asarray(found, dtype="int64"), times

        tried: dict[int, float] = {}
        chosen = EF_GRID[-1]
        for ef in EF_GRID:
            found, _t = run(ef)
            tried[ef] = round(recall_at_k(found, vectors, queries, truth_scores, cfg.k), 4)
            log(f"  pgvector: ef_search {ef}: recall@{cfg.k} {tried[ef]}")
            if tried[ef] >= cfg.target_recall:
                chosen = ef
                break
        run(chosen)  # warm
        found, times = run(chosen)
        p50, p95 = _percentiles(times)
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {sql}", (queries[0],)).fetchall())
        return {
            "kind": "pgvector-hnsw", "copy_s": round(copy_s, 2), "build_s": round(index_s, 2),
            "table_bytes": int(size), f"recall_at_{cfg.k}": round(recall_at_k(found, vectors, queries, truth_scores,
                                                                                cfg.k), 4),
            "p50_ms": p50, "p95_ms": p95, "ef_search": chosen, "tried": tried,
            "params": {"m": pg.hnsw_m, "ef_construction": pg.hnsw_ef_construction},
            "uses_hnsw_index": "Index Scan" in plan,
        }
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


def pg_scale(url: str, sizes: list[int], settings: Settings, log: Log) -> list[dict[str, Any]]:
    cfg = ScaleConfig()
    out = []
    for n in sizes:
        vectors, queries = make_corpus(n, cfg)
        truth_scores, _ids = exact_topk(vectors, queries, cfg.k)
        log(f"N={n}: FAISS flat and HNSW, then pgvector HNSW on the same vectors")
        indexes = {kind: bench_index(kind, vectors, queries, truth_scores, cfg, log) for kind in ("flat", "hnsw")}
        indexes["pgvector-hnsw"] = pg_search_table(url, vectors, queries, truth_scores, cfg, settings, log)
        out.append({"n": n, "indexes": indexes})
    return out


def shipped_recall(settings: Settings, folder_settings: Settings, questions: list[str], k: int = 10) -> dict[str, Any]:
    """recall@k of the database's dense search (HNSW) against exact search over the same chunk vectors."""
    from peerqa.app.runtime import get_embedder, open_index
    from peerqa.index.pg_store import chunk_vectors

    folder = open_index(folder_settings)
    pg_index = open_index(settings)
    vectors = chunk_vectors(folder)
    embedder = get_embedder(settings)
    qv = embedder.embed(questions)
    hits = total = 0
    times = []
    for q in qv:
        exact = set(np.argsort(-(vectors @ q), kind="stable")[:k].tolist())
        t = time.perf_counter()
        found = {row for row, _c in pg_index.faiss.search_filtered(q, k)}
        times.append((time.perf_counter() - t) * 1000)
        hits += len(exact & found)
        total += len(exact)
    p50, p95 = _percentiles(times)
    return {f"recall_at_{k}": round(hits / total, 4), "dense_sql_p50_ms": p50, "dense_sql_p95_ms": p95,
            "ef_search": settings.pg.ef_search, "chunks": len(folder.chunks)}


def format_pg(result: dict[str, Any]) -> str:
    lines = []
    if "shipped" in result:
        s = result["shipped"]
        lines.append("shipped corpus, folder store vs PostgreSQL store (same index version)")
        lines.append(f"  publish into the database (build step): {s['publish_s']} s")
        lines.append(f"  engine per question   folder p50 {s['folder']['query_p50_ms']} ms, p95 {s['folder']['query_p95_ms']} ms"
                     f" | postgres p50 {s['postgres']['query_p50_ms']} ms, p95 {s['postgres']['query_p95_ms']} ms")
        r = s["recall"]
        lines.append(f"  dense search in SQL   recall@10 vs exact {r['recall_at_10']} (ef_search {r['ef_search']}), "
                     f"p50 {r['dense_sql_p50_ms']} ms, p95 {r['dense_sql_p95_ms']} ms over {r['chunks']} chunks")
    if "shipped_rss" in result:
        from peerqa.app.bench_rss import format_rss

        lines += format_rss(result)
    for row in result.get("scale", []):
        lines.append(f"synthetic N={row['n']} (dim 384, clustered, 200 held-out queries, one at a time)")
        lines.append(f"  {'index':<15} {'build s':>8} {'recall@10':>10} {'p50 ms':>8} {'p95 ms':>8}  params")
        for kind, r in row["indexes"].items():
            build = r["build_s"] if kind != "pgvector-hnsw" else f"{r['copy_s']}+{r['build_s']}"
            params = (f"ef_search {r['ef_search']}, m {r['params']['m']}, ef_construction {r['params']['ef_construction']}"
                      if kind == "pgvector-hnsw" else str(r.get("tuned") or r.get("params") or ""))
            lines.append(f"  {kind:<15} {build!s:>8} {r['recall_at_10']:>10} {r['p50_ms']:>8} {r['p95_ms']:>8}  {params}")
    return "\n".join(lines)


def _plain(figures: dict[str, Any]) -> dict[str, Any]:
    """The query figures without the cited chunks kept for page renders (not JSON; --json failed on them)."""
    return {k: v for k, v in figures.items() if k != "cited_pages"}


def _rss(args: Any, settings: Settings, folder_settings: Settings, log: Log) -> dict[str, Any]:
    """Serving-process memory on each store: the shipped corpus and synthetic N (app/bench_rss.py)."""
    from peerqa.app.bench_rss import both_stores, synthetic_rss
    from peerqa.index.scale import parse_sizes

    questions_file = Path(args.questions)
    out: dict[str, Any] = {"shipped_rss": both_stores(folder_settings.index_dir, settings.store_url, questions_file,
                                                      RSS_QUESTIONS, log)}
    sizes = [] if str(args.rss_scale).strip() in ("", "0") else parse_sizes(str(args.rss_scale))
    out["synthetic_rss"] = [synthetic_rss(settings, folder_settings.index_dir, n, questions_file, RSS_QUESTIONS, log)
                            for n in sizes]
    return out


def cmd_bench_pg(args: Any, questions: list[str], log: Log) -> dict[str, Any]:
    """The figures of `peerqa bench --store URL [--index-dir DIR] [--scale N,N] [--scale-only]`."""
    from peerqa.app.cli_bench import query_figures
    from peerqa.index.pg_store import publish_folder
    from peerqa.index.scale import parse_sizes
    from peerqa.index.store import load_index

    url = args.store
    settings = Settings(store_url=url)
    if args.index_dir:
        settings = settings.model_copy(update={"index_dir": Path(args.index_dir).resolve()})
    folder_settings = settings.model_copy(update={"store_url": ""})
    result: dict[str, Any] = {}
    if not args.scale_only:
        t0 = time.perf_counter()
        publish_folder(settings, load_index(folder_settings.index_dir).folder)
        publish_s = round(time.perf_counter() - t0, 2)
        log(f"published the folder's active version in {publish_s} s")
        result["shipped"] = {
            "publish_s": publish_s,
            "folder": _plain(query_figures(folder_settings, questions, log)),
            "postgres": _plain(query_figures(settings, questions, log)),
            "recall": shipped_recall(settings, folder_settings, questions),
        }
        result.update(_rss(args, settings, folder_settings, log))
    sizes = parse_sizes(args.scale) if args.scale else [100_000]
    result["scale"] = pg_scale(url, sizes, settings, log)
    return result
