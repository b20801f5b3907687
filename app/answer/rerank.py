"""Optional cross-encoder re-ranking of the top fused candidates (off unless a local model is
configured: PEERQA_RETRIEVAL__RERANKER=/path/to/cross-encoder, e.g. the one `peerqa adapt
--reranker` trains from the sources, index/rerank_train.py). None ships, and nothing is downloaded.

The re-ranker does not replace the fused order, it is interpolated into it: each of the top
`reranker_depth` candidates scores `fused + reranker_weight x sigmoid(logit)`, and only those are
re-sorted (ties keep the fused order); the candidates below them keep their order and scores.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Protocol

from peerqa.records import Passage


class Reranker(Protocol):
    def scores(self, query: str, texts: list[str]) -> list[float]:
        """One relevance logit per text (higher = more relevant); the engine applies the sigmoid."""
        ...


class CrossEncoderReranker:
    def __init__(self, folder: str):
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"re-ranker folder {path} not found; set PEERQA_RETRIEVAL__RERANKER to a local cross-encoder "
                "folder, or leave it empty to turn re-ranking off"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(str(path), device="cpu", local_files_only=True)
        self._identity = torch.nn.Identity()

    def scores(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        logits = self._model.predict([(query, t) for t in texts], show_progress_bar=False,
                                     activation_fn=self._identity, batch_size=max(1, len(texts)))
        return [float(s) for s in logits]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def interpolate(candidates: list[Passage], logits: list[float], weight: float) -> list[Passage]:
    """The candidates scored (one logit each, in order) re-sorted by fused + weight x sigmoid(logit),
    their `score` set to that sum; ties keep the fused order."""
    combined = [p.score + weight * sigmoid(s) for p, s in zip(candidates, logits, strict=True)]
    order = sorted(range(len(candidates)), key=lambda i: (-combined[i], i))
    out = []
    for i in order:
        p = candidates[i]
        p.score = round(combined[i], 6)
        out.append(p)
    return out


def rerank_top(reranker: Reranker, query: str, candidates: list[Passage], weight: float, depth: int) -> list[Passage]:
    """The top `depth` candidates interpolated with the re-ranker's scores, the rest unchanged."""
    top = candidates[: max(0, depth)]
    if not top:
        return candidates
    return interpolate(top, reranker.scores(query, [p.chunk.text for p in top]), weight) + candidates[len(top):]
