"""Synthetic scale benchmark: exact (flat) against approximate (HNSW, IVF) FAISS at N chunks.

The shipped corpus is a few hundred chunks, where exact search is instant; this answers what
happens at 10^4-10^6 chunks (many included-study PDFs) without embedding a million passages.

Data: N unit vectors (dim 384, float32) around 1000 random unit centres, plus 200 held-out
queries drawn the same way (seeded). The noise is not isotropic: its variance falls off as
1/rank over the dimensions, because real MiniLM embeddings of the review do (their PCA spectrum
falls about as rank^-1, participation ratio ~40-50 of 384); isotropic 384-d noise would make
every point of a cluster nearly equidistant from a query. Its norm (1.5x the centre's) is set so
that similarity falls off gradually past the 10th neighbour, as in the review's embeddings,
rather than at a cluster edge, which would flatter IVF (see ScaleConfig.noise).

For each index: build time, serialised size (faiss.serialize_index) and RSS growth, recall@10
against exact NumPy search, and single-query latency on one thread. HNSW's efSearch and IVF's
nprobe are the smallest of a grid that reach recall@10 >= 0.95 (or the grid's best if none do).
Figures only; targets are reported, never asserted.

    .venv/bin/python -m peerqa.index.scale [--sizes 10000,100000,1000000] [--noise 1.5] [--hnsw-m 32]
                                    [--hnsw-ef-construction 80] [--json]
    .venv/bin/peerqa bench --scale-only [--scale 10000,100000,1000000]   (the same, via the CLI)
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
Log = Callable[[str], None]


@dataclass(frozen=True)
class ScaleConfig:
    dim: int = 384
    clusters: int = 1000
    # Expected noise norm relative to the unit-norm centre. At 1.0 the clusters are islands (the
    # 10 nearest neighbours all share the query's cluster, then a cliff) and IVF reaches 0.95 at
    # nprobe 1-2; 1.5 gives the gradual fall-off of similarity seen in the review's embeddings.
    noise: float = 1.5
    spectrum_decay: float = 1.0  # noise variance of dimension j ~ (j + 1) ** -decay
    queries: int = 200
    k: int = 10
    seed: int = 20231126
    target_recall: float = 0.95
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80  # what index/vectors.py ships
    ef_search_grid: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024)
    nprobe_grid: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    # k-means on at most this many points per list, for this many iterations: FAISS's defaults
    # (256 per list, 25 iterations) would train on all 10^6 points, ~10x the time, for little recall.
    ivf_train_per_list: int = 50
    ivf_niter: int = 10
    kinds: tuple[str, ...] = ("flat", "hnsw", "ivf")
    # Targets to report against (not asserted).
    target_p50_ms_at_1m: float = 50.0


# -- data ---------------------------------------------------------------------------------------

def synthetic_vectors(n: int, cfg: ScaleConfig, centres: np.ndarray, rng: np.random.Generator,
                      block: int = 65_536) -> np.ndarray:
    """n normalised float32 vectors around `centres`, generated block by block so that no float64
    or N-sized temporary doubles the memory at 10^6 x 384."""
    scale = (np.arange(1, cfg.dim + 1, dtype="float64") ** -cfg.spectrum_decay) ** 0.5
    scale = (cfg.noise * scale / np.linalg.norm(scale)).astype("float32")  # E|noise|^2 = noise^2
    out = np.empty((n, cfg.dim), dtype="float32")
    for start in range(0, n, block):
        stop = min(n, start + block)
        labels = rng.integers(0, len(centres), stop - start)
        part = rng.standard_normal((stop - start, cfg.dim), dtype=np.float32)
        part *= scale
        part += centres[labels]
        part /= np.linalg.norm(part, axis=1, keepdims=True)
        out[start:stop] = part
    return out


def make_corpus(n: int, cfg: ScaleConfig) -> tuple[np.ndarray, np.ndarray]:
    """(corpus, held-out queries): the same seeded distribution, disjoint draws."""
    rng = np.random.default_rng(cfg.seed)
    centres = rng.standard_normal((cfg.clusters, cfg.dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    queries = synthetic_vectors(cfg.queries, cfg, centres, rng)
    return synthetic_vectors(n, cfg, centres, rng), queries


# -- exact reference and recall -----------------------------------------------------------------

def exact_topk(vectors: np.ndarray, queries: np.ndarray, k: int, block: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner products with NumPy (not FAISS, so the flat index is checked, not trusted),
    over row blocks so the score matrix stays at block x queries."""
    nq = len(queries)
    best_s = np.full((nq, 0), -np.inf, dtype="float32")
    best_i = np.zeros((nq, 0), dtype="int64")
    for start in range(0, len(vectors), block):
        scores = queries @ vectors[start : start + block].T  # (nq, block)
        kk = min(k, scores.shape[1])
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, np.take_along_axis(scores, part, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, part + start], axis=1)
        order = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, order, axis=1), np.take_along_axis(cand_i, order, axis=1)
    return best_s, best_i


