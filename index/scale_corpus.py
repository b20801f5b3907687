"""A synthetic index version of N chunks, for measuring a serving process at scale.

index/scale.py measures vector search alone on synthetic vectors; a whole engine needs chunk
records, sentences, BM25 and vectors that behave like the real ones. This writes a complete,
validated folder version of N chunks from an existing version (the shipped review): its chunks
repeated as copies of their sources (new chunk and source ids, file names `copyNNNN-...`), each
copy's chunk and sentence vectors moved by small seeded noise and renormalised (so the copies are
distinct points, about as close to each other as paraphrases), BM25 rebuilt over all texts.
Late-interaction token vectors are left out: at ~140 kB per chunk they would be ~14 GB at 10^5
chunks (the engine then scores without late interaction, on both stores alike).

    .venv/bin/python -m peerqa.index.scale_corpus --from data/index --to /tmp/synthetic --chunks 100000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from peerqa.index.bm25 import BM25Index
from peerqa.index.integrity import seal
from peerqa.index.pg_store import chunk_vectors
from peerqa.index.store import file_checksums, load_index, load_version, set_active, write_jsonl
from peerqa.index.vectors import build_faiss, write_faiss

NOISE = 0.02  # per-dimension noise of a copy's vectors before renormalising (cosine to the original ~0.93)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _jitter(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    moved = vectors + rng.normal(0.0, NOISE, size=vectors.shape).astype("float32")
    norms = np.linalg.norm(moved, axis=1, keepdims=True)
    return (moved / np.where(norms == 0, 1.0, norms)).astype("float32")


def write_synthetic(source_dir: Path, index_dir: Path, n: int, seed: int = 20231126) -> str:
    """Write a synthetic version of `n` chunks into `index_dir` and make it active; returns its name."""
    base = load_index(source_dir)
    n0 = len(base.chunks)
    if n0 == 0:
        raise ValueError(f"{source_dir}: the active version has no chunks")
    copies = math.ceil(n / n0)
    rng = np.random.default_rng(seed)
    vectors = chunk_vectors(base)
    sent_vectors = np.asarray(base.sentence_vectors, dtype="float32") if base.sentence_vectors is not None else None
    by_row: dict[int, list[int]] = {}
    for i, (row, _s, _e) in enumerate(base.sentence_spans):
        by_row.setdefault(row, []).append(i)
    chunks, sources, outline = [], [], {}
    chunk_parts, sent_parts, spans = [], [], []
    for j in range(copies):
        take = min(n0, n - j * n0)
        new_src = {sid: _sha(f"{sid}:{j}") for sid in base.sources}
        for sid, doc in base.sources.items():
            sources.append(doc.model_copy(update={"id": new_src[sid], "path": f"copy{j:04d}-{doc.path}"}))
            if sid in base.outline:
                outline[new_src[sid]] = base.outline[sid]
        for row in range(take):
            c = base.chunks[row]
            chunks.append(c.model_copy(update={"id": _sha(f"{c.id}:{j}"), "source_id": new_src.get(c.source_id, c.source_id),
                                               "source_path": f"copy{j:04d}-{c.source_path}"}))
            for i in by_row.get(row, []):
                spans.append((j * n0 + row, base.sentence_spans[i][1], base.sentence_spans[i][2]))
                if sent_vectors is not None:
                    sent_parts.append(i)
        chunk_parts.append(_jitter(vectors[:take], rng))
    matrix = np.vstack(chunk_parts)
    name = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"000000Z-synthetic{n}"
    tmp = index_dir / f".build-{name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_jsonl(tmp / "chunks.jsonl", chunks)
    write_jsonl(tmp / "references.jsonl", list(base.references.values()))
    (tmp / "outline.json").write_text(json.dumps(outline, ensure_ascii=False), encoding="utf-8")
    write_faiss(build_faiss(np.ascontiguousarray(matrix), "flat", 32, 1), tmp / "vectors.faiss")
    (tmp / "bm25").mkdir()
    BM25Index.build([c.text for c in chunks]).save(tmp / "bm25")
    with (tmp / "sentences.jsonl").open("w", encoding="utf-8") as fh:
        for row, start, end in spans:
            fh.write(json.dumps({"row": row, "start": start, "end": end}) + "\n")
    if sent_vectors is not None:
        np.save(tmp / "sentence_vectors.npy", _jitter(sent_vectors[sent_parts], rng), allow_pickle=False)
    m = dict(base.manifest)
    m.update(version=name, sources=[s.model_dump(mode="json") for s in sources],
             counts=dict(m.get("counts", {}), chunks=len(chunks), token_vectors=0,
                         per_source=dict(Counter(c.source_path for c in chunks))),
             synthetic={"from": base.version, "copies": copies, "noise": NOISE, "seed": seed})
    m["files"] = file_checksums(tmp)
    (tmp / "manifest.json").write_text(json.dumps(seal(m), ensure_ascii=False), encoding="utf-8")
    load_version(tmp)  # validate before it can be served
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp.rename(index_dir / name)
    set_active(index_dir, name)
    return name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--from", dest="source", required=True, help="index folder whose active version is repeated")
    p.add_argument("--to", required=True, help="index folder to write the synthetic version into")
    p.add_argument("--chunks", type=int, default=100_000)
    a = p.parse_args(argv)
    print(write_synthetic(Path(a.source), Path(a.to), a.chunks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
