"""Sentence splitting that knows the abbreviations of academic prose (et al., e.g., pp.)."""

from __future__ import annotations

import re

_ABBREV = {
    "al", "e.g", "i.e", "eg", "ie", "etc", "pp", "p", "vs", "cf", "dr", "mr", "mrs", "ms", "prof", "no",
    "vol", "fig", "approx", "st", "inc", "ltd", "co", "jr", "sr", "ed", "eds",
}
_LIST_MARKER = re.compile(r"\s*\(?(?:\d{1,2}|[ivx]{1,4})[.)]")
_RUN_IN_MARKER = re.compile(r"(?:\b(?:and|or)|[;,:])\s+\(?\d{1,2}[.)]$")
_BOUNDARY = re.compile(r"(?<=[.!?])[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (whitespace between them excluded)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.start()
        # Include closing quotes/brackets that follow the full stop.
        while end < len(text) and text[end] in "\"”’)]":
            end += 1
        before = text[start:end].rstrip()
        last_word = re.search(r"([A-Za-z.]+)[.!?][\"”’)\]]*$", before)
        if last_word:
            word = last_word.group(1).lower().rstrip(".")
            if word in _ABBREV or (len(word) == 1 and word.isalpha()):
                continue  # "et al." or an initial: not a boundary
        if _LIST_MARKER.fullmatch(before.rsplit("\n", 1)[-1]) or _RUN_IN_MARKER.search(before):
            continue  # "1. What are ...", "... and 2. What ...": the number opens an item, it ends nothing
        if end > start and before.strip():
            spans.append((start, start + len(before)))
        start = m.end()
    tail = text[start:].rstrip()
    if tail.strip():
        spans.append((start, start + len(tail)))
    return _split_long_lines(text, spans)


def _split_long_lines(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Treat paragraph breaks ("\n\n") and list items as sentence boundaries too."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        pos = s
        for m in re.finditer(r"\n+", text[s:e]):
            cut = s + m.start()
            if text[pos:cut].strip():
                out.append((pos, cut))
            pos = s + m.end()
        if text[pos:e].strip():
            out.append((pos, e))
    return out