def recall_at_k(found: np.ndarray, vectors: np.ndarray, queries: np.ndarray, truth_scores: np.ndarray,
                k: int, tie_eps: float = 1e-5) -> float:
    """Share of the true top k that was returned. A returned row whose true score ties the k-th
    best (within float32 rounding of two different dot-product kernels) counts as found, so
    exact search scores exactly 1.0 instead of losing a tie at rank 10/11."""
    hits = 0
    for q in range(len(queries)):
        ids = np.unique(found[q][found[q] >= 0])
        if len(ids) == 0:
            continue
        scores = vectors[ids] @ queries[q]
        hits += min(k, int(np.sum(scores >= truth_scores[q, k - 1] - tie_eps)))
    return hits / (k * len(queries))


# -- indexes ------------------------------------------------------------------------------------

def ivf_nlist(n: int) -> int:
    return max(1, round(4 * math.sqrt(n)))


def build_index(kind: str, vectors: np.ndarray, cfg: ScaleConfig) -> tuple[Any, dict[str, Any]]:
    import faiss

    n, dim = vectors.shape
    index: Any
    params: dict[str, Any]
    if kind == "flat":
        index, params = faiss.IndexFlatIP(dim), {}
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = cfg.hnsw_ef_construction
        params = {"M": cfg.hnsw_m, "efConstruction": cfg.hnsw_ef_construction}
    elif kind == "ivf":
        nlist = ivf_nlist(n)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = cfg.ivf_niter
        train_n = min(n, cfg.ivf_train_per_list * nlist)
        rows = np.sort(np.random.default_rng(cfg.seed + 1).choice(n, train_n, replace=False))
        index.train(vectors[rows])
        params = {"nlist": nlist, "train_points": train_n, "kmeans_iterations": cfg.ivf_niter}
    else:
        raise ValueError(f"unknown index kind {kind!r} (flat, hnsw, ivf)")
    index.add(vectors)
    return index, params


def set_search_param(index: Any, kind: str, value: int) -> None:
    if kind == "hnsw":
        index.hnsw.efSearch = value
    elif kind == "ivf":
        index.nprobe = value


def tune(index: Any, kind: str, vectors: np.ndarray, queries: np.ndarray, truth_scores: np.ndarray,
         cfg: ScaleConfig, log: Log) -> dict[str, Any]:
    """Smallest grid value reaching the target recall; batched searches (all threads) are fine
    here because only recall is measured."""
    if kind == "flat":
        return {}
    name, grid = ("efSearch", cfg.ef_search_grid) if kind == "hnsw" else ("nprobe", cfg.nprobe_grid)
    if kind == "ivf":
        grid = tuple(v for v in grid if v <= index.nlist) or (index.nlist,)
    curve: dict[int, float] = {}
    for value in grid:
        set_search_param(index, kind, value)
        _s, ids = index.search(queries, cfg.k)
        curve[value] = round(recall_at_k(ids, vectors, queries, truth_scores, cfg.k), 4)
        log(f"  {kind} {name}={value}: recall@{cfg.k} {curve[value]:.4f}")
        if curve[value] >= cfg.target_recall:
            break
    reached = [v for v, r in curve.items() if r >= cfg.target_recall]
    chosen = reached[0] if reached else max(curve, key=lambda v: (curve[v], -v))
    set_search_param(index, kind, chosen)
    return {"param": name, "value": chosen, "reached_target": bool(reached), "grid": curve}


