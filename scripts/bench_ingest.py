"""Ingest benchmark: build time and memory, chunk statistics, and retrieval against LangChain's default.

Builds the shipped review's index from scratch in a temporary folder with the project's own API,
rebuilds it without changes, then compares retrieval (hit@1/3/5, MRR@10) of peerqa's hybrid,
dense-only and BM25-only search with the LangChain default pipeline (PyPDFLoader, 1000/200
character splits, in-memory FAISS over the same embedding model) and BM25 over those splits.
Prints figures only; nothing is asserted.

    .venv/bin/python scripts/bench_ingest.py [--index-dir DIR] [--questions eval/questions.jsonl] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from peerqa.app.runtime import get_embedder, open_index, run_ingest
from peerqa.index.bm25 import BM25Index
from peerqa.index.embedder import SentenceTransformerEmbedder, token_counter
from peerqa.index.search import HybridSearcher
from peerqa.settings import SHIPPED_QUESTIONS, SHIPPED_SOURCES, Settings

PDF = SHIPPED_SOURCES / "peer-support-work-scoping-review-2023.pdf"
DEPTH = 10  # passages retrieved per question; hit@k reads the first k
_PUNCT = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "*": None})
Retriever = Callable[[str], list[str]]
START = time.perf_counter()


def normalise(text: str) -> str:
    """Lowercase, drop '*', straighten curly quotes, map en/em dashes to '-', collapse whitespace."""
    return re.sub(r"\s+", " ", text.lower().translate(_PUNCT)).strip()


@lru_cache(maxsize=8192)
def _grams(text: str) -> tuple[str, frozenset[tuple[str, ...]]]:
    norm = normalise(text)
    words = norm.split(" ")
    return norm, frozenset(tuple(words[i : i + 5]) for i in range(len(words) - 4))


def quote_matches(quote: str, passage: str) -> bool:
    """True if the gold quote occurs in the passage after `normalise` on both sides, or if at least
    half of the quote's word 5-grams occur in the passage (a quote split by a chunk boundary)."""
    q_norm, q_grams = _grams(quote)
    p_norm, p_grams = _grams(passage)
    if q_norm and q_norm in p_norm:
        return True
    return bool(q_grams) and 2 * len(q_grams & p_grams) >= len(q_grams)


def first_hit(quotes: list[str], passages: list[str]) -> int | None:
    """1-based rank of the first passage that holds any gold quote, or None."""
    for rank, text in enumerate(passages, 1):
        if any(quote_matches(q, text) for q in quotes):
            return rank
    return None


def score(name: str, retrieve: Retriever, questions: list[dict[str, Any]]) -> dict[str, float]:
    t0 = time.perf_counter()
    ranks = [first_hit(q["evidence"], retrieve(q["question"])[:DEPTH]) for q in questions]
    n = max(1, len(questions))
    out = {f"hit@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in (1, 3, 5)}
    out["mrr@10"] = sum(1.0 / r for r in ranks if r is not None) / n
    out["seconds"] = round(time.perf_counter() - t0, 2)
    log(f"{name}: {out['seconds']:.1f} s for {len(questions)} questions")
    return out


class ProjectEmbeddings(Embeddings):
    """LangChain Embeddings over the project's embedder (normalised MiniLM vectors)."""

    def __init__(self, embedder: SentenceTransformerEmbedder):
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self.embedder.embed(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.embed([text])[0]]


def langchain_retrievers(embedder: SentenceTransformerEmbedder) -> tuple[Retriever, Retriever, int]:
    """The LangChain default pipeline (dense, in memory) and BM25 over the same splits."""
    from langchain_community.document_loaders import PyPDFLoader
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    pages = PyPDFLoader(str(PDF)).load()
    docs = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(pages)
    store = FAISS.from_documents(docs, ProjectEmbeddings(embedder))
    texts = [d.page_content for d in docs]
    bm25 = BM25Index.build(texts)

    def dense(q: str) -> list[str]:
        return [d.page_content for d in store.similarity_search(q, k=DEPTH)]

    def sparse(q: str) -> list[str]:
        return [texts[row] for row, _ in bm25.search(q, DEPTH)]

    return dense, sparse, len(docs)


def rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(re.search(r"^MemTotal:\s+(\d+)", meminfo, re.M).group(1))  # type: ignore[union-attr]
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024**2, 1),
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }


def log(msg: str) -> None:
    print(f"bench [{time.perf_counter() - START:6.1f} s] {msg}", file=sys.stderr, flush=True)


