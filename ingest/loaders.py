"""Load a source file into pages of lines, keeping the page number a reader sees.

PDF goes through pypdf page by page; .txt and .md are read with encoding detection.
Every failure is raised as `SourceError` with a reason a maintainer can act on.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = {".pdf", ".txt", ".md"}
# Private-use and bullet glyphs that PDF text extraction yields for list markers.
_BULLETS = re.compile(r"^\s*[\x7f\uf0b7\uf0a7\uf076\uf0d8\u2022\u25cf\u25aa\u25e6\u2023\u2043\u00b7]\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LIGATURES = {"\ufb01": "fi", "\ufb02": "fl", "\ufb00": "ff", "\ufb03": "ffi", "\ufb04": "ffl", "\u00a0": " "}


class SourceError(Exception):
    """A source could not be read; the message says why, for the maintainer."""


@dataclass
class Page:
    number: int | None
    lines: list[str]


@dataclass
class LoadedDoc:
    path: Path
    kind: str  # pdf | text
    pages: list[Page]
    title: str = ""
    authors: str = ""
    year: int | None = None
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def text_chars(self) -> int:
        return sum(len(line) for p in self.pages for line in p.lines)


def clean_line(line: str) -> str:
    for bad, good in _LIGATURES.items():
        line = line.replace(bad, good)
    if _BULLETS.match(line):
        line = "- " + _BULLETS.sub("", line)
    line = _CONTROL.sub("", line)
    line = unicodedata.normalize("NFC", line)
    return line.rstrip()


def load_source(path: Path, max_pages: int = 2000, max_page_chars: int | None = None) -> LoadedDoc:
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return load_pdf(path, max_pages=max_pages, max_page_chars=max_page_chars)
    if suffix in (".txt", ".md"):
        return load_text(path)
    raise SourceError(f"unsupported file type '{suffix}' (supported: .pdf, .txt, .md)")


def _year_from(text: str) -> int | None:
    m = re.search(r"\b(19[5-9]\d|20[0-4]\d)\b", text or "")
    return int(m.group(1)) if m else None


def _page_number(label: str, lines: list[str], index: int) -> tuple[int, list[str]]:
    """The printed page number, and the lines without a bare page-number header/footer."""
    printed: int | None = int(label) if label.isdigit() else None
    for pos in (0, -1):
        if lines and lines[pos].strip().isdigit():
            value = int(lines[pos].strip())
            if printed is None or value == printed:
                printed = value
                lines = lines[1:] if pos == 0 else lines[:-1]
                break
    return (printed if printed is not None else index + 1), lines


def load_pdf(path: Path, max_pages: int = 2000, max_page_chars: int | None = None) -> LoadedDoc:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    from peerqa.ingest.failures import detail

    if path.stat().st_size == 0:
        raise SourceError("empty file (0 bytes)")
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # pypdf raises several types for unsupported crypto
                raise SourceError(f"encrypted PDF that cannot be opened ({detail(exc)})") from exc
            if not ok:
                raise SourceError("encrypted PDF: a password is required")
        n_pages = len(reader.pages)
    except SourceError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise SourceError(f"not a readable PDF ({detail(exc)})") from exc
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf may raise anything on a damaged file
        raise SourceError(f"not a readable PDF ({detail(exc)})") from exc
    if n_pages == 0:
        raise SourceError("PDF has no pages")
    if n_pages > max_pages:
        raise SourceError(f"PDF has {n_pages} pages, over the limit of {max_pages}")
    try:
        labels = list(reader.page_labels)
    except Exception:  # noqa: BLE001 - broken label trees are common; fall back to positions
        labels = [str(i + 1) for i in range(n_pages)]
    pages: list[Page] = []
    for i, page in enumerate(reader.pages):
        try:
            raw = page.extract_text() or ""
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise SourceError(f"text extraction failed on page {i + 1} ({detail(exc)})") from exc
        if max_page_chars is not None and len(raw) > max_page_chars:
            raise SourceError(
                f"page {i + 1} holds {len(raw):,} characters of text, over the limit of {max_page_chars:,} a page "
                "(a dense page holds about 6,000): probably not a document to index"
            )
        lines = [clean_line(line) for line in raw.splitlines()]
        lines = [line for line in lines if line.strip()]
        number, lines = _page_number(labels[i] if i < len(labels) else "", lines, i)
        pages.append(Page(number=number, lines=lines))
    meta = {k.lstrip("/"): str(v) for k, v in (reader.metadata or {}).items()}
    doc = LoadedDoc(path=path, kind="pdf", pages=pages, meta=meta)
    doc.title = meta.get("Title", "").strip()
    doc.authors = meta.get("Author", "").strip()
    if not doc.title:
        first = [line for p in pages[:1] for line in p.lines if len(line) > 15]
        doc.title = first[0].strip() if first else ""
    doc.year = _year_from(meta.get("Subject", "")) or _year_from(" ".join(pages[0].lines[:40]) if pages else "")
    if doc.text_chars < 20:
        raise SourceError("no extractable text (scanned or image-only PDF?)")
    return doc


def decode_text(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    # UTF-16 without a BOM shows up as many NUL bytes.
    if data[:2000].count(b"\x00") > len(data[:2000]) // 4:
        for enc in ("utf-16-le", "utf-16-be"):
            try:
                return data.decode(enc)
            except UnicodeDecodeError:
                continue
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def load_text(path: Path) -> LoadedDoc:
    from peerqa.ingest.textcheck import decode_checked

    data = path.read_bytes()
    if not data.strip():
        raise SourceError("empty file")
    text = decode_checked(data)  # binary content fails here as "not a text file"
    # Text files have no pages: blank lines are kept (as "") because they separate paragraphs.
    lines = [clean_line(line) for line in text.splitlines()]
    if sum(len(line) for line in lines) < 20:
        raise SourceError("no text")
    doc = LoadedDoc(path=path, kind="text", pages=[Page(number=None, lines=lines)])
    title_line = next((line.strip("#* ") for line in lines if len(line.strip("#* ")) > 15), "")
    doc.title = title_line[:200]
    doc.year = _year_from(" ".join(lines[:40]))
    return doc