def single_query_latency(index: Any, queries: np.ndarray, k: int, warmup: int = 5) -> tuple[float, float]:
    """(p50, p95) ms of one-query searches on one thread: the serving pattern (one question at a
    time) and not flattered by the batch BLAS path or by borrowing the other core."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        for q in queries[:warmup]:
            index.search(q.reshape(1, -1), k)
        times = []
        for q in queries:
            row = q.reshape(1, -1)
            t0 = time.perf_counter()
            index.search(row, k)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        faiss.omp_set_num_threads(threads)
    p50, p95 = np.percentile(times, [50, 95])
    return round(float(p50), 3), round(float(p95), 3)


def index_bytes(index: Any) -> int:
    import faiss

    blob = faiss.serialize_index(index)
    size = int(blob.size)
    del blob  # as large as the index itself: drop it before the next measurement
    return size


def rss_mb() -> float:
    """Current (not peak) resident set size: the peak would hide what one index added."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- runs ---------------------------------------------------------------------------------------

def bench_index(kind: str, vectors: np.ndarray, queries: np.ndarray, truth_scores: np.ndarray,
                cfg: ScaleConfig, log: Log) -> dict[str, Any]:
    gc.collect()
    rss0 = rss_mb()
    log(f"  {kind}: building on {len(vectors)} vectors")
    t0 = time.perf_counter()
    index, params = build_index(kind, vectors, cfg)
    build_s = time.perf_counter() - t0
    rss_delta = rss_mb() - rss0
    log(f"  {kind}: built in {build_s:.1f} s")
    tuned = tune(index, kind, vectors, queries, truth_scores, cfg, log)
    _s, ids = index.search(queries, cfg.k)
    recall = recall_at_k(ids, vectors, queries, truth_scores, cfg.k)
    p50, p95 = single_query_latency(index, queries, cfg.k)
    size = index_bytes(index)
    log(f"  {kind}: recall@{cfg.k} {recall:.4f}, p50 {p50:.2f} ms, p95 {p95:.2f} ms, {size / 2**20:.0f} MiB")
    del index
    gc.collect()
    return {
        "kind": kind,
        "params": params,
        "build_s": round(build_s, 2),
        "index_bytes": size,
        "rss_delta_mb": round(rss_delta, 1),
        f"recall_at_{cfg.k}": round(recall, 4),
        "p50_ms": p50,
        "p95_ms": p95,
        "tuned": tuned,
    }


def run_size(n: int, cfg: ScaleConfig, log: Log = lambda _m: None) -> dict[str, Any]:
    t0 = time.perf_counter()
    vectors, queries = make_corpus(n, cfg)
    generate_s = time.perf_counter() - t0
    log(f"N={n}: generated {vectors.nbytes / 2**20:.0f} MiB of vectors in {generate_s:.1f} s")
    t0 = time.perf_counter()
    truth_scores, _truth_ids = exact_topk(vectors, queries, cfg.k)
    truth_s = time.perf_counter() - t0
    indexes = {kind: bench_index(kind, vectors, queries, truth_scores, cfg, log) for kind in cfg.kinds}
    del vectors
    gc.collect()
    return {
        "n": n,
        "dim": cfg.dim,
        "clusters": cfg.clusters,
        "queries": cfg.queries,
        "vectors_mb": round(n * cfg.dim * 4 / 2**20, 1),
        "generate_s": round(generate_s, 2),
        "exact_numpy_s": round(truth_s, 2),
        "indexes": indexes,
        "meets_1m_target": _meets_target(indexes, cfg) if n >= 1_000_000 else None,
    }


def _meets_target(indexes: dict[str, Any], cfg: ScaleConfig) -> bool:
    """At 10^6: some approximate index with recall@k >= target at p50 <= the latency target."""
    key = f"recall_at_{cfg.k}"
    return any(r[key] >= cfg.target_recall and r["p50_ms"] <= cfg.target_p50_ms_at_1m
               for kind, r in indexes.items() if kind != "flat")