def run(index_dir: Path, questions_path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="peerqa-bench-src-") as src:
        shutil.copy2(PDF, Path(src) / PDF.name)
        settings = Settings(index_dir=index_dir, sources_dir=Path(src))
        log(f"full build into {index_dir}")
        t0 = time.perf_counter()
        report = run_ingest(settings, show_progress=False)
        out["build"] = {
            "seconds": round(time.perf_counter() - t0, 2),
            "report_seconds": round(report.seconds, 2),
            "peak_rss_self_mb": round(rss_mb(resource.RUSAGE_SELF), 1),
            "peak_rss_children_mb": round(rss_mb(resource.RUSAGE_CHILDREN), 1),
            "embedded": report.embedded,
            "statuses": [s.status for s in report.sources],
        }
        log("no-change rebuild")
        t0 = time.perf_counter()
        again = run_ingest(settings, show_progress=False)
        out["rebuild"] = {"seconds": round(time.perf_counter() - t0, 2), "embedded": again.embedded,
                          "reused": again.reused}

    index = open_index(settings)
    embedder = get_embedder(settings)
    count = token_counter(settings.model)
    lengths = np.asarray([count(c.embed_text) + 2 for c in index.chunks])  # + [CLS], [SEP]
    body = [c for c in index.chunks if c.kind == "body"]
    nb = max(1, len(body))
    out["chunks"] = {
        "count": len(index.chunks),
        "body": len(body),
        "tokens": {
            "min": int(lengths.min()),
            **{f"p{p}": float(np.percentile(lengths, p)) for p in (50, 90, 99)},
            "max": int(lengths.max()),
        },
        "body_with_section": round(sum(1 for c in body if c.section_path) / nb, 4),
        "body_with_page": round(sum(1 for c in body if c.page_start is not None) / nb, 4),
        "citation_link_rate": report.citation_link_rate,
        "manifest_citations": index.manifest.get("citations"),
    }

    lines = [json.loads(s) for s in questions_path.read_text(encoding="utf-8").splitlines() if s.strip()]
    questions = [q for q in lines if q.get("type") != "unanswerable" and q.get("evidence")]
    log(f"retrieval on {len(questions)} questions")
    import torch  # lazily: the spawned parse child re-imports this module and need not load torch

    torch.set_num_threads(1)  # one-query encodes: 2 threads on 2 busy cores ran ~15x slower here
    hybrid = HybridSearcher(index, embedder, pool=50)
    dense = HybridSearcher(index, embedder, pool=50, hybrid=False)
    log("LangChain default pipeline (PyPDFLoader, 1000/200 splits, FAISS)")
    t0 = time.perf_counter()
    lc_dense, lc_bm25, n_splits = langchain_retrievers(embedder)
    systems: dict[str, Retriever] = {
        "peerqa hybrid": lambda q: [p.chunk.text for p in hybrid.search(q, k=DEPTH)],
        "peerqa dense only": lambda q: [p.chunk.text for p in dense.search(q, k=DEPTH)],
        "peerqa BM25 only": lambda q: [index.chunks[r].text for r, _ in index.bm25.search(q, DEPTH)],
        "LangChain default": lc_dense,
        "LangChain splits + BM25": lc_bm25,
    }
    lc_seconds = time.perf_counter() - t0
    scores = {name: score(name, fn, questions) for name, fn in systems.items()}
    out["retrieval"] = {"questions": len(questions), "langchain_splits": n_splits, "torch_threads": 1,
                        "langchain_build_seconds": round(lc_seconds, 2), "systems": scores}
    out["total_seconds"] = round(time.perf_counter() - START, 1)
    return out


def print_table(r: dict[str, Any]) -> None:
    m, b, rb, c, rt = r["machine"], r["build"], r["rebuild"], r["chunks"], r["retrieval"]
    t = c["tokens"]
    rows = [
        ("machine", f"{m['platform']}, {m['cpus']} CPUs, {m['memory_gb']} GB RAM, Python {m['python']}, "
                    f"load {m['load_avg_1m_at_start']} at start"),
        ("full build", f"{b['seconds']:.1f} s wall (report {b['report_seconds']:.1f} s), {b['embedded']} embedded"),
        ("peak RSS", f"{b['peak_rss_self_mb']:.0f} MB this process, {b['peak_rss_children_mb']:.0f} MB largest child"),
        ("no-change rebuild", f"{rb['seconds']:.1f} s, embedded {rb['embedded']}, reused {rb['reused']}"),
        ("chunks", f"{c['count']} ({c['body']} body)"),
        ("tokens (embed_text+2)", f"min {t['min']}, p50 {t['p50']:.0f}, p90 {t['p90']:.0f}, "
                                  f"p99 {t['p99']:.0f}, max {t['max']} (limit 256)"),
        ("body with section", f"{100 * c['body_with_section']:.1f} %"),
        ("body with page", f"{100 * c['body_with_page']:.1f} %"),
        ("citation link rate", f"{c['citation_link_rate']}  manifest: {json.dumps(c['manifest_citations'])}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print(f"\nretrieval: {rt['questions']} questions (answerable, with evidence); "
          f"LangChain splits: {rt['langchain_splits']} (built in {rt['langchain_build_seconds']:.1f} s); torch threads 1")
    name_w = max(len(n) for n in rt["systems"])
    print(f"{'system':<{name_w}}  hit@1  hit@3  hit@5  MRR@10  seconds")
    for name, s in rt["systems"].items():
        print(f"{name:<{name_w}}  {s['hit@1']:.3f}  {s['hit@3']:.3f}  {s['hit@5']:.3f}  {s['mrr@10']:.3f}  "
              f"{s['seconds']:7.1f}")
    print(f"\ntotal {r['total_seconds']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, help="empty or new folder for the index (default: a temp dir)")
    parser.add_argument("--questions", type=Path, default=SHIPPED_QUESTIONS)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.index_dir is not None:
        if args.index_dir.exists() and any(args.index_dir.iterdir()):
            parser.error(f"--index-dir {args.index_dir} is not empty; the build must start from scratch")
        result = run(args.index_dir.resolve(), args.questions)
    else:
        with tempfile.TemporaryDirectory(prefix="peerqa-bench-index-") as tmp:
            result = run(Path(tmp), args.questions)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
