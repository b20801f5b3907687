"""Adapt the bundled MiniLM bi-encoder to the sources, from the sources alone (no questions, no
network): self-supervised pairs, a few hundred contrastive steps on the CPU, saved as a local
sentence-transformers folder (safetensors) keyed by the corpus, usable as `PEERQA_MODEL__NAME`.

Pairs (query side → passage side), built from the index:

    heading   a section's heading (with its parent) → each of its passages
    cloze     a sentence → the rest of its passage (the inverse cloze task)
    glossary  a glossary term → its definition
    citation  a sentence citing a study → the study's title in the reference list

Loss: in-batch negatives (multiple negatives ranking, scale 20), one epoch, AdamW 2e-5, seeded;
one pair per passage per batch, so a passage is never its own negative. `peerqa adapt` trains
once per corpus: the folder name is the corpus hash plus the training settings' hash, and a
folder already there is reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from peerqa.index.embedder import model_dir
from peerqa.index.store import LoadedIndex
from peerqa.settings import ModelSettings

DONE = "adapt.json"  # written last: a folder without it is an interrupted run and is retrained
_WORD = re.compile(r"[A-Za-z]{3,}")


@dataclass(frozen=True)
class AdaptSettings:
    seed: int = 13
    max_pairs: int = 2400
    cloze_per_passage: int = 4
    epochs: int = 1
    batch_size: int = 32
    lr: float = 2e-5
    scale: float = 20.0
    max_tokens: int = 256


@dataclass(frozen=True)
class Pair:
    kind: str
    query: str
    passage: str
    group: int  # the passage's chunk row (or -1 - reference index): one pair per group per batch


def _sentences(index: LoadedIndex) -> dict[int, list[tuple[int, int]]]:
    by_row: dict[int, list[tuple[int, int]]] = {}
    for row, start, end in index.sentence_spans:
        by_row.setdefault(row, []).append((start, end))
    return by_row


def build_pairs(index: LoadedIndex, cfg: AdaptSettings) -> list[Pair]:
    """Every kind of pair the sources give, capped at cfg.max_pairs (seeded sample, every kind kept
    in proportion)."""
    rng = random.Random(cfg.seed)
    pairs: list[Pair] = []
    spans = _sentences(index)
    for row, chunk in enumerate(index.chunks):
        if chunk.section_path:
            heading = " ".join(chunk.section_path[-2:])
            pairs.append(Pair("heading", heading, chunk.text, row))
        sentences = [(s, e) for s, e in spans.get(row, []) if len(_WORD.findall(chunk.text[s:e])) >= 6]
        for s, e in rng.sample(sentences, min(cfg.cloze_per_passage, len(sentences))) if len(sentences) > 1 else []:
            rest = (chunk.text[:s] + " " + chunk.text[e:]).strip()
            if len(_WORD.findall(rest)) >= 12:
                pairs.append(Pair("cloze", chunk.text[s:e], rest, row))
    for info in index.outline.values():
        for n, (term, definition) in enumerate(sorted(info.get("glossary", {}).items())):
            if len(_WORD.findall(definition)) >= 2:
                pairs.append(Pair("glossary", term, definition, -10_000 - n))
    refs = list(index.references.values())
    ref_pos = {r.id: i for i, r in enumerate(refs)}
    for row, chunk in enumerate(index.chunks):
        for s, e in spans.get(row, []):
            sentence = chunk.text[s:e]
            for ref_id in chunk.cites:
                ref = index.references.get(ref_id)
                if ref is None or not ref.title or not ref.authors or ref.authors[0] not in sentence:
                    continue
                pairs.append(Pair("citation", sentence, ref.title, -1 - ref_pos[ref.id]))
                break
    if len(pairs) > cfg.max_pairs:
        pairs = rng.sample(pairs, cfg.max_pairs)
    return pairs


def batches(pairs: list[Pair], cfg: AdaptSettings, epoch: int) -> list[list[Pair]]:
    """Shuffled batches with at most one pair per passage group (the rest wait for a later batch)."""
    order = list(pairs)
    random.Random(cfg.seed * 1000 + epoch).shuffle(order)
    out: list[list[Pair]] = []
    pending = order
    while pending:
        batch: list[Pair] = []
        seen: set[int] = set()
        later: list[Pair] = []
        for p in pending:
            if len(batch) < cfg.batch_size and p.group not in seen:
                batch.append(p)
                seen.add(p.group)
            else:
                later.append(p)
        out.append(batch)
        pending = later
    return [b for b in out if len(b) > 1]


def corpus_key(index: LoadedIndex, base: ModelSettings, cfg: AdaptSettings) -> str:
    """Hash of the sources (their sha256 ids), the base model and the training settings."""
    blob = json.dumps({"sources": sorted(index.sources), "model": base.name, "sha256": base.sha256,
                       "adapt": asdict(cfg)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def finished(folder: Path, done: str) -> dict[str, object] | None:
    """The training record of a finished run in `folder` (its `done` file, written last), else None."""
    record = folder / done
    return json.loads(record.read_text(encoding="utf-8")) if record.exists() else None


def seeded_torch(seed: int) -> Any:
    """torch, imported offline (no model download), with Python's and torch's generators seeded."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    return torch


def train(index: LoadedIndex, base: ModelSettings, out_root: Path, cfg: AdaptSettings | None = None,
          log: Callable[[str], None] = lambda _m: None) -> tuple[Path, dict[str, object]]:
    """Fine-tune (or reuse) the adapted model for this corpus; returns its folder and its record."""
    cfg = cfg or AdaptSettings()
    folder = out_root / corpus_key(index, base, cfg)
    if (earlier := finished(folder, DONE)) is not None:
        return folder, earlier
    t0 = time.perf_counter()
    torch = seeded_torch(cfg.seed)
    from sentence_transformers import SentenceTransformer

    pairs = build_pairs(index, cfg)
    model = SentenceTransformer(str(model_dir(base)), device="cpu", local_files_only=True)
    model.max_seq_length = cfg.max_tokens
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    steps, losses = 0, []
    model.train()
    for epoch in range(cfg.epochs):
        for batch in batches(pairs, cfg, epoch):
            q = model(model.tokenize([p.query for p in batch]))["sentence_embedding"]
            d = model(model.tokenize([p.passage for p in batch]))["sentence_embedding"]
            sims = torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(d, dim=-1).T
            loss = torch.nn.functional.cross_entropy(sims * cfg.scale, torch.arange(len(batch)))
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            steps += 1
            losses.append(float(loss.detach()))
            if steps % 10 == 0:
                log(f"step {steps}, loss {sum(losses[-10:]) / len(losses[-10:]):.3f}")
    model.eval()
    tmp = folder.with_name(folder.name + ".part")
    model.save(str(tmp), safe_serialization=True)
    kinds: dict[str, int] = {}
    for p in pairs:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    record: dict[str, object] = {"key": folder.name, "base_model": base.name, "settings": asdict(cfg),
                                 "pairs": kinds, "steps": steps, "first_loss": round(losses[0], 4) if losses else None,
                                 "last_loss": round(sum(losses[-10:]) / max(1, len(losses[-10:])), 4),
                                 "minutes": round((time.perf_counter() - t0) / 60, 2),
                                 "torch_threads": torch.get_num_threads()}
    (tmp / DONE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    if folder.exists():  # an interrupted earlier run
        import shutil

        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder, record