def run_scale(sizes: Sequence[int], cfg: ScaleConfig | None = None, log: Log = lambda _m: None) -> dict[str, Any]:
    cfg = cfg or ScaleConfig()
    config = asdict(cfg)
    config["ivf_nlist"] = "round(4 * sqrt(N))"
    return {"config": config, "sizes": [run_size(n, cfg, log) for n in sizes]}


# -- reporting ----------------------------------------------------------------------------------

def machine_info() -> dict[str, Any]:
    """Where the figures came from; the load average says how busy the machine already was."""
    meminfo = Path("/proc/meminfo").read_text()
    found = re.search(r"^MemTotal:\s+(\d+)", meminfo, re.M)
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    load = os.getloadavg()
    return {
        "platform": platform.platform(),
        "cpu": model.group(1).strip() if model else platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gb": round(int(found.group(1)) / 2**20, 1) if found else None,
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in load],
    }


def format_scale(result: dict[str, Any]) -> str:
    k = result["config"]["k"]
    texts = {(size["n"], kind): _params_text(r) for size in result["sizes"] for kind, r in size["indexes"].items()}
    width = max([len("params"), *map(len, texts.values())])
    lines = [
        f"{'N':>9}  {'index':<5}  {'params':<{width}}  {'build s':>8}  {'MiB':>7}  {'RSS+ MiB':>8}  "
        f"{'recall@' + str(k):>9}  {'p50 ms':>8}  {'p95 ms':>8}"
    ]
    for size in result["sizes"]:
        for kind, r in size["indexes"].items():
            text = texts[(size["n"], kind)]
            lines.append(
                f"{size['n']:>9}  {kind:<5}  {text:<{width}}  {r['build_s']:>8.1f}  {r['index_bytes'] / 2**20:>7.1f}  "
                f"{r['rss_delta_mb']:>8.1f}  {r[f'recall_at_{k}']:>9.4f}  {r['p50_ms']:>8.2f}  {r['p95_ms']:>8.2f}"
            )
        if size["meets_1m_target"] is not None:
            verdict = "met" if size["meets_1m_target"] else "missed"
            lines.append(f"{'':>9}  target at 10^6 (approximate, recall@{k} >= 0.95, p50 <= 50 ms): {verdict}")
    for size in result["sizes"]:
        for kind, r in size["indexes"].items():
            if r["tuned"]:
                curve = ", ".join(f"{v}: {rec:.3f}" for v, rec in r["tuned"]["grid"].items())
                lines.append(f"N={size['n']} {kind} recall@{k} by {r['tuned']['param']}: {curve}")
    return "\n".join(lines)


def _params_text(r: dict[str, Any]) -> str:
    short = {"train_points": "train", "kmeans_iterations": "iters"}
    params = {short.get(key, key): value for key, value in r["params"].items()}
    if r["tuned"]:
        params[r["tuned"]["param"]] = r["tuned"]["value"]
    return ", ".join(f"{key}={value}" for key, value in params.items()) or "exact"


def parse_sizes(text: str) -> list[int]:
    """'10000,1e5,1000000' -> [10000, 100000, 1000000]."""
    try:
        sizes = [int(float(part)) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"sizes must be numbers separated by commas, not {text!r}") from None
    if not sizes or any(n < 1 for n in sizes):
        raise ValueError(f"sizes must be positive, not {text!r}")
    return sizes


def stderr_log(prefix: str = "scale") -> Log:
    start = time.perf_counter()

    def log(message: str) -> None:
        print(f"{prefix} [{time.perf_counter() - start:7.1f} s] {message}", file=sys.stderr, flush=True)

    return log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--hnsw-m", type=int, default=ScaleConfig.hnsw_m)
    parser.add_argument("--hnsw-ef-construction", type=int, default=ScaleConfig.hnsw_ef_construction)
    parser.add_argument("--noise", type=float, default=ScaleConfig.noise, help="noise norm per unit centre")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as exc:
        parser.error(str(exc))
    cfg = ScaleConfig(hnsw_m=args.hnsw_m, hnsw_ef_construction=args.hnsw_ef_construction, noise=args.noise)
    result = {"machine": machine_info(), **run_scale(sizes, cfg, stderr_log())}
    print(json.dumps(result, indent=1) if args.json else format_scale(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
