"""A document's outline: the contents page parsed into entries with levels, and heading tests.

A contents page gives titles and pages but (in text renditions) no indentation, so levels are
inferred: well-known top-level names (Introduction, Methodology, Findings, References, ...) are
level 1; an entry whose heading the text lost, or whose title begins the next entry's title, is a
group heading one level down whose followers sit below it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CONTENTS_TITLES = {"contents", "table of contents"}
TOP_LEVEL_WORDS = {
    "abstract", "acknowledgements", "appendix", "appendices", "background", "conclusion", "conclusions",
    "context", "discussion", "executive summary", "findings", "foreword", "glossary", "glossary of terms",
    "introduction", "method", "methods", "methodology", "overview of the report", "recommendations",
    "references", "results", "summary", "bibliography",
}
TOP_LEVEL_PREFIXES = ("possible implications", "implications", "recommendations", "appendix")
# Dot leaders as word processors ("Training ...... 46") and LaTeX ("1.2 Groups . . . . 7") set them.
_ENTRY = re.compile(r"^(?P<title>\S.*?)(?:\s*(?:\.\s*){2,}|\s*\t+\s*|\s{2,})(?P<page>\d{1,4})\s*$")
_SUMMARY = re.compile(r"^(key messages|key findings|key points|summary|conclusions?)\b", re.I)
_CONNECTORS = ("AND", "OF", "INCLUDING", "THE", "FOR", "IN", "&", "TO", "ON", "WITH")


def norm_title(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'").replace("&", " and ")
    return re.sub(r"[^a-z0-9+]+", " ", text).strip()


@dataclass
class OutlineEntry:
    title: str
    page: int
    level: int = 1
    found: bool = False  # the body carries this heading
    line_index: int | None = None  # where the heading (or its restored position) is

    @property
    def key(self) -> str:
        return norm_title(self.title)


def parse_contents(lines: list[str]) -> tuple[int, int, list[OutlineEntry]] | None:
    """Find a contents page; return (first line, last line, entries) or None."""
    start = next((i for i, line in enumerate(lines) if norm_title(line) in CONTENTS_TITLES), None)
    if start is None:
        return None
    entries: list[OutlineEntry] = []
    misses = 0
    end = start
    for i in range(start + 1, min(len(lines), start + 400)):
        line = lines[i].strip()
        if not line:
            continue
        m = _ENTRY.match(line)
        if m:
            title = m.group("title").strip(" .\t")
            entries.append(OutlineEntry(title=title, page=int(m.group("page"))))
            end = i
            misses = 0
        else:
            misses += 1
            if misses >= 2 and entries:
                break
    if len(entries) < 3:
        return None
    return start, end, entries


def is_caps_heading(line: str) -> bool:
    s = line.strip()
    if not s or s.startswith("- ") or len(s) > 110:
        return False
    letters = [c for c in s if c.isalpha()]
    if len(letters) < 3 or any(c.islower() for c in letters):
        return False
    words = s.split()
    if len(words) == 1 and (len(letters) < 4 or s in _CONNECTORS or s in ("OR", "NOT")):
        return False
    # Reference-list debris and numbers: mostly digits or ending like a citation.
    digits = sum(c.isdigit() for c in s)
    return digits <= 2 and not s.endswith((",", ";"))


def ends_with_connector(line: str) -> bool:
    words = line.strip().split()
    return bool(words) and words[-1] in _CONNECTORS


def is_top_level(title: str) -> bool:
    key = norm_title(title)
    return key in TOP_LEVEL_WORDS or key.startswith(TOP_LEVEL_PREFIXES)


def assign_levels(entries: list[OutlineEntry]) -> None:
    """Infer levels in place; call after `found` is set from the body."""
    any_top = any(is_top_level(e.title) for e in entries)
    base = 2 if any_top else 1
    group_open = False
    for i, entry in enumerate(entries):
        nxt = entries[i + 1] if i + 1 < len(entries) else None
        if any_top and is_top_level(entry.title):
            entry.level = 1
            group_open = False
            continue
        starts_next = nxt is not None and nxt.key.startswith(entry.key + " ")
        lost_group = not entry.found and nxt is not None and not is_top_level(nxt.title)
        if starts_next or lost_group:
            entry.level = base
            group_open = True
        else:
            entry.level = base + 1 if group_open else base


def title_case(heading: str, keep_upper: set[str]) -> str:
    """'PEER RESPITE' -> 'Peer Respite', keeping acronyms such as PTSD or YPSWs."""
    small = {"and", "of", "the", "in", "for", "to", "on", "with", "a", "an", "or", "about"}
    out = []
    for i, word in enumerate(heading.split()):
        parts = re.split(r"([/:&\-])", word)
        fixed = []
        for part in parts:
            core = re.sub(r"[^A-Za-z+]", "", part)
            if not core:
                fixed.append(part)
            elif core in keep_upper:
                fixed.append(part)
            elif core.endswith("S") and core[:-1] in keep_upper:
                fixed.append(part[:-1] + "s")
            elif i > 0 and core.lower() in small:
                fixed.append(part.lower())
            else:
                fixed.append(part[:1] + part[1:].lower())
        out.append("".join(fixed))
    return " ".join(out)


def summarised_part(title: str, entry_paths: list[tuple[int, list[str]]]) -> list[str] | None:
    """A summary heading the outline does not list ("Key Messages From the Effectiveness
    Literature") closes a whole part, not the sub-section before it: it belongs to the broadest
    earlier outline heading whose last word it names ("Research on Effectiveness")."""
    if not _SUMMARY.match(title):
        return None
    named = set(norm_title(title).split())
    best: tuple[int, list[str]] | None = None
    for level, path in entry_paths:
        head = norm_title(path[-1]).split()[-1:]
        if level > 1 and head and head[0] in named and (best is None or level < best[0]):
            best = (level, path)
    return list(best[1]) if best else None
