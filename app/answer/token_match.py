"""Late interaction at sentence level: how well a question's word pieces are matched inside one
sentence (or unit) of a passage, from the token vectors the index already stores per chunk.

The index keeps each chunk's contextual word-piece vectors for passage-level late interaction
(index/late_interaction.py) but not their character offsets; the model's tokenizer gives them
back (the same pieces of the same embedded text), so a sentence's span selects its own vectors.
Chosen because the sentence cosine alone picked a sentence holding the answer for fewer than half
of the curated questions: a single pooled vector blurs the one phrase that answers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from peerqa.index.late_interaction import TokenEmbedding, TokenVectors, query_pieces
from peerqa.records import Chunk


class TokenSpans:
    """Per chunk row, the character offset (in chunk.text) where each stored token vector starts."""

    def __init__(self, chunks: list[Chunk], vectors: TokenVectors, tokenizer_file: Path):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_file))
        tok.no_truncation()
        self.vectors = vectors
        self.starts: dict[int, np.ndarray] = {}
        encodings = tok.encode_batch([c.embed_text for c in chunks], add_special_tokens=False)
        for row, (chunk, enc) in enumerate(zip(chunks, encodings, strict=True)):
            a, b = int(vectors.offsets[row]), int(vectors.offsets[row + 1])
            stored = vectors.ids[a:b]
            ids = np.asarray(enc.ids[: b - a], dtype="int32")
            if len(ids) != b - a or not np.array_equal(ids, stored):
                continue  # another tokenizer than the index's: no sentence-level scores for this row
            header = len(chunk.embed_text) - len(chunk.text)
            self.starts[row] = np.asarray([s - header for s, _e in enc.offsets[: b - a]], dtype="int64")

    def score(self, query: TokenEmbedding, parts: list[tuple[int, int, int]]) -> float | None:
        """The question's weighted MaxSim over the tokens of `parts` ((chunk row, start, end) spans
        of chunk.text); None when no part has token positions."""
        keep = query_pieces(query)
        if len(keep) == 0:
            return None
        rows: list[np.ndarray] = []
        for row, start, end in parts:
            starts = self.starts.get(row)
            if starts is None:
                continue
            idx = np.flatnonzero((starts >= start) & (starts < end)) + int(self.vectors.offsets[row])
            if len(idx):
                rows.append(idx)
        if not rows:
            return None
        tokens = self.vectors.vectors[np.concatenate(rows)].astype("float32")
        q = query.vectors[keep].astype("float32")
        w = np.asarray([self.vectors.weight(int(query.ids[i])) for i in keep], dtype="float32")
        total = float(w.sum()) or 1.0
        return float(w @ (q @ tokens.T).max(axis=1) / total)
