"""The cited page of a source, as a reader would check it: the PDF page rendered to a PNG with the
quoted sentences highlighted, or, for a .txt/.md source, the passage in its surrounding text.

Rendering and text positions come from PDFium (pypdfium2): it draws the page exactly as a PDF
viewer does and gives every character's box, so a highlight sits on the printed words. Pages are
addressed by the number printed on them (what citations show), mapped to the file's page index
the way ingest numbers pages (page label, else a bare number heading or ending the page, else
the position). PDFium is not thread-safe, and Streamlit serves sessions from threads, so every
call into it holds one lock.
"""

from __future__ import annotations

import io
import re
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from peerqa.records import Chunk

_PDFIUM_LOCK = threading.Lock()
DEFAULT_SCALE = 1.5  # 72 dpi × 1.5: an A4 page is 893 × 1263 px, readable and quick to send
HIGHLIGHT_RGBA = (255, 200, 0, 110)
# A sentence may run onto the next page: a start or an end this long still marks the page.
MIN_PARTIAL_CHARS = 30
NO_TEXT_NOTE = "This page has no text positions (a scanned or image-only page), so nothing is highlighted."
NOT_FOUND_NOTE = "The quoted sentence could not be located on this page, so nothing is highlighted."


class PageError(Exception):
    """The page cannot be shown; the message says why, for the reader."""


@dataclass
class RenderedPage:
    png: bytes
    width: int
    height: int
    page_index: int  # 0-based position in the file
    printed: int  # the page number a reader sees
    pages: int  # pages in the file
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)  # highlight boxes, image px
    located: int = 0  # quoted sentences found on the page
    quotes: int = 0  # quoted sentences asked for
    note: str = ""  # why there is no (or only a partial) highlight
    seconds: float = 0.0
    excerpt: bytes = b""  # PNG of the highlighted lines with some context, to show first (empty: none)


def find_source_file(sources_dir: Path, name: str) -> Path | None:
    """The file a chunk came from. Indexes store only the file name (it may sit in a sub-folder)."""
    name = Path(name).name  # never let a stored name climb out of the sources folder
    if not name or name.startswith("."):
        return None
    direct = sources_dir / name
    if direct.is_file():
        return direct
    if sources_dir.is_dir():
        return next((p for p in sources_dir.rglob(name) if p.is_file()), None)
    return None


# -- matching a quote to the page's characters --------------------------------------------------
def _folded(text: str) -> tuple[str, list[int]]:
    """Letters and digits only, case-folded, with each one's offset in `text`: line breaks,
    hyphenation, ligatures and curly quotes then never stop a match."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                out.append(c)
                where.append(i)
    return "".join(out), where


def quote_parts(quote: str) -> list[str]:
    """A citation's quote joins its sentences with ' … '."""
    return [p.strip() for p in quote.split(" … ") if p.strip()]


def match_spans(page_text: str, quotes: list[str]) -> tuple[list[tuple[int, int]], int]:
    """Character spans of `page_text` covering each quote, and how many quotes were located.

    A quote is found whole, or (when it crosses a page break) by its longest start that ends the
    page or its longest end that starts it."""
    folded, where = _folded(page_text)
    spans: list[tuple[int, int]] = []
    located = 0
    for q in quotes:
        key, _ = _folded(q)
        if not key:
            continue
        hit = _find(folded, key)
        if hit is None:
            continue
        located += 1
        a, b = hit
        spans.append((where[a], where[b - 1] + 1))
    return sorted(spans), located


def _find(folded: str, key: str) -> tuple[int, int] | None:
    pos = folded.find(key)
    if pos >= 0:
        return pos, pos + len(key)
    # Longest start of the quote that ends the page (within its last few characters).
    for n in range(len(key) - 1, MIN_PARTIAL_CHARS - 1, -1):
        pos = folded.rfind(key[:n])
        if pos >= 0 and len(folded) - (pos + n) <= 40:
            return pos, pos + n
        if n < len(key) // 3:
            break
    for n in range(len(key) - 1, MIN_PARTIAL_CHARS - 1, -1):
        pos = folded.find(key[-n:])
        if 0 <= pos <= 40:
            return pos, pos + n
        if n < len(key) // 3:
            break
    return None


