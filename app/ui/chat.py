"""The chat page: the conversation so far, asking a question, and rendering one answer with its
citations, abstention suggestions and feedback controls."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from peerqa.app.answer.engine import Filters, QuestionError, Turn
from peerqa.app.feedback import FeedbackStore
from peerqa.app.ui import state
from peerqa.app.ui.citations import render_citation
from peerqa.app.ui.feedback_form import render_feedback
from peerqa.app.ui.protocols import AnswerEngine
from peerqa.app.ui.safe_text import escape_md
from peerqa.app.ui.scroll import citation_href, install_citation_links, scroll_to_new_answer
from peerqa.app.ui.sidebar import SECTION_KEY, SOURCE_KEY, Choice, follow_suggestion
from peerqa.app.ui.state import Exchange, Request
from peerqa.records import SECTION_SEP, Answer, Chunk

log = logging.getLogger("peerqa.app")
EXAMPLES = (
    "What training do peer support workers need?",
    "How is peer support used in forensic mental health services?",
    "What challenges do peer support workers face in their role?",
)
ASK_FAILED = "Sorry, that question could not be answered just now. Please try again in a moment."
# The chat box keeps focus after sending, and its focus border is the theme's red: it read as an
# error. A neutral grey says "ready" instead.
_CALM_INPUT_CSS = """<style>
[data-testid="stChatInput"] div:focus-within { border-color: rgba(49, 51, 63, 0.45) !important; }
</style>"""


def render_chat(engine: AnswerEngine, store: FeedbackStore, choice: Choice, sources_dir: Path,
                max_chars: int = 1000) -> None:
    st.title("Peer Support Work: ask the evidence")
    install_citation_links()
    st.html(_CALM_INPUT_CSS)
    chunks = list(getattr(engine.index, "chunks", []) or [])  # for a text source's passage in context
    for ex in state.conversation():
        render_exchange(ex, store, sources_dir, chunks)
    typed = st.chat_input("Ask a question about peer support work", max_chars=max_chars, key="question")
    request = Request(typed) if typed else state.take_pending()
    if request is None:
        if not state.conversation():
            _welcome()
        return
    exchange = _ask(engine, request, choice)
    if exchange is not None:
        state.add_exchange(exchange)
        with st.chat_message("assistant"):
            render_answer(exchange, store, sources_dir, chunks)
            scroll_to_new_answer(exchange.id)


def _welcome() -> None:
    st.markdown(
        "Ask about the 2023 scoping review *Peer Support Work* (and any reports added on the Sources page). "
        "Answers are sentences quoted from the sources; each number, like **[1]**, opens the passage it "
        "comes from, with its section and page. Follow-up questions use the conversation so far."
    )
    st.caption("Try one of these:")
    for i, q in enumerate(EXAMPLES):
        st.button(q, key=f"example-{i}", on_click=state.queue, args=(q,), icon=":material/help:")


def _ask(engine: AnswerEngine, request: Request, choice: Choice) -> Exchange | None:
    """Show the question, ask the engine, and return the exchange (None if it was refused)."""
    filters = Filters(section=request.section or choice.filters.section, source=choice.filters.source,
                      kind=choice.filters.kind)
    with st.chat_message("user"):
        st.markdown(escape_md(request.question))
    context = state.history()
    while request.reask and context and context[-1].question == request.question:
        context = context[:-1]  # a re-ask in another scope is the same question, not a follow-up to itself
    try:
        if choice.mode == "llm":
            answer = _ask_streaming(engine, request.question, context, filters)
        else:
            with st.spinner("Searching the sources…"):
                answer = engine.ask(request.question, history=context, filters=filters, mode=choice.mode)
    except QuestionError as exc:  # empty or over-long: the engine's own polite wording
        with st.chat_message("assistant"):
            st.warning(str(exc), icon=":material/edit_note:")
        return None
    except Exception:
        log.exception("answering a question failed")
        with st.chat_message("assistant"):
            st.error(ASK_FAILED, icon=":material/error:")
        return None
    scope = _scope(filters, choice.source_label)
    return Exchange(question=request.question, answer=answer, filters=filters, context=context, mode=choice.mode,
                    scope=scope)


def _ask_streaming(engine: AnswerEngine, question: str, context: list[Turn], filters: Filters) -> Answer:
    """LLM mode: the reply streams into a live preview, then the verified answer replaces it."""
    with st.chat_message("assistant"):
        preview = st.empty()
        preview.caption("Searching the sources and writing an answer…")
        parts: list[str] = []

        def show(chunk: str) -> None:
            parts.append(chunk)
            preview.markdown(escape_md("".join(parts)) + " ▌")

        answer = engine.ask(question, history=context, filters=filters, mode="llm", on_chunk=show)
        preview.empty()
    return answer


def render_exchange(ex: Exchange, store: FeedbackStore, sources_dir: Path, chunks: list[Chunk] | None = None) -> None:
    with st.chat_message("user"):
        st.markdown(escape_md(ex.question))
    with st.chat_message("assistant"):
        render_answer(ex, store, sources_dir, chunks)


def render_answer(ex: Exchange, store: FeedbackStore, sources_dir: Path, chunks: list[Chunk] | None = None) -> None:
    answer = ex.answer
    if ex.scope:
        st.caption(escape_md(f"Searched only in {ex.scope}"))
    if answer.notice == "signpost":
        st.info(escape_md(answer.answer), icon=":material/support:")
        return  # not an evidence answer: nothing to cite or rate
    if answer.widen:
        # The filter hid the evidence: say so plainly and offer the whole index.
        st.info(escape_md(answer.answer), icon=":material/travel_explore:")
        st.button("Search all sections", key=f"widen-{ex.id}", on_click=_search_everywhere, args=(ex.question,),
                  type="primary")
    elif answer.coverage == "partial":
        lead = next((s.text for s in answer.sentences if s.role == "notice"), "")
        st.warning(escape_md(lead or answer.notice), icon=":material/info:")
        st.markdown(answer_markdown(answer))
    else:
        st.markdown(answer_markdown(answer))
    if answer.notice and not answer.widen and answer.coverage != "partial":
        st.caption(escape_md(answer.notice))
    if answer.abstained and answer.notice != "signpost":
        _offer_sections(ex)
    if answer.citations:
        st.caption("Sources: open one (or click its number) to read the passage and see the page it is on.")
    for c in answer.citations:
        render_citation(c, sources_dir, key=f"pdf-{ex.id}-{c.n}", chunks=chunks)
    render_feedback(ex, store)


def sections_to_offer(suggestions: list[str], searched: str) -> list[str]:
    """The nearest sections, less the section just searched and those inside it: asking there
    again would give the same abstention."""
    if not searched:
        return list(suggestions)
    inside = searched.rstrip() + SECTION_SEP
    return [s for s in suggestions if s != searched and not s.startswith(inside)]


def _offer_sections(ex: Exchange) -> None:
    offered = sections_to_offer(ex.answer.suggestions, ex.filters.section)
    if offered:
        st.markdown("**Ask again within one of the nearest sections:**")
    for i, section in enumerate(offered):
        st.button(
            escape_md(section), key=f"suggest-{ex.id}-{i}", on_click=follow_suggestion, args=(ex.question, section),
            icon=":material/manage_search:",
        )
    if ex.filters.section:
        st.button(
            "Ask again in all sections", key=f"suggest-{ex.id}-all", on_click=follow_suggestion,
            args=(ex.question, ""), icon=":material/travel_explore:",
        )


def answer_markdown(answer: Answer) -> str:
    """An extractive answer as one bullet per quoted sentence with its bold [n]: the sentences come
    from different passages, and a run-on paragraph of them is hard to read. A list's items are
    nested under their lead-in, an item's later sentences in its bullet. Other answers (LLM prose,
    abstentions) show as written; a partial answer shows its quoted sentences (its first line, the
    engine's own words, is the notice)."""
    quoted = [s for s in answer.sentences if s.role != "notice"]
    cited = quoted and all(s.citations for s in quoted)
    if answer.mode != "extractive" or (answer.abstained and answer.coverage != "partial") or not cited:
        return escape_md(answer.answer)
    lines: list[str] = []
    under_lead_in = False  # items nest under the lead-in that introduces them, else stand as bullets
    in_item = False  # the last line is a nested item: its later sentences join its bullet
    for s in quoted:
        text = " ".join(s.text.split())
        # Each [n] links to citation n: app/ui/scroll.py opens it and scrolls to it.
        marks = " ".join(f"[**\\[{n}\\]**]({citation_href(n)})" for n in s.citations)
        if in_item and s.continues:
            lines[-1] += f" {escape_md(text)} {marks}"
            continue
        nested = s.role == "item" and under_lead_in
        under_lead_in = s.role == "lead_in" or nested
        in_item = nested
        if s.role == "item":
            text = text.lstrip("-•▪●◦* ")
        lines.append(("    - " if nested else "- ") + f"{escape_md(text)} {marks}")
    return "\n".join(lines)


def _search_everywhere(question: str) -> None:
    """Clear the sidebar's filters and ask the same question of the whole index."""
    st.session_state[SECTION_KEY] = ""
    st.session_state[SOURCE_KEY] = ""
    state.queue(question)


def _scope(filters: Filters, source_label: str) -> str:
    parts = []
    if filters.section:
        parts.append(f"the section {filters.section}")
    if filters.source:
        parts.append(source_label or "one source")
    return " and ".join(parts)
