"""Rules that keep a document's section structure sane whatever produced the PDF.

`ingest/structure.py` finds headings (an outline from the contents page, ALL-CAPS lines, short
title-case lines) and nests them into section paths. On documents unlike the review that goes
wrong in known ways: LaTeX lecture notes put every "Definition 2.3" box title on a line of its
own, book classes print "12.2. EXAMPLES 91" at the top of each page, word processors print
"Report title | 7" at the foot; taken as headings and each nested under the last, they gave
section paths 100 levels deep whose headers left no room for text. The rules here:

1. **Page furniture is not text.** Running headers and footers (a line at the top or foot of a
   page that carries the page's own number, a "Page 3 of 12", or the same line on many pages)
   are removed before structure is read, as the loader already removes bare page numbers.
2. **Labels are not headings.** Numbered theorem, definition, example, figure and table labels
   ("Definition 2.3 (Group)", "Figure 4:", "Table 2"), and a lone "Proof", stay body text.
3. **Nesting never goes deeper than the outline supports.** A heading the outline does not list
   sits one level below the outline heading in force (at the top level before the first one),
   never below another such heading, so no heading becomes the child of a sibling.
4. **No usable outline, flat sections.** A contents page counts as an outline when at least half
   of its entries are found as headings in the text. Without one, every heading found is a
   top-level section (numbered headings such as "2.1 Policy context" count too); and a PDF with
   no headings at all, or with more than three "headings" a page (labels in disguise), gets one
   section per page ("Page 12").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import replace

from peerqa.ingest.loaders import LoadedDoc, Page
from peerqa.ingest.outline import OutlineEntry

MAX_HEADINGS_PER_PAGE = 3
FURNITURE_SHARE = 0.2  # a line repeated at the top or foot of this share of pages (and of 3 or more)
_LABEL_WORDS = (
    "definition|theorem|lemma|corollary|proposition|example|remark|exercise|problem|claim|conjecture|"
    "notation|observation|fact|axiom|question|solution|answer|figure|fig|table|algorithm|listing|equation|"
    "eq|box|chart|exhibit|plate|scheme|illustration|graph|panel|case|step|note"
)
_LABEL = re.compile(rf"^(?i:{_LABEL_WORDS})s?\.?\s*(?:[A-Z]?\d+(?:[.\-–]\d+)*[a-z]?|[IVXLC]+)\b")
_LONE_LABEL = re.compile(r"^(?:proof|solution|answer|hint|remark|example)s?\s*[.:]?\s*(?:\(.*\))?$", re.IGNORECASE)
_PAGE_PATTERNS = re.compile(r"^(?:page\s*#(?:\s*(?:of|/)\s*#)?|#\s*\|\s*page|page\s*\|\s*#|[-–]\s*#\s*[-–]|#\s*/\s*#)$")
_NUMBERED = re.compile(r"^(?P<num>\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(?P<title>[A-Z].*)$")
_SEPARATED = re.compile(r"\s[|·•—–-]\s|\s\|")
_SENTENCE_END = re.compile(r"[.?!:;,]$")
_CLOSING = (".", "?", "!", '."', ".”", ":", ")", "□", "■", "∎")  # a line before a heading ends like this


def is_label(title: str) -> bool:
    """A numbered label or a lone proof mark, not a heading."""
    s = title.strip()
    return bool(_LABEL.match(s) or _LONE_LABEL.match(s))


def _mask(line: str) -> str:
    return " ".join(re.sub(r"\d+", "#", line.lower()).split())


def _zone(page: Page) -> list[int]:
    n = len(page.lines)
    return sorted({i for i in (0, 1, n - 2, n - 1) if 0 <= i < n})


def _carries_page_number(line: str, page: Page, index: int) -> bool:
    """"90 CHAPTER 12. TOPOLOGY", "12.2. EXAMPLES 91", "Annual report | 7": the page's own number at
    one end, and the rest in capitals or set off by a separator (so "2 Background" stays a heading)."""
    tokens = line.split()
    if not 2 <= len(tokens) <= 12 or len(line) > 100:
        return False
    numbers = {str(index + 1)} | ({str(page.number)} if page.number is not None else set())
    if tokens[0] in numbers:
        rest = " ".join(tokens[1:])
    elif tokens[-1].strip("|") in numbers:
        rest = " ".join(tokens[:-1])
    else:
        return False
    letters = [c for c in rest if c.isalpha()]
    return (len(letters) >= 3 and not any(c.islower() for c in letters)) or bool(_SEPARATED.search(line))


def page_furniture(doc: LoadedDoc) -> set[tuple[int, int]]:
    """(page index, line index) of running headers and footers."""
    if doc.kind != "pdf" or len(doc.pages) < 2:
        return set()
    found: set[tuple[int, int]] = set()
    counts: Counter[str] = Counter()
    for page in doc.pages:
        counts.update({_mask(page.lines[i]) for i in _zone(page)})
    threshold = max(3, math.ceil(FURNITURE_SHARE * len(doc.pages)))
    # In a short document a line on the top of every page but the first is a running header too.
    later_tops: Counter[str] = Counter(_mask(p.lines[0]) for p in doc.pages[1:] if p.lines)
    for p_index, page in enumerate(doc.pages):
        for i in _zone(page):
            line = page.lines[i].strip()
            key = _mask(line)
            if not key or len(line) > 100:
                continue
            repeated = counts[key] >= threshold and len(key.split()) <= 12
            top_of_rest = (
                len(doc.pages) <= 10 and i == 0 and p_index > 0 and later_tops[key] == len(doc.pages) - 1 >= 2
            )
            if repeated or top_of_rest or _PAGE_PATTERNS.match(key) or _carries_page_number(line, page, p_index):
                found.add((p_index, i))
    return found


def without_page_furniture(doc: LoadedDoc) -> LoadedDoc:
    """The document with running headers and footers removed (the same object when it has none)."""
    furniture = page_furniture(doc)
    if not furniture:
        return doc
    pages = [
        Page(number=page.number, lines=[line for i, line in enumerate(page.lines) if (p, i) not in furniture])
        for p, page in enumerate(doc.pages)
    ]
    return replace(doc, pages=pages)


def outline_usable(outline: list[OutlineEntry]) -> bool:
    """A contents page is an outline to build on when the text carries at least half its headings."""
    return len(outline) >= 3 and 2 * sum(e.found for e in outline) >= len(outline)


def extra_heading_depth(outline_level: int) -> int:
    """The depth of a heading the outline does not list: one below the outline heading in force."""
    return outline_level + 1


_CHAPTER = re.compile(r"^(?:Chapter|CHAPTER|Part|PART|Appendix|APPENDIX|Lecture|LECTURE)\s+[\dIVXLC]+[.:]?$")


def sane_extras(extras: list[tuple[int, int, str]], lines: list[str]) -> list[tuple[int, int, str]]:
    """Headings found in the text, without labels; "Chapter 3" takes in the title on the next line."""
    out: list[tuple[int, int, str]] = []
    for start, end, title in sorted(extras):
        if is_label(title) or (out and start < out[-1][1]):  # a label, or a line a heading took in
            continue
        if _CHAPTER.match(title) and end == start + 1 and end < len(lines):
            nxt = lines[end].strip()
            if nxt and len(nxt) <= 70 and len(nxt.split()) <= 8 and nxt[0].isupper() and not _SENTENCE_END.search(nxt):
                start, end, title = start, end + 1, f"{title.rstrip('.:')}: {nxt}"
        out.append((start, end, title))
    return out


def numbered_headings(lines: list[str], lo: int, hi: int, taken: set[int]) -> list[tuple[int, int, str]]:
    """Lines such as "2.1 Policy context" or "3 Methods": a section number, a capitalised title, short,
    no closing punctuation, between a sentence's end and a new paragraph. ("1. Develop ..." is a list
    item, not a heading: a single number needs no dot.)"""
    found = []
    for i in range(lo, hi):
        if i in taken:
            continue
        s = lines[i].strip()
        if _CHAPTER.match(s):
            found.append((i, i + 1, s))
            continue
        m = _NUMBERED.match(s)
        if not m or len(s) > 70 or len(s.split()) > 9 or _SENTENCE_END.search(s) or "\t" in lines[i]:
            continue
        if ". ." in s or ".." in s:
            continue  # a contents line with its dot leaders
        if "." not in m.group("num") and s[len(m.group("num")) : len(m.group("num")) + 1] == ".":
            continue  # "1. Something": a numbered list item
        title = m.group("title")
        if sum(c.isalpha() for c in title) < 3 or is_label(s):
            continue
        nxt = next((lines[k].strip() for k in range(i + 1, min(len(lines), i + 4)) if lines[k].strip()), "")
        prev = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        if not nxt or not (nxt[0].isupper() or nxt[0].isdigit() or nxt.startswith(("- ", '"', "“"))):
            continue
        if prev and not (prev.endswith(_CLOSING) or len(prev) < 40 or is_label(prev)):
            continue
        found.append((i, i + 1, s))
    return found


def section_mode(doc: LoadedDoc, extras: list[tuple[int, int, str]]) -> str:
    """'flat' (headings found in the text, all at the top level) or 'pages' (one section a page)."""
    if doc.kind != "pdf" or len(doc.pages) < 2:
        return "flat"
    if not extras or len(extras) > MAX_HEADINGS_PER_PAGE * len(doc.pages):
        return "pages"
    return "flat"


def page_starts(doc: LoadedDoc) -> list[tuple[int, str]]:
    """(line index in the flattened text, section title) where each page with text begins."""
    out, offset = [], 0
    for index, page in enumerate(doc.pages):
        if page.lines:
            out.append((offset, f"Page {page.number if page.number is not None else index + 1}"))
        offset += len(page.lines)
    return out
