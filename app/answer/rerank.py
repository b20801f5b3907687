"""Optional cross-encoder re-ranking of retrieved passages (off unless a local model is configured:
PEERQA_RETRIEVAL__RERANKER=/path/to/cross-encoder). None ships, and nothing is downloaded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol


class Reranker(Protocol):
    def scores(self, query: str, texts: list[str]) -> list[float]: ...


class CrossEncoderReranker:
    def __init__(self, folder: str):
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(
                f"re-ranker folder {path} not found; set PEERQA_RETRIEVAL__RERANKER to a local cross-encoder "
                "folder, or leave it empty to turn re-ranking off"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(str(path), device="cpu", local_files_only=True)

    def scores(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        return [float(s) for s in self._model.predict([(query, t) for t in texts], show_progress_bar=False)]
