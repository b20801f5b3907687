"""Document text made safe for st.markdown: every Markdown, HTML and Streamlit directive
character is escaped, so a passage always renders as the words it contains.

The review's text is data, not markup: a '#', '*', '<b>', '$x$' or ':red[...]' in a passage must
show as typed. CommonMark lets any ASCII punctuation be backslash-escaped, which also disarms
Streamlit's extensions (':emoji:', ':color[...]', '$math$') because they start with punctuation.

Escaping does not stop GitHub-flavoured autolinks: Streamlit's Markdown finds bare 'https://',
'www.' and 'name@host' in the text *after* escapes are resolved, so a URL in a source would
become a live link. A WORD JOINER (U+2060, invisible, no line break) inside each of those
markers ('https:\u2060//', 'www\u2060.', '@\u2060') leaves the words as they read and nothing
to link. Links the app makes itself (link_md with doi_url) are the only links.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
_SPACES = re.compile(r"\s+")
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
WORD_JOINER = "\u2060"
# In escaped text: 'http\:' or 'https\:' before '\/\/', 'www' before '\.', and every '\@'.
_AUTOLINK = re.compile(r"(?i)https?\\:(?=\\/\\/)|www(?=\\\.)|\\@")


def escape_md(text: str) -> str:
    """Text → Markdown that renders as exactly that text (line breaks kept)."""
    escaped = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, _PUNCT.sub(r"\\\1", text))
    # Two trailing spaces make a hard line break, so table rows and lists keep their lines;
    # leading spaces go, or four of them would turn a line into a code block.
    return "  \n".join(line.strip() for line in escaped.split("\n"))


def _find(haystack: str, needle: str, start: int = 0) -> tuple[int, int] | None:
    """Where `needle` occurs in `haystack`, allowing any run of whitespace to differ."""
    needle = needle.strip()
    if not needle:
        return None
    pos = haystack.find(needle, start)
    if pos >= 0:
        return pos, pos + len(needle)
    pattern = r"\s+".join(re.escape(w) for w in needle.split())
    m = re.compile(pattern).search(haystack, start)
    return (m.start(), m.end()) if m else None


def quote_spans(text: str, quote: str) -> list[tuple[int, int]]:
    """Spans of the cited sentence(s) in a passage; a citation joins several with ' … '."""
    spans: list[tuple[int, int]] = []
    for part in quote.split(" … "):
        found = _find(text, part)
        if found:
            spans.append(found)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def highlight(text: str, quote: str) -> str:
    """The passage as safe Markdown with the quoted sentence(s) bold on an orange background."""
    out: list[str] = []
    pos = 0
    for s, e in quote_spans(text, quote):
        out.append(escape_md(text[pos:s]))
        # One line inside the directive: a line break would end the highlight early.
        marked = escape_md(_SPACES.sub(" ", text[s:e]).strip())
        out.append(f":orange-background[**{marked}**]")
        pos = e
    out.append(escape_md(text[pos:]))
    return "".join(out)


def page_label(start: int | None, end: int | None = None) -> str:
    """'p. 46', 'pp. 46–47', or '' when the source has no page numbers."""
    if not start:
        return ""
    if end and end != start:
        return f"pp. {start}–{end}"
    return f"p. {start}"


def doi_url(doi: str) -> str:
    """A https://doi.org link for a well-formed DOI, percent-encoded so it stays one link; else ''."""
    doi = doi.strip()
    if not _DOI.match(doi):
        return ""
    return "https://doi.org/" + quote(doi, safe="/")


def link_md(label: str, url: str) -> str:
    """A Markdown link whose label is escaped text; the URL must come from doi_url (no spaces, no parens)."""
    return f"[{escape_md(label)}]({url})"
