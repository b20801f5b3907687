"""A conversation as a Markdown document with its citations, for the download button.

Everything from the sources (and the question typed) is escaped as in the app (safe_text.escape_md),
so the file, opened in any Markdown viewer, shows no links, images or HTML from a source; the
only links are the DOI links the app makes itself."""

from __future__ import annotations

from datetime import datetime

from peerqa.app.ui.safe_text import doi_url, escape_md, page_label
from peerqa.app.ui.state import Exchange


def _quote_block(text: str) -> str:
    return "\n".join("> " + escape_md(line) for line in text.splitlines() or [""])


def conversation_markdown(exchanges: list[Exchange], now: datetime | None = None) -> str:
    stamp = (now or datetime.now()).strftime("%Y-%m-%d %H:%M")
    lines = [
        "# Peer Support Work: evidence questions",
        "",
        f"Exported {stamp}. Answers quote the sources; the numbers in brackets refer to the sources listed "
        "under each answer.",
        "",
    ]
    for i, ex in enumerate(exchanges, start=1):
        lines += [f"## {i}. {escape_md(ex.question)}", ""]
        if ex.scope:
            lines += [f"*Searched only in {escape_md(ex.scope)}.*", ""]
        lines += [escape_md(ex.answer.answer), ""]
        if ex.answer.notice and ex.answer.notice != "signpost":
            lines += [f"*{escape_md(ex.answer.notice)}*", ""]
        if ex.answer.abstained and ex.answer.suggestions:
            lines += ["Nearest sections:", ""] + [f"- {escape_md(s)}" for s in ex.answer.suggestions] + [""]
        if ex.answer.citations:
            lines += ["**Sources**", ""]
        for c in ex.answer.citations:
            ch = c.passage.chunk
            where = ", ".join(x for x in (ch.source_path, page_label(ch.page_start, ch.page_end)) if x)
            head = escape_md(f"[{c.n}] {ch.section or '(no section)'} ({where})")
            lines += [head, "", _quote_block(c.quote), ""]
            for ref in c.studies:
                url = doi_url(ref.doi)
                lines.append(f"- cites {escape_md(ref.short() + ': ' + ref.title)}" + (f" <{url}>" if url else ""))
            if c.studies:
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"
