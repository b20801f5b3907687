"""Train a small cross-encoder re-ranker on the sources alone (no questions, no network):
the self-supervised pairs of index/adapt.py (`build_pairs`) as positives, hard negatives mined
from the same index, binary cross-entropy, one epoch on the CPU, saved as a local
sentence-transformers CrossEncoder folder (safetensors) under `<out>/<key>-ce/`, usable as
`PEERQA_RETRIEVAL__RERANKER`.

The model starts from the bundled MiniLM (its encoder; the one-logit classification head starts
random). Negatives per positive, for a pair whose passage side is a chunk (heading, cloze):

    hard    the top BM25 and dense chunks for its query side that are neither its own chunk, nor a
            chunk next to it (chunks overlap by a sentence), nor a chunk of the same heading, nor a
            chunk holding the query text itself
    random  a chunk drawn at random under the same exclusions

For a pair whose passage side is a glossary definition or a reference title, the hard negatives
are the other definitions or titles sharing the most words with its query side. `peerqa adapt
--reranker` trains once per corpus: the folder name hashes the corpus key of index/adapt.py and
these settings, and a finished folder (its marker file is written last) is reused.

Measured on the review (README, "Ranking"): in this budget (one epoch, 554 steps, 8 minutes on
2 cores) the model does not learn to separate the positives from their negatives, and the
re-ranker it gives does not beat the fused order; it stays an option.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from peerqa.index.adapt import AdaptSettings, Pair, build_pairs, corpus_key, finished, seeded_torch
from peerqa.index.bm25 import tokenize
from peerqa.index.embedder import Embedder, model_dir
from peerqa.index.store import LoadedIndex
from peerqa.index.vectors import search_faiss
from peerqa.settings import ModelSettings

DONE = "rerank.json"  # written last: a folder without it is an interrupted run and is retrained


@dataclass(frozen=True)
class RerankTrainSettings:
    seed: int = 13
    max_pairs: int = 2400  # positives (a seeded sample of build_pairs, every kind in proportion)
    cloze_per_passage: int = 4
    hard_negatives: int = 3
    random_negatives: int = 1
    mine_depth: int = 12  # how deep the BM25 and dense lists are read for hard negatives
    epochs: int = 1
    batch_size: int = 16
    lr: float = 1e-4
    pos_weight: float = 4.0  # weight of a positive in the loss: hard + random negatives per positive balance them
    warmup: float = 0.1  # share of the steps with a linear warm-up
    max_length: int = 128
    max_steps: int = 0  # 0 = every batch; tests cap it


@dataclass(frozen=True)
class Example:
    kind: str  # the pair's kind, or "<kind>:hard" / "<kind>:random" for a negative
    query: str
    passage: str
    label: float


def _heading(index: LoadedIndex, row: int) -> str:
    path = index.chunks[row].section_path
    return " ".join(path[-2:]) if path else ""


def _excluded(pair: Pair, heading_rows: dict[str, set[int]]) -> set[int]:
    """Rows that may not be a negative of this pair: its own chunk and its neighbours, and for a
    heading pair every chunk of that heading and their neighbours. (A chunk holding the query
    text itself is refused where the negatives are drawn.)"""
    out: set[int] = set()
    own = {pair.group} if pair.group >= 0 else set()
    if pair.kind == "heading":
        own |= heading_rows.get(pair.query, set())
    for r in own:
        out |= {r - 1, r, r + 1}
    return out


def _interleave(a: list[int], b: list[int]) -> list[int]:
    """The two rankings merged turn about, each row once."""
    out: list[int] = []
    for i in range(max(len(a), len(b))):
        for ranked in (a, b):
            if i < len(ranked) and ranked[i] not in out:
                out.append(ranked[i])
    return out


def _overlap_rank(query: str, pool: list[str]) -> list[int]:
    q = set(tokenize(query))
    scored = [(-len(q & set(tokenize(text))), i) for i, text in enumerate(pool)]
    return [i for _s, i in sorted(scored)]


def mine_examples(index: LoadedIndex, pairs: list[Pair], cfg: RerankTrainSettings,
                  embedder: Embedder | None = None) -> list[Example]:
    """Each pair as a positive, followed by its hard and random negatives (seeded)."""
    rng = random.Random(cfg.seed + 1)
    n = len(index.chunks)
    heading_rows: dict[str, set[int]] = {}
    for row in range(n):
        heading_rows.setdefault(_heading(index, row), set()).add(row)
    chunk_pairs = [p for p in pairs if p.group >= 0]
    vectors = embedder.embed([p.query for p in chunk_pairs]) if embedder is not None and chunk_pairs else None
    vec_of = {id(p): vectors[i] for i, p in enumerate(chunk_pairs)} if vectors is not None else {}
    pools: dict[str, list[str]] = {}
    for p in pairs:
        if p.group < 0:
            pools.setdefault(p.kind, [])
            if p.passage not in pools[p.kind]:
                pools[p.kind].append(p.passage)
    out: list[Example] = []
    for p in pairs:
        out.append(Example(p.kind, p.query, p.passage, 1.0))
        hard: list[str] = []
        excluded = _excluded(p, heading_rows)
        if p.group >= 0:
            bm = [r for r, _s in index.bm25.search(p.query, cfg.mine_depth)]
            dense = [r for r, _s in search_faiss(index.faiss, vec_of[id(p)], cfg.mine_depth)] if id(p) in vec_of else []
            for r in _interleave(bm, dense):
                if r not in excluded and p.query not in index.chunks[r].text:
                    hard.append(index.chunks[r].text)
                    if len(hard) >= cfg.hard_negatives:
                        break
        else:
            pool = [t for t in pools[p.kind] if t != p.passage]
            hard = [pool[i] for i in _overlap_rank(p.query, pool)[: cfg.hard_negatives]]
        out.extend(Example(f"{p.kind}:hard", p.query, text, 0.0) for text in hard)
        for _ in range(cfg.random_negatives):
            for _try in range(20):
                r = rng.randrange(n)
                if r not in excluded and p.query not in index.chunks[r].text:
                    out.append(Example(f"{p.kind}:random", p.query, index.chunks[r].text, 0.0))
                    break
    return out


def folder_key(index: LoadedIndex, base: ModelSettings, cfg: RerankTrainSettings) -> str:
    """The corpus key of index/adapt.py (sources, base model, pair settings) plus these settings."""
    pair_cfg = AdaptSettings(seed=cfg.seed, max_pairs=cfg.max_pairs, cloze_per_passage=cfg.cloze_per_passage)
    blob = json.dumps({"corpus": corpus_key(index, base, pair_cfg), "rerank": asdict(cfg)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16] + "-ce"


def count_kinds(examples: list[Example]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for e in examples:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    return dict(sorted(kinds.items()))


def train(index: LoadedIndex, base: ModelSettings, out_root: Path, cfg: RerankTrainSettings | None = None,
          embedder: Embedder | None = None,
          log: Callable[[str], None] = lambda _m: None) -> tuple[Path, dict[str, object]]:
    """Train (or reuse) the corpus's cross-encoder; returns its folder and its training record.
    `embedder` (the index's own) adds dense hard negatives to the BM25 ones."""
    cfg = cfg or RerankTrainSettings()
    folder = out_root / folder_key(index, base, cfg)
    if (earlier := finished(folder, DONE)) is not None:
        return folder, earlier
    t0 = time.perf_counter()
    torch = seeded_torch(cfg.seed)  # the seed fixes the random head's initial weights, and dropout
    from sentence_transformers import CrossEncoder

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    pair_cfg = AdaptSettings(seed=cfg.seed, max_pairs=cfg.max_pairs, cloze_per_passage=cfg.cloze_per_passage)
    pairs = build_pairs(index, pair_cfg)
    examples = mine_examples(index, pairs, cfg, embedder)
    log(f"{len(pairs)} positives, {len(examples) - len(pairs)} negatives ({time.perf_counter() - t0:.0f} s)")
    model = CrossEncoder(str(model_dir(base)), num_labels=1, max_length=cfg.max_length, device="cpu",
                         local_files_only=True)
    order = list(examples)
    batches = []
    for epoch in range(cfg.epochs):
        random.Random(cfg.seed * 1000 + epoch).shuffle(order)
        batches += [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    if cfg.max_steps:
        batches = batches[: cfg.max_steps]
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    warm = max(1, int(cfg.warmup * len(batches)))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warm, max(0.0, (len(batches) - s) / max(1, len(batches) - warm))))
    losses: list[float] = []
    model.train()
    for step, batch in enumerate(batches, start=1):
        features = model.preprocess([(e.query, e.passage) for e in batch])
        logits = model(features)["scores"].reshape(-1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, torch.tensor([e.label for e in batch]), pos_weight=torch.tensor(cfg.pos_weight))
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if step % 20 == 0:
            log(f"step {step}/{len(batches)}, loss {sum(losses[-20:]) / len(losses[-20:]):.3f}")
    model.eval()
    tmp = folder.with_name(folder.name + ".part")
    model.save(str(tmp), safe_serialization=True)
    record: dict[str, object] = {
        "key": folder.name, "base_model": base.name, "settings": asdict(cfg),
        "pairs": count_kinds([e for e in examples if e.label > 0]),
        "negatives": count_kinds([e for e in examples if e.label == 0]),
        "steps": len(batches), "first_loss": round(losses[0], 4) if losses else None,
        "last_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
        "minutes": round((time.perf_counter() - t0) / 60, 2), "torch_threads": torch.get_num_threads(),
        "load_average": round(os.getloadavg()[0], 2),
    }
    (tmp / DONE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    if folder.exists():  # an interrupted earlier run
        import shutil

        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder, record
