"""The sidebar: what the index holds, the filters and answer mode, and conversation controls."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import streamlit as st

from peerqa.app.answer.engine import Filters
from peerqa.app.ui import state
from peerqa.app.ui.export import conversation_markdown
from peerqa.app.ui.protocols import IndexView
from peerqa.app.ui.safe_text import escape_md
from peerqa.records import SECTION_SEP
from peerqa.settings import Settings

SECTION_KEY = "filter_section"
SOURCE_KEY = "filter_source"
MODE_KEY = "answer_mode"


@dataclass
class Choice:
    """What the sidebar asks every question with."""

    filters: Filters = field(default_factory=Filters)
    mode: str = "extractive"
    source_label: str = ""  # the chosen source's file name, for "Searched only in ..."


def _built(created: str) -> str:
    try:
        return datetime.fromisoformat(created).strftime("%d %b %Y, %H:%M UTC")
    except (TypeError, ValueError):
        return created or "unknown"


def render_index_status(index: IndexView) -> None:
    m = index.manifest
    counts = m.get("counts", {})
    model = str(m.get("model", {}).get("name", "?")).removeprefix("bundled:")
    seconds = m.get("build_seconds")
    took = f" in {seconds:.0f} s" if isinstance(seconds, int | float) else ""
    st.markdown("**Index**")
    lines = [
        f"{len(index.sources)} source(s) · {counts.get('chunks', 0)} passages",
        f"Model: {model}",  # may be a local folder path: escaped below, like all manifest text
        f"Built {_built(m.get('created', ''))}{took}",
    ]
    st.caption("  \n".join(escape_md(line) for line in lines))
    for warning in getattr(index, "warnings", []) or []:
        st.warning(escape_md(warning), icon=":material/warning:")


def _keep_valid(key: str, options: list[str]) -> None:
    # After a rebuild a chosen section or source may be gone; fall back to "all" instead of an error.
    if st.session_state.get(key) not in (None, *options):
        del st.session_state[key]


def follow_suggestion(question: str, section: str) -> None:
    """An abstention's section button: re-ask there, and set the sidebar's section to it, so the
    sidebar always shows the filter the answer used (and later questions keep it)."""
    st.session_state[SECTION_KEY] = section
    state.queue(question, section, reask=True)


def section_option_label(path: str) -> str:
    """'Training — in Findings › Development and Implementation': the section's own name first,
    so typing a name finds that section at the start of its label; the whole path follows."""
    if not path:
        return "All sections"
    *parents, own = path.split(SECTION_SEP)
    return f"{own} — in {SECTION_SEP.join(parents)}" if parents else own


# The sidebar is narrow: the section list opens wider than it (over the page), so whole paths
# show instead of "Findings › Development and Imp…". Rows cannot wrap: the list is virtualised
# with a fixed row height.
_WRAP_CSS = """<style>
div[data-trigger="ComboBox"] { width: max-content !important; max-width: min(60rem, 92vw) !important; }
</style>"""


def render_filters(index: IndexView, settings: Settings) -> Choice:
    st.markdown("**Search in**")
    st.html(_WRAP_CSS)
    sections = [""] + index.sections()
    _keep_valid(SECTION_KEY, sections)
    section = st.selectbox(
        "Section", sections, key=SECTION_KEY, format_func=section_option_label, filter_mode="contains",
        help="Only passages in this section (and its sub-sections) are used. Type a section's name to find it.",
    )
    if section:
        st.caption(escape_md(f"Searching in {section}"))
    names = {sid: doc.path + (f" ({doc.title[:40]})" if doc.title else "") for sid, doc in index.sources.items()}
    sources = [""] + sorted(names, key=lambda sid: names[sid].lower())
    _keep_valid(SOURCE_KEY, sources)
    source = st.selectbox(
        "Source", sources, key=SOURCE_KEY, format_func=lambda s: names.get(s, "All sources"),
    )
    mode = "extractive"
    if settings.llm.provider != "none":
        mode = st.radio(
            "Answer mode", ["extractive", "llm"], key=MODE_KEY, horizontal=True,
            format_func=lambda m: "Quotes" if m == "extractive" else f"Written by LLM ({settings.llm.provider})",
            help="Quotes: sentences from the sources, word for word. LLM: a written answer from the same passages.",
        ) or "extractive"
    label = index.sources[source].path if source and source in index.sources else ""
    return Choice(Filters(section=section or "", source=source or ""), mode, label)


def render_conversation_controls() -> None:
    conv = state.conversation()
    st.markdown("**Conversation**")
    st.button(
        "New conversation", icon=":material/add_comment:", on_click=state.new_conversation,
        disabled=not conv, width="stretch",
        help="Forget the questions so far; the next one starts a new topic.",
    )
    st.download_button(
        "Download as Markdown", data=conversation_markdown(conv) if conv else "", file_name="peerqa-conversation.md",
        mime="text/markdown", disabled=not conv, on_click="ignore", icon=":material/download:",
        width="stretch",
    )
