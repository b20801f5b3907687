"""Recover a document's structure: regions, section paths, paragraphs, tables, glossary.

Works on the lines of a `LoadedDoc` (PDF lines are wrapped; text lines are whole paragraphs
separated by blank lines). The result is a list of blocks, each with its section path and the
printed page of every part, laid end to end in one normalised text so chunks get char spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from peerqa.ingest import heading_sanity as sanity
from peerqa.ingest.loaders import LoadedDoc
from peerqa.ingest.outline import (
    OutlineEntry,
    assign_levels,
    ends_with_connector,
    is_caps_heading,
    norm_title,
    parse_contents,
    summarised_part,
    title_case,
)

REFERENCE_TITLES = {"references", "bibliography", "reference list", "works cited"}
_SENT_END = re.compile(r"[.?!:;\"”’)\]]$")
# A line that stops on "St." or "et al." has not ended its sentence, however short it is.
_ABBREV_END = re.compile(r"(?:^|[\s(])(?:St|Dr|Mr|Mrs|Ms|Prof|al|e\.g|i\.e|vs|cf|No|pp?)\.$")
_TABLE_CAPTION = re.compile(r"^(Table|Figure)\s+\d+[.:]")
LIST_ITEM = re.compile(r"^(- |\d{1,2}[.)]\s)")
_STOP = {"the", "of", "and", "for", "in", "a", "an", "to", "on", "with", "its", "their"}
_KEEP_UPPER = {"PTSD", "CAMHS", "LGBTQ+", "LGBTQ", "YPSW", "PSW", "HSE", "NHS", "RCT", "ED", "II", "III"}


@dataclass
class Block:
    text: str
    kind: str  # para | item | table | glossary
    region: str  # front | contents | glossary | body | references
    section_path: list[str]
    page_marks: list[tuple[int, int | None]] = field(default_factory=list)  # (offset in text, page)
    start: int = 0  # offset in StructuredDoc.text

    def page_at(self, offset: int) -> int | None:
        page = self.page_marks[0][1] if self.page_marks else None
        for off, p in self.page_marks:
            if off > offset:
                break
            page = p
        return page


@dataclass
class StructuredDoc:
    text: str
    blocks: list[Block]
    outline: list[OutlineEntry]
    glossary: dict[str, str]
    reference_lines: list[str]
    subheadings: list[list[str]]  # section paths of headings found below the outline

    def body_blocks(self) -> list[Block]:
        return [b for b in self.blocks if b.region in ("body", "glossary")]


@dataclass
class _Heading:
    start: int
    end: int  # exclusive line index
    title: str
    level: int
    virtual: bool = False  # restored from the outline, consumes no line


def _flatten(doc: LoadedDoc) -> tuple[list[str], list[int | None]]:
    lines: list[str] = []
    pages: list[int | None] = []
    for page in doc.pages:
        for line in page.lines:
            lines.append(line)
            pages.append(page.number)
    return lines, pages


def _caps_headings(lines: list[str], start: int, keys: set[str]) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    i = start
    while i < len(lines):
        if is_caps_heading(lines[i]):
            j = i + 1
            title = lines[i].strip()
            while j < len(lines) and is_caps_heading(lines[j]):
                merged = f"{title} {lines[j].strip()}"
                if norm_title(merged) in keys or (ends_with_connector(title) and norm_title(title) not in keys):
                    title, j = merged, j + 1
                else:
                    break
            found.append((i, j, title))
            i = j
        else:
            i += 1
    return found


def _is_para_start(lines: list[str], i: int) -> bool:
    prev = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
    return not prev or bool(_SENT_END.search(prev.strip())) or is_caps_heading(prev)


def _is_titlecase_subheading(lines: list[str], i: int) -> bool:
    s = lines[i].strip()
    words = s.split()
    if not (1 <= len(words) <= 7 and len(s) <= 60) or not s[0].isupper() or LIST_ITEM.match(s):
        return False
    if not any(c.islower() for c in s) or _SENT_END.search(s) or s.endswith(","):
        return False
    if "\t" in lines[i] or _TABLE_CAPTION.match(s):
        return False
    nxt = next((lines[k].strip() for k in range(i + 1, min(len(lines), i + 4)) if lines[k].strip()), "")
    if not nxt or not (nxt[0].isupper() or nxt.startswith(("- ", '"', "“"))):
        return False
    prev = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
    # The line before must close a sentence (not a table cell or a wrapped line).
    return bool(prev) and (prev.endswith((".", "?", "!", '."', ".”", ":")) or is_caps_heading(prev))


def _restore_position(lines: list[str], entry: OutlineEntry, lo: int, hi: int, next_found: int | None) -> int:
    """Where a heading the text lost begins: a paragraph naming its topic, else before its first child."""
    words = [w for w in norm_title(entry.title).split() if w not in _STOP]
    need = min(2, len(words))
    for i in range(lo, hi):
        low = lines[i].lower()
        if LIST_ITEM.match(lines[i].strip()) or len(lines[i].strip()) < 50:
            continue
        if need and sum(w in low for w in words) >= need and _is_para_start(lines, i):
            return _opening_paragraph(lines, words[-1], lo, i) if need > 1 else i
    return next_found if next_found is not None else lo


def _opening_paragraph(lines: list[str], head: str, lo: int, named: int) -> int:
    """A section often opens on its topic before it names the heading's words together: "Research
    on Effectiveness" opens with "The question of the effectiveness of peer support ..." three
    paragraphs before "Research on the effectiveness ...". So the earliest paragraph since the
    previous heading whose opening words name the heading's last word starts it."""
    for i in range(lo, named):
        s = lines[i].strip()
        if len(s) < 50 or LIST_ITEM.match(s) or not _is_para_start(lines, i):
            continue
        if head in norm_title(" ".join(s.split()[:8])).split():
            return i
    return named


