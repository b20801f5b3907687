"""The staff web app. `peerqa serve` runs it with `streamlit run app/streamlit_app.py`.

Two pages: Ask (the chat) and Sources (status, upload, rebuild). The pieces live in app/ui/;
this file only wires the process-wide resources into them and keeps errors friendly.
"""

from __future__ import annotations

import logging

import streamlit as st

from peerqa.app.ui.guard import friendly_errors, startup_failed

logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("peerqa.app")

# An emoji icon is drawn in the browser; a :material/...: one would be fetched from a font CDN.
st.set_page_config(page_title="peerqa · Peer Support Work evidence", page_icon="📖")
try:  # a failure here (a broken install, a bad PEERQA_ setting) gets the plain message, not a traceback
    from peerqa.app.ui import resources, sidebar
    from peerqa.app.ui.chat import render_chat
    from peerqa.app.ui.protocols import AnswerEngine, IndexView
    from peerqa.app.ui.safe_text import escape_md
    from peerqa.app.ui.sources_page import rebuild_progress, render_sources_page
    from peerqa.index.store import IndexLoadError
    from peerqa.settings import Settings

    settings = Settings()  # PEERQA_INDEX_DIR and friends, as `peerqa serve` passes them
except Exception:
    startup_failed()


def _engine_or_explain() -> AnswerEngine | None:
    """The engine, or None after telling the user why there is nothing to serve."""
    try:
        engine = resources.current_engine(settings)
    except IndexLoadError as exc:
        log.warning("index not servable: %s", exc)
        st.error(escape_md(f"The index cannot be used: {exc}"), icon=":material/error:")
        return None
    if engine is None:
        st.info("No index has been built yet. Add reports and build one on the Sources page.",
                icon=":material/info:")
    return engine


@friendly_errors
def ask() -> None:
    engine = _engine_or_explain()
    if engine is None:
        st.page_link(sources, label="Go to Sources", icon=":material/library_books:")
        return
    with st.sidebar:
        sidebar.render_index_status(engine.index)
        choice = sidebar.render_filters(engine.index, settings)
    rebuild_progress(resources.rebuild_job(settings), compact=True)
    render_chat(engine, resources.feedback_store(settings), choice, settings.sources_dir,
                max_chars=settings.answer.max_question_chars)
    with st.sidebar:  # after the chat, so the export and "New conversation" include the answer just given
        sidebar.render_conversation_controls()


@friendly_errors
def sources_page() -> None:
    try:
        engine = resources.current_engine(settings)
        index: IndexView | None = engine.index if engine is not None else None
    except IndexLoadError as exc:
        st.warning(escape_md(f"The current index cannot be used ({exc}). Rebuild it below."))
        index = None
    if index is not None:
        with st.sidebar:
            sidebar.render_index_status(index)
    render_sources_page(settings, resources.rebuild_job(settings), index)


chat_page = st.Page(ask, title="Ask", icon=":material/forum:", url_path="ask", default=True)
sources = st.Page(sources_page, title="Sources", icon=":material/library_books:", url_path="sources")
st.navigation([chat_page, sources]).run()