# -- the PDF ------------------------------------------------------------------------------------
def _pdfium():  # type: ignore[no-untyped-def]
    try:
        import pypdfium2
    except ImportError as exc:  # a core dependency, but say what to do if it is missing
        raise PageError("pypdfium2 is not installed; run `bash scripts/setup.sh`") from exc
    return pypdfium2


def _open(path: Path):  # type: ignore[no-untyped-def]
    pdfium = _pdfium()
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise PageError(f"{path.name} cannot be opened as a PDF ({exc})") from exc


def _page_text(textpage) -> str:  # type: ignore[no-untyped-def]
    n = textpage.count_chars()
    text = textpage.get_text_range() if n > 0 else ""
    if len(text) != n:  # offsets must be character indexes; build the text one character at a time
        import pypdfium2.raw as raw

        text = "".join(chr(raw.FPDFText_GetUnicode(textpage.raw, i) or 32) for i in range(n))
    return text


_BARE_NUMBER = re.compile(r"^\s*(\d{1,4})\s*$")


def _printed_number(label: str, text: str, index: int) -> int:
    """As ingest.loaders numbers pages: a numeric label, else a bare number on the first or last
    line, else the position."""
    if label.strip().isdigit():
        return int(label.strip())
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for line in (lines[:1] + lines[-1:]) if lines else []:
        m = _BARE_NUMBER.match(line)
        if m:
            return int(m.group(1))
    return index + 1


@lru_cache(maxsize=16)
def _page_numbers(path: str, _mtime: float, _size: int) -> tuple[int, ...]:
    """The printed number of every page of a file (cached per file version)."""
    with _PDFIUM_LOCK:
        pdf = _open(Path(path))
        try:
            numbers = []
            for i in range(len(pdf)):
                label = pdf.get_page_label(i) or ""
                text = ""
                if not label.strip().isdigit():
                    page = pdf[i]
                    textpage = page.get_textpage()
                    text = _page_text(textpage)
                    textpage.close()
                    page.close()
                numbers.append(_printed_number(label, text, i))
            return tuple(numbers)
        finally:
            pdf.close()


def page_numbers(path: Path) -> tuple[int, ...]:
    st = path.stat()
    return _page_numbers(str(path.resolve()), st.st_mtime, st.st_size)


def page_index(path: Path, printed: int) -> int:
    """The 0-based index of the page printed `printed` (the first such page)."""
    numbers = page_numbers(path)
    if printed in numbers:
        return numbers.index(printed)
    shown = f"{numbers[0]}–{numbers[-1]}" if numbers else "none"
    raise PageError(f"{path.name} has no page {printed} (its pages are numbered {shown})")