def analyse(doc: LoadedDoc) -> StructuredDoc:
    doc = sanity.without_page_furniture(doc)  # running headers and footers are not text
    lines, pages = _flatten(doc)
    contents = parse_contents(lines)
    outline = contents[2] if contents else []
    contents_span = (contents[0], contents[1]) if contents else (-1, -1)
    keys = {e.key for e in outline}
    caps = _caps_headings(lines, contents_span[1] + 1, keys)

    ref_start = len(lines)
    for i, _j, title in caps:
        if norm_title(title) in REFERENCE_TITLES:
            ref_start = i  # the last one wins: the list sits at the end
    glossary_at = next(
        (i for i, _j, t in caps if norm_title(t).startswith(("glossary", "abbreviations", "list of abbreviations"))),
        -1,
    )

    # Match outline entries to caps headings, in order.
    cursor = 0
    used: set[int] = set()
    for entry in outline:
        for idx in range(cursor, len(caps)):
            if norm_title(caps[idx][2]) == entry.key:
                entry.found, entry.line_index = True, caps[idx][0]
                used.add(idx)
                cursor = idx + 1
                break
    if not sanity.outline_usable(outline):
        outline, used = [], set()  # no outline to build on: flat sections below
    assign_levels(outline)
    glossary_span = (-1, -1)
    if glossary_at >= 0:
        # A glossary's own rows can be caps lines (PTSD, CAMHS): it ends at the next outline heading.
        after = [e.line_index for e in outline if e.found and e.line_index is not None and e.line_index > glossary_at]
        later_caps = [c[0] for c in caps if c[0] > glossary_at and len(c[2].split()) > 1]
        glossary_span = (glossary_at, min(after) if after else min(later_caps, default=ref_start))
    for k, entry in enumerate(outline):
        if entry.found:
            continue
        prev_line = max((e.line_index for e in outline[:k] if e.line_index is not None), default=max(glossary_span[1], contents_span[1], 0))
        next_found = next((e.line_index for e in outline[k + 1 :] if e.found), None)
        hi = next_found if next_found is not None else ref_start
        entry.line_index = _restore_position(lines, entry, prev_line + 1, hi, next_found)

    headings: list[_Heading] = []
    for entry in outline:
        if entry.line_index is None or norm_title(entry.title) in REFERENCE_TITLES:
            continue
        span = next((c for c in caps if c[0] == entry.line_index), None) if entry.found else None
        end = span[1] if span else entry.line_index
        headings.append(_Heading(entry.line_index, end, entry.title, entry.level, virtual=not entry.found))

    body_start = min((h.start for h in headings if h.start >= glossary_span[1]), default=max(contents_span[1], glossary_span[1]) + 1)
    glossary_words = _parse_glossary(lines[glossary_span[0] + 1 : glossary_span[1]]) if glossary_span[0] >= 0 else {}
    keep_upper = _KEEP_UPPER | set(glossary_words)

    # Headings the outline does not list: caps lines, and title-case lines in the body.
    outline_lines = {h.start for h in headings if not h.virtual}
    extra: list[tuple[int, int, str]] = [
        c for idx, c in enumerate(caps) if idx not in used and body_start <= c[0] < ref_start and c[0] not in outline_lines
    ]
    caps_lines = {c[0] for c in caps}
    for i in range(body_start, ref_start):
        if i not in caps_lines and lines[i].strip() and _is_titlecase_subheading(lines, i):
            extra.append((i, i + 1, lines[i].strip()))
    if not outline:  # without an outline, numbered headings ("2.1 Policy context") are headings too
        extra = sorted(extra + sanity.numbered_headings(lines, body_start, ref_start, caps_lines | {e[0] for e in extra}))
    extra = sanity.sane_extras(extra, lines)  # numbered labels (Definition 2.3, Figure 4) are not headings
    if not outline and sanity.section_mode(doc, extra) == "pages":
        extra = []
        headings = [_Heading(i, i, title, 1, virtual=True) for i, title in sanity.page_starts(doc) if i < ref_start]
    events = sorted(
        [(h.start, 0, h) for h in headings] + [(s, 1, _Heading(s, e, title_case(t, keep_upper) if t.isupper() else t, 0)) for s, e, t in extra],
        key=lambda x: (x[0], x[1]),
    )

    blocks: list[Block] = []
    path: list[str] = []
    outline_level = 0
    subheadings: list[list[str]] = []
    seg_start = 0
    segment_path: list[str] = []

    def region_of(i: int) -> str:
        if contents_span[0] <= i <= contents_span[1]:
            return "contents"
        if glossary_span[0] <= i < glossary_span[1]:
            return "glossary"
        if i >= ref_start:
            return "references"
        return "body" if i >= body_start else "front"

    def flush(lo: int, hi: int) -> None:
        for lo2, hi2 in _split_by_region(lo, hi, region_of):
            blocks.extend(_blocks_from_lines(lines[lo2:hi2], pages[lo2:hi2], region_of(lo2), list(segment_path), doc.kind))

    entry_paths: list[tuple[int, list[str]]] = []  # (level, path) of each outline heading so far
    for start, _prio, heading in events:
        flush(seg_start, start)
        if heading.level > 0:
            outline_level = heading.level
            path = path[: heading.level - 1] + [heading.title]
            entry_paths.append((heading.level, list(path)))
        else:
            summarised = summarised_part(heading.title, entry_paths)
            if summarised is not None:
                path = summarised + [heading.title]
            else:
                depth = sanity.extra_heading_depth(outline_level)  # never below a sibling
                path = path[: depth - 1] + [heading.title]
            subheadings.append(list(path))
        segment_path = list(path)
        seg_start = heading.end
    flush(seg_start, ref_start)
    segment_path = ["References"]
    flush(ref_start + 1 if ref_start < len(lines) else ref_start, len(lines))

    text_parts: list[str] = []
    offset = 0
    for block in blocks:
        block.start = offset
        text_parts.append(block.text)
        offset += len(block.text) + 2
    reference_lines = [line for line in lines[ref_start + 1 :]] if ref_start < len(lines) else []
    return StructuredDoc(
        text="\n\n".join(text_parts),
        blocks=blocks,
        outline=outline,
        glossary=glossary_words,
        reference_lines=reference_lines,
        subheadings=subheadings,
    )


