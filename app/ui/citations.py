"""One expander per citation: the passage with the cited sentence highlighted, where it sits
(section path, page), the report's PDF, and the studies the passage cites with DOI links."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.ui.safe_text import doi_url, escape_md, highlight, link_md, page_label
from peerqa.records import Citation


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


def citation_label(c: Citation) -> str:
    """'[1] Training · p. 46' as safe Markdown (expander labels render Markdown)."""
    ch = c.passage.chunk
    tail = ch.section_path[-1] if ch.section_path else ch.source_path
    parts = [f"[{c.n}] {tail}"] + [x for x in (page_label(ch.page_start, ch.page_end),) if x]
    return escape_md(" · ".join(parts))


def render_citation(c: Citation, sources_dir: Path, key: str) -> None:
    ch = c.passage.chunk
    page = page_label(ch.page_start, ch.page_end)
    with st.expander(citation_label(c)):
        where = " · ".join(x for x in (ch.section or "(no section)", ch.source_path, page) if x)
        st.caption(escape_md(where))
        st.markdown(highlight(ch.text, c.quote))
        _pdf_link(sources_dir, ch.source_path, ch.page_start, key)
        if ch.designs:
            st.caption(escape_md("Study designs named here: " + ", ".join(ch.designs)))
        if c.studies:
            st.markdown("**Studies this passage cites**")
            lines = []
            for ref in c.studies:
                text = escape_md(ref.short() + (f": {ref.title}" if ref.title else ""))
                url = doi_url(ref.doi)
                lines.append(f"- {text}" + (f" · {link_md('doi:' + ref.doi, url)}" if url else ""))
            st.markdown("\n".join(lines))


def _pdf_link(sources_dir: Path, source_path: str, page: int | None, key: str) -> None:
    """A download of the source PDF plus the page to open it at (static file serving is off)."""
    path = find_source_file(sources_dir, source_path)
    if path is None or path.suffix.lower() != ".pdf":
        if source_path.lower().endswith(".pdf"):
            st.caption("The report's PDF is no longer in the sources folder.")
        return
    left, right = st.columns([2, 3], vertical_alignment="center")
    with left:
        # Deferred: the bytes are read only when clicked, not on every rerun for every citation.
        st.download_button(
            "Download the report (PDF)", data=path.read_bytes,
            file_name=path.name, mime="application/pdf", key=key, on_click="ignore",
            icon=":material/picture_as_pdf:",
        )
    with right:
        if page:
            st.caption(f"and open it at page {page} (the number printed on the page).")

