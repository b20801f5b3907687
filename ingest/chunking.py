"""Sentence-aware chunking inside section boundaries, bounded in word pieces.

The bound covers what gets embedded (section header + passage), so the model reads every
chunk in full. A passage that opens inside a list or a paragraph has a context (`Chunk.context`):
the list's lead-in ("Stratford et al. (2019) ... identified the guiding values of mental health peer
support as:") or the paragraph's opening sentence ("Ibrahim et al. (2020) conducted a systematic
review of influences on implementation." before "They included 53 publications ..."). Without it
the passage says what was found but not whose study or list it is. The context is embedded when it
fits in `lead_in_tokens` word pieces past the bound (the model reads 256), never in the passage's
own room, so the passages stay as they were; BM25 reads it either way.
A sentence is split only when it alone exceeds the bound; tables stay whole unless they alone
exceed it, in which case they are split by rows with the caption repeated.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

from peerqa.ingest.budget import bounded_header, long_sentence_pieces, merge_fragments
from peerqa.ingest.designs import tag_designs
from peerqa.ingest.sentences import split_sentences
from peerqa.ingest.structure import Block, StructuredDoc
from peerqa.records import SECTION_SEP, Chunk
from peerqa.settings import ChunkingSettings

TokenCounter = Callable[[str], int]
LEAD_MIN_WORDS = 8  # a shorter lead-in ("These include:") takes the sentence before it too


@dataclass
class _Unit:
    start: int  # offsets in the document text
    end: int
    tokens: int
    block: Block
    table: bool = False


def chunk_id(source_id: str, start: int, end: int, text: str) -> str:
    return hashlib.sha256(f"{source_id}:{start}:{end}:{text}".encode()).hexdigest()


def header_for(path: list[str], title: str = "") -> str:
    section = SECTION_SEP.join(path) if path else "Document"
    return f"{title} — {section}\n" if title else f"{section}\n"


def _units_of_block(doc_text: str, block: Block, budget: int, count: TokenCounter) -> list[_Unit]:
    base = block.start
    if block.kind in ("table", "glossary"):
        n = count(block.text)
        if n <= budget:
            return [_Unit(base, base + len(block.text), n, block, table=True)]
        # A long table: rows as units (each row a line).
        units, pos = [], 0
        for row in block.text.split("\n"):
            if row.strip():
                units.append(_Unit(base + pos, base + pos + len(row), count(row), block, table=True))
            pos += len(row) + 1
        return units
    units = []
    for s, e in (p for span in split_sentences(block.text) for p in long_sentence_pieces(block.text, *span, budget)):
        n = count(block.text[s:e])
        if n <= budget:
            units.append(_Unit(base + s, base + e, n, block))
            continue
        # One over-long sentence: split on word boundaries into pieces that fit.
        words_start = base + s
        piece_start = words_start
        last_ok = piece_start
        for pos in range(base + s, base + e + 1):
            if pos == base + e or doc_text[pos] == " ":
                if count(doc_text[piece_start:pos]) > budget and last_ok > piece_start:
                    units.append(_Unit(piece_start, last_ok, count(doc_text[piece_start:last_ok]), block))
                    piece_start = last_ok + 1
                last_ok = pos
        if piece_start < base + e:
            units.append(_Unit(piece_start, base + e, count(doc_text[piece_start : base + e]), block))
    return units


def chunk_document(
    doc: StructuredDoc,
    source_id: str,
    source_path: str,
    settings: ChunkingSettings,
    count_tokens: TokenCounter,
    doc_title: str = "",
) -> list[Chunk]:
    """Chunks of the body (and glossary) of a structured document, in reading order."""
    sections: list[list[Block]] = []
    for block in doc.body_blocks():
        if sections and sections[-1][0].section_path == block.section_path:
            sections[-1].append(block)
        else:
            sections.append([block])

    chunks: list[Chunk] = []
    for blocks in sections:
        path = blocks[0].section_path
        header = bounded_header(header_for(path), settings.max_tokens, count_tokens) if settings.header else ""
        # Special tokens ([CLS], [SEP]) are part of the model's 256.
        budget = settings.max_tokens - (count_tokens(header) if header else 0) - 2
        units = [u for b in blocks for u in _units_of_block(doc.text, b, budget, count_tokens)]
        if not units:
            continue
        total = sum(u.tokens for u in units)
        n_chunks = max(1, math.ceil(total / budget))
        target = min(budget, math.ceil(total / n_chunks * 1.1))
        groups: list[list[_Unit]] = []
        current: list[_Unit] = []
        size = 0
        for unit in units:
            if current and (size + unit.tokens > target or (unit.table and not current[-1].table)):
                groups.append(current)
                overlap = [] if unit.table or current[-1].table else current[-settings.overlap_sentences :] if settings.overlap_sentences else []
                while overlap and sum(u.tokens for u in overlap) + unit.tokens > target:
                    overlap = overlap[1:]
                current, size = list(overlap), sum(u.tokens for u in overlap)
            current.append(unit)
            size += unit.tokens
            if unit.table and unit.tokens > target // 2:
                groups.append(current)
                current, size = [], 0
        if current:
            # A tiny tail that is all overlap adds nothing.
            if groups and all(u in groups[-1] for u in current):
                current = []
            else:
                groups.append(current)
        # The floor on chunk size: fragments join a neighbour or are dropped as noise (ingest/budget.py).
        groups = merge_fragments(groups, lambda g: doc.text[g[0].start : g[-1].end], budget, settings.min_chunk_words)
        position = {id(u): n for n, u in enumerate(units)}
        for group in groups:
            context, forms = context_of(doc.text, units, position[id(group[0])], settings)
            chunks.append(_make_chunk(doc, group, source_id, source_path, header, settings, count_tokens, context, forms))
    return chunks


def context_of(doc_text: str, units: list[_Unit], first: int, settings: ChunkingSettings) -> tuple[str, tuple[str, ...]]:
    """What the group starting at `units[first]` continues (`Chunk.context`), and the forms of it
    that may be embedded, longest first: a list's lead-in may give way to its last sentence, the
    one ending in ":"; a paragraph's opening is embedded whole or not at all."""
    if not settings.lead_in_tokens:
        return "", ()
    lead = list_lead_in(doc_text, units, first)
    if lead:
        return lead, (lead, lead.rsplit(". ", 1)[-1])
    opening = paragraph_opening(doc_text, units, first) if settings.paragraph_lead_in else ""
    return opening, (opening,) if opening else ()


