"""A conversation as a Markdown document with its citations, for the download button."""

from __future__ import annotations

from datetime import datetime

from app.ui.safe_text import doi_url, page_label
from app.ui.state import Exchange


def _quote_block(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() or [""])


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
        lines += [f"## {i}. {ex.question}", ""]
        if ex.scope:
            lines += [f"*Searched only in {ex.scope}.*", ""]
        lines += [ex.answer.answer, ""]
        if ex.answer.notice and ex.answer.notice != "signpost":
            lines += [f"*{ex.answer.notice}*", ""]
        if ex.answer.abstained and ex.answer.suggestions:
            lines += ["Nearest sections:", ""] + [f"- {s}" for s in ex.answer.suggestions] + [""]
        if ex.answer.citations:
            lines += ["**Sources**", ""]
        for c in ex.answer.citations:
            ch = c.passage.chunk
            where = ", ".join(x for x in (ch.source_path, page_label(ch.page_start, ch.page_end)) if x)
            lines += [f"[{c.n}] {ch.section or '(no section)'} ({where})", "", _quote_block(c.quote), ""]
            for ref in c.studies:
                url = doi_url(ref.doi)
                lines.append(f"- cites {ref.short()}: {ref.title}" + (f" <{url}>" if url else ""))
            if c.studies:
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"
