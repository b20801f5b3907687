"""Thumbs up/down and an optional comment under each answer, saved at once to the feedback store."""

from __future__ import annotations

import logging

import streamlit as st

from peerqa.app.feedback import MAX_COMMENT_CHARS, FeedbackEntry, FeedbackStore, Vote
from peerqa.app.ui.state import Exchange

log = logging.getLogger("peerqa.app")
VOTES: dict[int, Vote] = {0: "down", 1: "up"}  # st.feedback("thumbs") returns 0 or 1


def entry_for(ex: Exchange, vote: Vote, comment: str = "") -> FeedbackEntry:
    return FeedbackEntry(
        answer_id=ex.id,
        question=ex.question,
        answer=ex.answer.answer,
        abstained=ex.answer.abstained,
        vote=vote,
        comment=comment.strip(),
        context=[{"question": t.question, "answer": t.answer} for t in ex.context],
        section=ex.filters.section,
        citations=[
            {"n": c.n, "chunk_id": c.passage.chunk.id, "section": c.passage.chunk.section,
             "page": c.passage.chunk.page_start}
            for c in ex.answer.citations
        ],
        index_version=ex.answer.index_version,
    )


def _save(store: FeedbackStore, ex: Exchange) -> None:
    """Called back when the vote or the comment changes; one row per answer is kept up to date."""
    raw = st.session_state.get(f"vote-{ex.id}")
    if raw not in VOTES:
        return  # the vote was cleared: keep what was saved (a comment without a vote has no meaning)
    comment = str(st.session_state.get(f"comment-{ex.id}", "") or "")
    try:
        store.save(entry_for(ex, VOTES[raw], comment))
        st.session_state[f"saved-{ex.id}"] = True
    except Exception:  # a locked or unwritable file must not break the conversation
        log.exception("could not save feedback")
        st.session_state[f"saved-{ex.id}"] = False


def render_feedback(ex: Exchange, store: FeedbackStore) -> None:
    st.feedback("thumbs", key=f"vote-{ex.id}", on_change=_save, args=(store, ex))
    if st.session_state.get(f"vote-{ex.id}") is None:
        return
    st.text_input(
        "Comment (optional)", key=f"comment-{ex.id}", max_chars=MAX_COMMENT_CHARS,
        placeholder="What was right or wrong? Press Enter to save.", on_change=_save, args=(store, ex),
    )
    saved = st.session_state.get(f"saved-{ex.id}")
    if saved:
        st.caption("Thank you, your feedback is saved.")
    elif saved is False:
        st.caption("Sorry, your feedback could not be saved just now.")
