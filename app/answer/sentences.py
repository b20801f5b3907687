"""Every sentence of the index once, in reading order per source, with what composition needs:
its chunk rows, its stored vector, its page(s) and its role (a list item, a list's lead-in, or
an ordinary sentence).

Chunks overlap by a sentence and a list may run on into the next chunk, so answer units are
built on this document-level table, not on one chunk's text: over the whole index once when it is
in memory (the folder store), over a question's candidate rows and their neighbours otherwise
(the PostgreSQL store, index/corpus.py).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from peerqa.index.corpus import Corpus
from peerqa.index.store import LoadedIndex
from peerqa.ingest.sentences import split_sentences
from peerqa.records import Chunk

# A list item as the sources print it: "- ...", "• ...", "1. ...", "(a) ...", "ii) ...".
ITEM_START = re.compile(r"^\s*(?:[-•▪●◦*–]\s+|\(?\d{1,2}[.)]\s+|\(?[a-h][.)]\s+|\(?(?:i|ii|iii|iv|v|vi|vii|viii|ix|x)\)\s+)")
CAPTION = re.compile(r"^\s*(?:Table|Figure)\s+\d+[.:]")
# A sentence that introduces what follows: it ends in ":" or in "include", "such as", "the following".
LEAD_IN_END = re.compile(r"(?::|\b(?:include|includes|included|including|such as|the following|as follows))\s*$", re.I)


@dataclass
class DocSentence:
    """One sentence of a source, once, however many chunks repeat it."""

    idx: int  # position in SentenceTable.sentences
    source_id: str
    start: int  # offsets in the source's normalised text
    end: int
    text: str
    section: str
    rows: list[int]  # chunk rows whose text holds the sentence, first one first
    vector: int  # row in index.sentence_vectors, -1 when none was stored (very short sentences)
    pages: list[int]
    new_paragraph: bool  # a line break (or the start of a chunk at a paragraph) comes before it
    role: str = "sentence"  # sentence | lead_in | item | caption (a table's title line) | row (a table's line)

    @property
    def page(self) -> int | None:
        return self.pages[0] if self.pages else None

    def offsets_in(self, chunk_start: int) -> tuple[int, int]:
        return self.start - chunk_start, self.end - chunk_start


@dataclass
class SentenceTable:
    sentences: list[DocSentence] = field(default_factory=list)
    by_row: dict[int, list[int]] = field(default_factory=dict)  # chunk row -> sentence idx in reading order
    vectors: np.ndarray | None = None

    @classmethod
    def build(cls, index: LoadedIndex) -> SentenceTable:
        """Over every chunk of an index held in memory (the folder store): built once."""
        vector_of = {(row, s, e): i for i, (row, s, e) in enumerate(index.sentence_spans)}
        vectors = None
        if index.sentence_vectors is not None and len(index.sentence_spans):
            vectors = np.asarray(index.sentence_vectors, dtype="float32")
        return cls._assemble(enumerate(index.chunks), vector_of, vectors)

    @classmethod
    def for_rows(cls, corpus: Corpus, rows: list[int]) -> SentenceTable:
        """Over the given chunk rows only (a store that fetches by row builds one per question)."""
        chunks = corpus.chunks(sorted(set(rows)))
        stored = corpus.sentences(list(chunks))
        vector_of: dict[tuple[int, int, int], int] = {}
        parts: list[np.ndarray] = []
        for row in sorted(stored):
            for start, end, vec in stored[row]:
                vector_of[(row, start, end)] = len(parts)
                parts.append(np.asarray(vec, dtype="float32"))
        vectors = np.vstack(parts) if parts else None
        return cls._assemble(sorted(chunks.items()), vector_of, vectors)

    @classmethod
    def _assemble(cls, chunks: Iterable[tuple[int, Chunk]], vector_of: dict[tuple[int, int, int], int],
                  vectors: np.ndarray | None) -> SentenceTable:
        found: dict[tuple[str, int, int], DocSentence] = {}
        table_rows: dict[tuple[str, int, int], str] = {}  # table lines: "caption" (the first) or "row"
        gaps: dict[tuple[str, int], str] = {}  # (source, sentence start) -> the text just before it
        for row, chunk in chunks:
            spans = split_sentences(chunk.text)
            for j, (s, e) in enumerate(spans):
                key = (chunk.source_id, chunk.char_start + s, chunk.char_start + e)
                if chunk.kind == "table":
                    table_rows[key] = "caption" if CAPTION.match(chunk.text[s:e]) else "row"
                if j > 0:
                    gaps[(chunk.source_id, key[1])] = chunk.text[spans[j - 1][1] : s]
                sent = found.get(key)
                if sent is None:
                    found[key] = DocSentence(
                        idx=-1, source_id=chunk.source_id, start=key[1], end=key[2], text=chunk.text[s:e].strip(),
                        section=chunk.section, rows=[row], vector=vector_of.get((row, s, e), -1),
                        pages=chunk.pages_of(s, e), new_paragraph=j == 0,
                    )
                else:
                    sent.rows.append(row)
                    if sent.vector < 0:
                        sent.vector = vector_of.get((row, s, e), -1)
        ordered = sorted(found.values(), key=lambda d: (d.source_id, d.start))
        by_row: dict[int, list[int]] = defaultdict(list)
        for i, sent in enumerate(ordered):
            sent.idx = i
            gap = gaps.get((sent.source_id, sent.start))
            if gap is not None:
                sent.new_paragraph = "\n" in gap
            sent.role = table_rows.get((sent.source_id, sent.start, sent.end)) or (
                "item" if ITEM_START.match(sent.text) else "sentence")
            for row in sent.rows:
                by_row[row].append(i)
        for i, sent in enumerate(ordered):
            nxt = ordered[i + 1] if i + 1 < len(ordered) else None
            if sent.role == "sentence" and LEAD_IN_END.search(sent.text) and nxt is not None \
                    and nxt.source_id == sent.source_id and nxt.role == "item":
                sent.role = "lead_in"
        return cls(ordered, {r: sorted(v) for r, v in by_row.items()}, vectors)

    def neighbour(self, sent: DocSentence, step: int) -> DocSentence | None:
        """The sentence before (-1) or after (+1) in the same source and section, if any."""
        j = sent.idx + step
        if not 0 <= j < len(self.sentences):
            return None
        other = self.sentences[j]
        return other if other.source_id == sent.source_id and other.section == sent.section else None

    def similarity(self, sent: DocSentence, query_vec: np.ndarray) -> float | None:
        if self.vectors is None or sent.vector < 0:
            return None
        return float(self.vectors[sent.vector] @ query_vec)
