"""The conversation of one browser session, kept in st.session_state.

Each exchange keeps the Answer record itself (citations and all), the filters it was asked with
and the turns before it, so feedback and the Markdown export describe exactly what was shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from peerqa.app.answer.engine import Filters, Turn
from peerqa.records import Answer

CONVERSATION = "peerqa_conversation"
PENDING = "peerqa_pending"
# Follow-ups fold in the previous question; a few turns are plenty and keep requests small.
HISTORY_TURNS = 6


@dataclass
class Exchange:
    question: str
    answer: Answer
    filters: Filters = field(default_factory=Filters)
    context: list[Turn] = field(default_factory=list)
    mode: str = "extractive"
    scope: str = ""  # the filters in words, e.g. "the section Findings › Training"
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Request:
    """A question waiting to be asked: typed, or a clicked example or suggestion."""

    question: str
    section: str = ""  # set by an abstention's suggestion: re-ask within that section
    reask: bool = False  # the same question again in another scope, not a follow-up to itself


def _state() -> Any:
    return st.session_state


def conversation() -> list[Exchange]:
    s = _state()
    if CONVERSATION not in s:
        s[CONVERSATION] = []
    conv: list[Exchange] = s[CONVERSATION]
    return conv


def add_exchange(exchange: Exchange) -> None:
    conversation().append(exchange)


def find_exchange(exchange_id: str) -> Exchange | None:
    return next((e for e in conversation() if e.id == exchange_id), None)


def history() -> list[Turn]:
    """The turns a follow-up is read against (the most recent last)."""
    return [Turn(e.question, e.answer.answer) for e in conversation()[-HISTORY_TURNS:]]


def new_conversation() -> None:
    """Forget the turns (and their widgets' state) so the next question starts afresh."""
    s = _state()
    for e in conversation():
        for key in (f"vote-{e.id}", f"comment-{e.id}", f"saved-{e.id}"):
            if key in s:
                del s[key]
    s[CONVERSATION] = []
    s.pop(PENDING, None)


def queue(question: str, section: str = "", reask: bool = False) -> None:
    """Ask `question` on the next run (a button callback cannot render the answer itself)."""
    _state()[PENDING] = Request(question, section, reask or bool(section))


def take_pending() -> Request | None:
    req: Request | None = _state().pop(PENDING, None)
    return req

