"""Query handling: validation, abbreviation and synonym expansion, follow-up rewriting."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from peerqa.app.answer.question_check import unreadable
from peerqa.prompts import messages, vocabulary

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FOLLOWUP_START = re.compile(
    r"^(and|but|also|what about|how about|and what about|what of|same for|in|for|is that|are they|does it|do they|"
    r"why|how so|which ones?|tell me more|more on|anything on|any evidence)\b",
    re.I,
)
_PRONOUN = re.compile(r"\b(it|they|them|this|that|these|those|their|there|such|the same)\b", re.I)
_CONTENT = re.compile(r"[A-Za-z][A-Za-z+&'-]{2,}")
_QUESTION_WORDS = {
    "what", "which", "who", "when", "where", "why", "how", "does", "do", "did", "is", "are", "was", "were", "can",
    "could", "should", "would", "the", "and", "for", "about", "review", "say", "says", "tell", "me", "any",
    "there", "peer", "support", "work", "workers", "worker", "psw", "psws", "evidence", "in", "of", "many", "much",
}


class QuestionError(ValueError):
    """A question the engine refuses politely (empty, too long, no readable word)."""


def clean_question(text: str, limit: int) -> str:
    text = _CONTROL.sub(" ", text or "")
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise QuestionError(messages()["empty_question"])
    if len(text) > limit:
        raise QuestionError(messages()["question_too_long"].format(length=len(text), limit=limit))
    if problem := unreadable(text):  # punctuation, emoji or zero-width only; broken characters
        raise QuestionError(problem)
    return text


@dataclass
class Turn:
    question: str
    answer: str = ""


@dataclass
class PreparedQuery:
    original: str
    standalone: str  # the question with follow-up context folded in
    expanded: str  # what BM25 reads (standalone + expansions)
    expansions: list[str] = field(default_factory=list)
    rewritten: bool = False


def content_words(text: str) -> list[str]:
    return [w.lower() for w in _CONTENT.findall(text) if w.lower() not in _QUESTION_WORDS]


def is_followup(question: str) -> bool:
    words = question.split()
    if _FOLLOWUP_START.match(question) and len(words) <= 12:
        return True
    if len(words) <= 8 and _PRONOUN.search(question):
        return True
    return len(content_words(question)) <= 1 and len(words) <= 6


def could_follow_up(question: str) -> bool:
    """Short enough to lean on the previous turn ("Did the gains last?"): read as a follow-up when
    the sources cannot answer it on its own (the engine asks again, `prepare(..., force=True)`)."""
    return len(question.split()) <= 6 and len(content_words(question)) <= 2


def rewrite_followup(question: str, history: list[Turn], force: bool = False) -> tuple[str, bool]:
    """Fold the previous question into a follow-up, so 'And in prisons?' keeps its topic."""
    if not history or not (force or is_followup(question)):
        return question, False
    previous = history[-1]
    if content_words(question) and not force:
        # A follow-up with a topic of its own ("And what about supervision?"): the new topic
        # leads and the previous question only sets the scene.
        return f"{question} {previous.question}".strip(), True
    # A bare follow-up ("Why?"), or one the sources cannot answer alone ("Did the gains last?",
    # `force`): the previous turn carries the whole topic.
    answer = " ".join(re.sub(r"\[\d+\]", " ", previous.answer).split()[:40])
    return f"{previous.question} {answer} {question}".strip(), True


def expand(text: str, glossary: dict[str, str]) -> list[str]:
    """Expansions of abbreviations (from the review's glossary) and everyday words."""
    extra: list[str] = []
    for token in re.findall(r"\b[A-Z][A-Za-z&+]{1,7}s?\b", text):
        key = token[:-1] if token.endswith("s") and token[:-1] in glossary else token
        if key in glossary and key.isupper():
            extra.append(glossary[key])
    lowered = " " + re.sub(r"[^a-z0-9&+' -]", " ", text.lower()) + " "
    for phrase, alts in vocabulary()["synonyms"].items():
        if f" {phrase} " in lowered:
            extra.extend(alts)
    return list(dict.fromkeys(e for e in extra if e.lower() not in text.lower()))


def prepare(question: str, history: list[Turn], glossary: dict[str, str], use_expansion: bool = True,
            use_rewrite: bool = True, force: bool = False) -> PreparedQuery:
    standalone, rewritten = rewrite_followup(question, history, force) if use_rewrite else (question, False)
    expansions = expand(standalone, glossary) if use_expansion else []
    expanded = standalone + (" " + " ".join(expansions) if expansions else "")
    return PreparedQuery(question, standalone, expanded, expansions, rewritten)


def is_crisis(question: str) -> bool:
    return any(p.search(question) for p in vocabulary()["crisis_regex"])