def list_lead_in(doc_text: str, units: list[_Unit], first: int) -> str:
    """The sentence that introduces the list a group opens inside, the group starting at
    `units[first]` (the sentence ends with a colon and stands right before the list's first item),
    with the sentence before it when it is short ("These include:"); empty when the group does not
    open on a list item."""
    if units[first].block.kind != "item":
        return ""
    j = first - 1
    while j >= 0 and units[j].block.kind == "item":
        j -= 1
    if j < 0 or units[j].block.kind != "para":
        return ""
    lead = doc_text[units[j].start : units[j].end].strip()
    if not lead.endswith(":"):
        return ""
    if len(lead.split()) < LEAD_MIN_WORDS and j > 0 and units[j - 1].block is units[j].block:
        lead = doc_text[units[j - 1].start : units[j].end].strip()
    return lead


def paragraph_opening(doc_text: str, units: list[_Unit], first: int) -> str:
    """The first sentence of the paragraph a group opens inside (it says whose study or which subject
    the group's sentences continue: "Ibrahim et al. (2020) conducted a systematic review ..." before
    "They included 53 publications ..."); empty when the group opens at a paragraph's start."""
    block = units[first].block
    if block.kind != "para" or first == 0 or units[first - 1].block is not block:
        return ""
    j = first - 1
    while j > 0 and units[j - 1].block is block:
        j -= 1
    return doc_text[units[j].start : units[j].end].strip()


def _make_chunk(
    doc: StructuredDoc,
    group: list[_Unit],
    source_id: str,
    source_path: str,
    header: str,
    settings: ChunkingSettings,
    count_tokens: TokenCounter,
    context: str = "",
    forms: tuple[str, ...] = (),
) -> Chunk:
    start, end = group[0].start, group[-1].end
    text = doc.text[start:end]
    embed_text = header + text
    # Token counts of pieces are nearly additive; trim from the end if the joined text is over.
    while count_tokens(embed_text) > settings.max_tokens - 2 and len(group) > 1:
        group = group[:-1]
        end = group[-1].end
        text = doc.text[start:end]
        embed_text = header + text
    for part in forms:
        # the context uses the room between the bound and the model's window, never the passage's
        if count_tokens(header + part + "\n" + text) <= settings.max_tokens + settings.lead_in_tokens - 2:
            embed_text = header + part + "\n" + text
            break
    first, last = group[0].block, group[-1].block
    page_start = first.page_at(start - first.start)
    kind = "table" if all(u.table for u in group) else "body"
    if first.kind == "glossary":
        kind = "glossary"
    return Chunk(
        id=chunk_id(source_id, start, end, text),
        source_id=source_id,
        source_path=source_path,
        section_path=list(first.section_path),
        page_start=page_start,
        page_end=last.page_at(end - last.start),
        page_marks=_page_marks(group, start, end, page_start),
        char_start=start,
        char_end=end,
        text=text,
        embed_text=embed_text,
        context=context,
        kind=kind,
        designs=tag_designs(text),
    )


def _page_marks(group: list[_Unit], start: int, end: int, page_start: int | None) -> list[tuple[int, int]]:
    """Where a new page begins inside the chunk, so every sentence can be cited to its own page."""
    marks: list[tuple[int, int]] = []
    current = page_start
    blocks = [u.block for i, u in enumerate(group) if i == 0 or u.block is not group[i - 1].block]
    for block in blocks:
        for off, page in block.page_marks:
            at = block.start + off - start
            if page is None or page == current or not 0 < at < end - start:
                continue
            marks.append((at, page))
            current = page
    return marks