def render_page(path: Path, printed: int, quotes: list[str] | None = None, scale: float = DEFAULT_SCALE) -> RenderedPage:
    """The page printed `printed` of the PDF at `path` as a PNG, the quotes highlighted."""
    t0 = time.perf_counter()
    if path.suffix.lower() != ".pdf":
        raise PageError(f"{path.name} is not a PDF: it has no pages to show")
    index = page_index(path, printed)
    quotes = [q for q in (quotes or []) if q.strip()]
    from PIL import Image, ImageDraw

    with _PDFIUM_LOCK:
        pdf = _open(path)
        try:
            page = pdf[index]
            width_pt, height_pt = page.get_size()
            textpage = page.get_textpage()
            text = _page_text(textpage)
            # A page number alone is not text: an image-only page often carries just that.
            has_text = len(_folded(text)[0]) >= 20
            spans, located = match_spans(text, quotes) if quotes and has_text else ([], 0)
            rects: list[tuple[float, float, float, float]] = []
            for a, b in spans:
                for r in range(textpage.count_rects(a, b - a)):
                    rects.append(textpage.get_rect(r))
            # Rotation 0 is the norm; other rotations are drawn by PDFium, boxes follow below.
            image = page.render(scale=scale).to_pil().convert("RGB")
            rotation = page.get_rotation()
            textpage.close()
            page.close()
        finally:
            pdf.close()
    boxes = [_to_pixels(r, width_pt, height_pt, scale, rotation) for r in rects]
    if boxes:
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        for box in boxes:
            draw.rectangle(box, fill=HIGHLIGHT_RGBA)
        image = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    excerpt = b""
    if boxes:
        margin = 60 * scale / DEFAULT_SCALE
        top = max(0, int(min(b[1] for b in boxes) - margin))
        bottom = min(image.height, int(max(b[3] for b in boxes) + margin))
        excerpt = _png(image.crop((0, top, image.width, bottom)))
    note = ""
    if quotes and not has_text:
        note = NO_TEXT_NOTE
    elif quotes and located == 0:
        note = NOT_FOUND_NOTE
    elif quotes and located < len(quotes):
        note = f"{located} of the {len(quotes)} quoted sentences were found on this page and are highlighted."
    return RenderedPage(
        png=_png(image), excerpt=excerpt, width=image.width, height=image.height, page_index=index, printed=printed,
        pages=len(page_numbers(path)), boxes=boxes, located=located, quotes=len(quotes), note=note,
        seconds=round(time.perf_counter() - t0, 3),
    )


def _png(image) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=3)  # fast over small
    return buf.getvalue()


def cited_page(path: Path, chunk: Chunk, quote: str) -> RenderedPage:
    """The page of the chunk that holds the quote: its first page, or a later one of its pages
    when the quoted sentence sits there."""
    first = chunk.page_start or 1
    quotes = quote_parts(quote)
    shown = render_page(path, first, quotes)
    for page in range(first + 1, (chunk.page_end or first) + 1):
        if shown.located >= len(quotes):
            break
        later = render_page(path, page, quotes)
        if later.located > shown.located:
            shown = later
    return shown


def _to_pixels(rect: tuple[float, float, float, float], width: float, height: float, scale: float,
               rotation: int) -> tuple[float, float, float, float]:
    """A PDF box (left, bottom, right, top; origin bottom-left, points) → image pixels, padded a little."""
    left, bottom, right, top = rect
    pad = 1.0
    if rotation == 90:
        x0, y0, x1, y1 = bottom, left, top, right
    elif rotation == 180:
        x0, y0, x1, y1 = width - right, bottom, width - left, top
    elif rotation == 270:
        x0, y0, x1, y1 = height - top, width - right, height - bottom, width - left
    else:
        x0, y0, x1, y1 = left, height - top, right, height - bottom
    return ((x0 - pad) * scale, (y0 - pad) * scale, (x1 + pad) * scale, (y1 + pad) * scale)


# -- text sources -------------------------------------------------------------------------------
def passage_in_context(chunks: Sequence[Chunk], chunk: Chunk, around: int = 1) -> tuple[str, tuple[int, int]]:
    """For a source without pages: the passage with `around` neighbouring passages on each side,
    as one text, and where the passage itself sits in it. Overlapping sentences appear once."""
    same = sorted((c for c in chunks if c.source_id == chunk.source_id), key=lambda c: (c.char_start, c.char_end))
    at = next((i for i, c in enumerate(same) if c.id == chunk.id), None)
    if at is None:
        return chunk.text, (0, len(chunk.text))
    window = same[max(0, at - around) : at + around + 1]
    text = ""
    end = None  # char_end of the text so far, in the source's normalised text
    span = (0, 0)
    for c in window:
        piece = c.text
        exact = len(c.text) == c.char_end - c.char_start
        if end is not None and exact and c.char_start < end:
            piece = c.text[min(len(c.text), end - c.char_start) :]  # drop the overlap already shown
        elif text:
            text += "\n\n"
        if c.id == chunk.id:
            start = len(text) - (len(c.text) - len(piece))
            span = (max(0, start), len(text) + len(piece))
        text += piece
        end = max(end or 0, c.char_end)
    return text, span
