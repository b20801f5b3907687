"""What one source may cost, and the floor on chunk size.

A source's budget (`peerqa.settings.BudgetSettings`) covers its whole pipeline: reading,
structure, chunking and embedding, with

* a wall-clock limit for all of it (`SourceClock`, kept across the parse in a child process and
  the embedding in the builder, counting only the time spent on this source);
* limits on passages per source and per printed page, checked as soon as the chunks exist
  (and characters per page while the PDF is read, so a 50 MB line never reaches the chunker);
* a memory limit for the parser's child process.

A source over budget fails with `OverBudget` (a `SourceError`), whose message names the limit;
the build goes on without it.

The fragment floor: a chunk with fewer than `min_chunk_words` words (and fewer than 6 letters per
word asked for) says nothing on its own — a stray symbol of a formula, a lone "Proof." — so it is
merged into a neighbour of the same section when that fits the token bound, and dropped as noise
when not. The shipped review has no such chunk (its shortest is "Figure 1. PRISMA Flow Diagram").
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence

from peerqa.ingest.failures import time_limit
from peerqa.ingest.loaders import SourceError
from peerqa.records import SECTION_SEP, Chunk
from peerqa.settings import BudgetSettings

_WORD = re.compile(r"[^\W\d_]{2,}")
_LETTER = re.compile(r"[^\W\d_]")


class OverBudget(SourceError):
    """A source exceeded its budget; the message names the limit."""


class SourceClock:
    """Wall-clock time spent on one source, across stages run at different moments."""

    def __init__(self, limit_s: float):
        self.limit_s = limit_s
        self.spent = 0.0
        self._since: float | None = None

    def start(self) -> SourceClock:
        if self._since is None:
            self._since = time.monotonic()
        return self

    def stop(self) -> None:
        if self._since is not None:
            self.spent += time.monotonic() - self._since
            self._since = None

    def elapsed(self) -> float:
        return self.spent + (time.monotonic() - self._since if self._since is not None else 0.0)

    def remaining(self) -> float:
        return max(0.0, self.limit_s - self.elapsed())

    def check(self, stage: str) -> None:
        """Raise OverBudget once the time is up."""
        if self.elapsed() > self.limit_s:
            raise OverBudget(time_limit(self.limit_s, stage))


def check_text_size(doc_chars: int, budget: BudgetSettings, per_chunk_chars: int = 1000) -> None:
    """A text too long for the passage limit fails before it is chunked."""
    ceiling = budget.max_chunks_per_source * per_chunk_chars
    if doc_chars > ceiling:
        raise OverBudget(
            f"{doc_chars:,} characters of text: more passages than the limit of {budget.max_chunks_per_source:,} "
            "for one source"
        )


def long_sentence_pieces(text: str, start: int, end: int, budget_tokens: int) -> list[tuple[int, int]]:
    """A sentence far longer than any chunk (a 5 MB line with no full stop) cut at spaces into pieces
    of about three characters a token, so that counting word pieces stays linear; sentences of
    ordinary length (up to 24 characters a token of the budget) come back whole."""
    if end - start <= 24 * budget_tokens:
        return [(start, end)]
    step = max(40, 3 * budget_tokens)
    pieces, pos = [], start
    while pos < end:
        cut = min(end, pos + step)
        if cut < end:
            space = text.rfind(" ", pos + 1, cut)
            cut = space if space > pos else cut
        if text[pos:cut].strip():
            pieces.append((pos, cut))
        pos = cut + 1 if cut < end and text[cut] == " " else cut
    return pieces


def check_chunks(chunks: Sequence[Chunk], budget: BudgetSettings) -> None:
    """Passages per source and per printed page within the limits, or OverBudget."""
    if len(chunks) > budget.max_chunks_per_source:
        raise OverBudget(
            f"yields {len(chunks):,} passages, over the limit of {budget.max_chunks_per_source:,} for one source"
        )
    per_page = Counter(c.page_start for c in chunks if c.page_start is not None)
    if per_page:
        page, n = max(per_page.items(), key=lambda kv: (kv[1], -kv[0]))
        if n > budget.max_chunks_per_page:
            raise OverBudget(
                f"page {page} yields {n:,} passages, over the limit of {budget.max_chunks_per_page} a page "
                "(its text is broken into fragments)"
            )


def is_fragment(text: str, min_words: int) -> bool:
    return len(_WORD.findall(text)) < min_words and len(_LETTER.findall(text)) < 6 * min_words


def merge_fragments(groups: list[list], text_of: Callable[[list], str], budget: int, min_words: int) -> list[list]:
    """Groups of units (one chunk each, one section) with fragments merged into a neighbour that
    has room (the previous first, else the next) or dropped when none has."""
    if min_words <= 0 or not groups:
        return groups
    out: list[list] = [list(g) for g in groups]
    i = 0
    while i < len(out):
        group = out[i]
        if not is_fragment(text_of(group), min_words):
            i += 1
            continue
        merged = False
        for j in (i - 1, i + 1):
            if 0 <= j < len(out):
                union = _union(out[j], group) if j < i else _union(group, out[j])
                if sum(u.tokens for u in union) <= budget:
                    out[j] = union
                    merged = True
                    break
        del out[i]  # merged into a neighbour, or noise
        if merged and i > 0:
            i -= 1  # the previous group grew; look at it again
    return out


def _union(first: list, second: list) -> list:
    """Units of two neighbouring groups in reading order, overlap counted once."""
    seen = {id(u) for u in first}
    return first + [u for u in second if id(u) not in seen]


def bounded_header(header: str, max_tokens: int, count: Callable[[str], int]) -> str:
    """A section header that leaves most of the token bound to the text: when the path is too long,
    the top and the innermost titles are kept around an ellipsis."""
    limit = max(8, max_tokens // 4)
    if not header or count(header) <= limit:
        return header
    parts = header.rstrip("\n").split(SECTION_SEP)
    short = f"{parts[0]}{SECTION_SEP}…{SECTION_SEP}{parts[-1]}" if len(parts) > 2 else parts[-1]
    while count(short) > limit and len(short) > 20:
        short = short[: int(len(short) * 0.8)].rstrip() + "…"
    return short + "\n"