def _split_by_region(lo: int, hi: int, region_of) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    spans: list[tuple[int, int]] = []
    i = lo
    while i < hi:
        j = i + 1
        while j < hi and region_of(j) == region_of(i):
            j += 1
        spans.append((i, j))
        i = j
    return spans


def _parse_glossary(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    rows = [line.strip() for line in lines if line.strip()]
    i = 0
    while i < len(rows):
        row = rows[i]
        if "\t" in row:
            abbr, _, expansion = row.partition("\t")
            out[abbr.strip()] = expansion.strip()
            i += 1
        elif re.fullmatch(r"[A-Z][A-Za-z+&/]{1,9}", row) and i + 1 < len(rows):
            out.setdefault(row, rows[i + 1])
            i += 2
        else:
            i += 1
    return out


def _join(lines: list[str]) -> str:
    text = ""
    for line in lines:
        s = line.strip()
        if not text:
            text = s
        elif text.endswith("-") and len(text) > 1 and text[-2].isalpha() and s[:1].islower():
            text += s
        else:
            text += " " + s
    return text


def _blocks_from_lines(
    lines: list[str], pages: list[int | None], region: str, path: list[str], kind: str
) -> list[Block]:
    """Group a section's lines into paragraphs, list items and whole tables."""
    width = max((len(line) for line in lines), default=0)
    groups: list[tuple[str, list[int]]] = []  # (kind, line indexes)
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if not s:
            i += 1
            continue
        if _TABLE_CAPTION.match(s) or "\t" in lines[i]:
            idx = [i]
            j = i + 1
            while j < len(lines):
                t = lines[j]
                if kind == "text":
                    if not t.strip() or "\t" in t:
                        j += 1
                        if t.strip():
                            idx.append(j - 1)
                        continue
                    break
                if not t.strip() or is_caps_heading(t) or len(t.strip()) >= 0.75 * width:
                    break
                idx.append(j)
                j += 1
            groups.append(("table", idx))
            i = j
            continue
        if kind == "text":
            groups.append(("item" if LIST_ITEM.match(s) else "para", [i]))
            i += 1
            continue
        idx = [i]
        j = i + 1
        while j < len(lines):
            t = lines[j].strip()
            prev = lines[j - 1].strip()
            if not t or LIST_ITEM.match(t) or _TABLE_CAPTION.match(t):
                break
            if _SENT_END.search(prev) and not _ABBREV_END.search(prev) and len(prev) < 0.85 * width:
                break
            idx.append(j)
            j += 1
        groups.append(("item" if LIST_ITEM.match(s) else "para", idx))
        i = j

    # Text renditions split some paragraphs at old page breaks: rejoin a paragraph that
    # stops mid-sentence with the next one that starts in lower case.
    merged: list[tuple[str, list[int]]] = []
    for g in groups:
        if merged and g[0] == "para" and merged[-1][0] in ("para", "item"):
            last_line = lines[merged[-1][1][-1]].strip()
            first = lines[g[1][0]].strip()
            if not _SENT_END.search(last_line) and first[:1].islower():
                merged[-1] = (merged[-1][0], merged[-1][1] + g[1])
                continue
        merged.append(g)

    blocks: list[Block] = []
    for gkind, idx in merged:
        parts = [lines[k] for k in idx]
        if gkind == "table":
            text = "\n".join(p.strip() for p in parts)
        else:
            text = _join(parts)
        if region == "glossary":
            gkind = "glossary"
        marks: list[tuple[int, int | None]] = []
        off = 0
        for k, part in zip(idx, parts, strict=True):
            if not marks or marks[-1][1] != pages[k]:
                marks.append((off, pages[k]))
            off += len(part.strip()) + 1
        blocks.append(Block(text=text, kind=gkind, region=region, section_path=path, page_marks=marks))
    return blocks
