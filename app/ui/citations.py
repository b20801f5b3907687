"""One expander per citation: the passage with the cited sentence highlighted, where it sits
(section path, page), a button that shows the cited page itself (the PDF page with the sentence
highlighted, or a text source's passage in context), the report's PDF, and the studies the quoted
sentences cite with DOI links."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from peerqa.app.page_view import PageError, cited_page, find_source_file, passage_in_context, quote_parts
from peerqa.app.ui.safe_text import doi_url, escape_md, highlight, link_md, page_label
from peerqa.ingest.references import cited_in
from peerqa.records import Chunk, Citation, Reference

__all__ = ["cited_page", "citation_label", "find_source_file", "render_citation"]
log = logging.getLogger("peerqa.app")
PAGE_FAILED = "Sorry, the page could not be shown just now. The PDF download below still works."


def citation_label(c: Citation) -> str:
    """'[1] Training · p. 46' as safe Markdown (expander labels render Markdown)."""
    ch = c.passage.chunk
    tail = ch.section_path[-1] if ch.section_path else ch.source_path
    parts = [f"[{c.n}] {tail}"] + [x for x in (page_label(ch.page_start, ch.page_end),) if x]
    return escape_md(" · ".join(parts))


def render_citation(c: Citation, sources_dir: Path, key: str, chunks: list[Chunk] | None = None) -> None:
    ch = c.passage.chunk
    page = page_label(ch.page_start, ch.page_end)
    with st.expander(citation_label(c)):
        where = " · ".join(x for x in (ch.section or "(no section)", ch.source_path, page) if x)
        st.caption(escape_md(where))
        st.markdown(highlight(ch.text, c.quote))
        _page_button(c, sources_dir, key, chunks or [])
        _pdf_link(sources_dir, ch.source_path, ch.page_start, key)
        if ch.designs:
            st.caption(escape_md("Study designs named here: " + ", ".join(ch.designs)))
        if c.studies:
            _studies(c)


def _study_line(ref: Reference) -> str:
    text = escape_md(ref.short() + (f": {ref.title}" if ref.title else ""))
    url = doi_url(ref.doi)
    return text + (f" · {link_md('doi:' + ref.doi, url)}" if url else "")


def _studies(c: Citation) -> None:
    """The studies each quoted sentence cites: with one sentence a list, with several a list per
    sentence (a study cited only by the passage around them is not listed)."""
    by_sentence = studies_by_sentence(c)
    if len(by_sentence) <= 1:
        st.markdown("**Studies the quoted sentence cites**")
        st.markdown("\n".join(f"- {_study_line(ref)}" for ref in c.studies))
        return
    st.markdown("**Studies each quoted sentence cites**")
    lines = []
    for i, (sentence, refs) in enumerate(by_sentence, start=1):
        words = sentence.split()
        opening = " ".join(words[:8]) + (" …" if len(words) > 8 else "")
        lines.append(f"{i}. “{escape_md(opening)}”" + ("" if refs else ": no study named"))
        lines += [f"    - {_study_line(ref)}" for ref in refs]
    st.markdown("\n".join(lines))


def studies_by_sentence(c: Citation) -> list[tuple[str, list[Reference]]]:
    """Each quoted sentence of a citation with the studies (of the citation's) that it cites."""
    pool = {r.id: r for r in c.studies}
    return [(part, cited_in([part], list(pool), pool)) for part in quote_parts(c.quote)]


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



def _page_button(c: Citation, sources_dir: Path, key: str, chunks: list[Chunk]) -> None:
    ch = c.passage.chunk
    path = find_source_file(sources_dir, ch.source_path)
    if path is None:
        return
    is_pdf = path.suffix.lower() == ".pdf"
    if is_pdf and not ch.page_start:
        return
    label = f"Show page {ch.page_start} with the sentence highlighted" if is_pdf else "Show the passage in context"
    if st.button(label, key=f"page-{key}", icon=":material/find_in_page:"):
        _page_dialog(c, path, chunks)


@st.dialog("The cited page", width="large")
def _page_dialog(c: Citation, path: Path, chunks: list[Chunk]) -> None:
    ch = c.passage.chunk
    if path.suffix.lower() != ".pdf":
        st.caption(escape_md(f"{ch.source_path} has no pages: the passage in its surrounding text"))
        text, _span = passage_in_context(chunks, ch) if chunks else (ch.text, (0, len(ch.text)))
        st.markdown(highlight(text, c.quote) if c.quote else escape_md(text))
        return
    try:
        shown = cited_page(path, ch, c.quote)
    except PageError as exc:
        st.warning(escape_md(str(exc)), icon=":material/warning:")
        return
    except Exception:
        log.exception("rendering a cited page failed")
        st.error(PAGE_FAILED, icon=":material/error:")
        return
    st.caption(escape_md(f"{ch.source_path} · p. {shown.printed} (page {shown.page_index + 1} of {shown.pages} "
                         f"in the file) · {ch.section or '(no section)'}"))
    if shown.note:
        st.info(escape_md(shown.note), icon=":material/info:")
    if shown.excerpt:
        st.caption("The quoted sentences are highlighted in yellow. Where they are on the page:")
        st.image(shown.excerpt, width="stretch", alt=f"The quoted lines on page {shown.printed}")
        st.caption("The whole page:")
    st.image(shown.png, width="stretch", alt=f"Page {shown.printed} of {ch.source_path}")
