"""Deterministic stand-ins for unit tests: an embedder that hashes words into a vector space."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from peerqa.index.late_interaction import TokenEmbedding


def fake_count_tokens(text: str) -> int:
    """Roughly like WordPiece: words and punctuation marks each count one."""
    return len(re.findall(r"\w+|[^\w\s]", text))


class FakeEmbedder:
    name = "fake-embedder"
    sha256 = "0" * 64

    def __init__(self, dim: int = 64, fail_after: int | None = None):
        self.dim = dim
        self.calls = 0
        self.embedded = 0
        self.fail_after = fail_after
        self.count_tokens = fake_count_tokens

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype="float32")
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            h = int(hashlib.sha256(word.encode()).hexdigest()[:8], 16)
            v[h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
        norm = float(np.linalg.norm(v))
        return v / norm if norm else v

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.embedded + len(texts) > self.fail_after:
            raise RuntimeError("fake embedder failure (simulated crash mid-build)")
        self.embedded += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        return np.vstack([self._vec(t) for t in texts]).astype("float32")

    def embed_with_tokens(self, texts: list[str]) -> tuple[np.ndarray, list[TokenEmbedding]]:
        """Text vectors as embed() gives them; each word is a token whose vector is the word's own
        hashed vector (no context), so late-interaction scores are exact word matches."""
        vectors = self.embed(texts)
        tokens = []
        for text in texts:
            words = re.findall(r"[a-z0-9]+", text.lower())
            ids = np.asarray([int(hashlib.sha256(w.encode()).hexdigest()[:7], 16) for w in words], dtype="int32")
            vecs = np.vstack([self._vec(w) for w in words]) if words else np.zeros((0, self.dim))
            tokens.append(TokenEmbedding(ids=ids, tokens=words, vectors=vecs.astype("float32")))
        return vectors, tokens


def engine_over_text(settings, name: str, text: str):  # type: ignore[no-untyped-def]
    """A real Engine over one text file built with the fake embedder (no model)."""
    from peerqa.app.answer.engine import Engine
    from peerqa.index.builder import build_index
    from peerqa.index.store import load_index

    settings.sources_dir.mkdir(parents=True, exist_ok=True)
    (settings.sources_dir / name).write_text(text, encoding="utf-8")
    build_index(settings, FakeEmbedder())
    return Engine(settings, load_index(settings.index_dir), FakeEmbedder())


def trained_once(train, index, model, tmp_path, cfg, done: str):  # type: ignore[no-untyped-def]
    """Train into tmp_path/a, check the folder holds safetensors and no pickle, that a second call
    reuses it untouched and that a seeded run elsewhere gives the same weights; (folder, record)."""
    import hashlib

    def digest(folder):  # type: ignore[no-untyped-def]
        return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()

    folder, record = train(index, model, tmp_path / "a", cfg)
    files = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", done, "tokenizer.json"} <= files
    assert not any(name.endswith((".bin", ".pkl", ".pickle", ".pt")) for name in files)  # no pickle
    before = digest(folder)
    again, record_again = train(index, model, tmp_path / "a", cfg)  # cached: nothing retrained
    assert again == folder and record_again == record and digest(folder) == before
    other, _ = train(index, model, tmp_path / "b", cfg)  # seeded: the same weights elsewhere
    assert other.name == folder.name and digest(other) == before
    return folder, record
