"""Stand-ins for the web app's unit tests: an index and an engine that return canned answers.

The stub engine records every call, so tests can check the history and filters the page sends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peerqa.app.answer.engine import Filters, QuestionError, Turn
from peerqa.records import Answer, AnswerSentence, Chunk, Citation, Passage, Reference, SourceDoc, SourceKind

REVIEW = "review.pdf"
QUOTE = "Peer support workers need training in boundaries and self-care (Smith et al., 2020)."
# Document text with things that must show as typed, never as markup.
PASSAGE = (
    "Training matters for every new role. " + QUOTE + " Some services <b>ignore</b> this; "
    "*stars*, :red[colour] and $x$ stay literal.\n# Not a heading"
)
SIGNPOST = "This service summarises research evidence on peer support work; it is not a clinical or crisis service."


def reference() -> Reference:
    return Reference(
        id="ref1", raw="Smith, A., Jones, B., & Lee, C. (2020). Peer support in forensic care.",
        authors=["Smith", "Jones", "Lee"], year=2020, title="Peer support in forensic care", doi="10.1000/jp(2020)1",
    )


def chunk(text: str = PASSAGE, section: tuple[str, ...] = ("Findings", "Training"), page: int = 46) -> Chunk:
    return Chunk(
        id="chunk-" + "-".join(section), source_id="src1", source_path=REVIEW, section_path=list(section),
        page_start=page, page_end=page, char_start=0, char_end=len(text), text=text, embed_text=text,
        designs=["RCT"],
    )


def cited_answer(question: str) -> Answer:
    passage = Passage(chunk=chunk(), score=1.0, rank=1)
    return Answer(
        question=question, answer=f"{QUOTE} [1]",
        sentences=[AnswerSentence(text=QUOTE, citations=[1])],
        citations=[Citation(n=1, passage=passage, quote=QUOTE, studies=[reference()])],
        retrieved=[passage], index_version="v-test",
    )


def abstained_answer(question: str) -> Answer:
    return Answer(
        question=question, answer='The review does not appear to cover "salaries".', abstained=True,
        suggestions=["Findings › Training", "Context"], index_version="v-test",
    )


@dataclass
class StubIndex:
    version: str = "20250101T000000000000Z-abcdef12"
    folder: Path = Path("/nonexistent")
    manifest: dict[str, Any] = field(
        default_factory=lambda: {
            "counts": {"chunks": 3, "per_source": {REVIEW: 3}},
            "model": {"name": "bundled:all-MiniLM-L6-v2"},
            "created": "2025-01-01T09:30:00+00:00",
            "build_seconds": 61.5,
        }
    )
    sources: dict[str, SourceDoc] = field(
        default_factory=lambda: {
            "src1": SourceDoc(id="src1", path=REVIEW, kind=SourceKind.REVIEW, title="Peer Support Work", pages=80)
        }
    )
    warnings: list[str] = field(default_factory=list)

    def sections(self) -> list[str]:
        return ["Context", "Findings", "Findings › Training"]


@dataclass
class Call:
    question: str
    history: list[Turn]
    filters: Filters
    mode: str


class StubEngine:
    """Answers 'salary' questions by abstaining, 'crisis' with a signpost, 'boom' by failing,
    an empty question with QuestionError, and anything else with one cited passage."""

    def __init__(self) -> None:
        self.index = StubIndex()
        self.calls: list[Call] = []

    def ask(self, question: str, history: list[Turn] | None = None, filters: Filters | None = None,
            k: int | None = None, mode: str = "extractive", on_chunk: Callable[[str], None] | None = None) -> Answer:
        self.calls.append(Call(question, list(history or []), filters or Filters(), mode))
        if on_chunk is not None:
            for word in ("Streaming ", "preview "):
                on_chunk(word)
            self.streamed = getattr(self, "streamed", 0) + 1
        if not question.strip():
            raise QuestionError("Please type a question about peer support work.")
        if "boom" in question:
            raise RuntimeError("secret internal detail /etc/passwd")
        if "crisis" in question:
            return Answer(question=question, answer=SIGNPOST, abstained=True, notice="signpost")
        if "salary" in question and not (filters and filters.section):
            return abstained_answer(question)
        if "respite" in question and filters and filters.section:
            return widened_answer(question, filters.section)
        if "beds" in question:
            return partial_answer(question)
        if "pension" in question:  # abstains in any scope; its nearest sections include the one searched
            return abstained_answer(question).model_copy(
                update={"suggestions": ["Findings › Training", "Findings › Training › Costs", "Context"]})
        return cited_answer(question)


def partial_answer(question: str) -> Answer:
    """The topic is covered, the figure asked for is not (coverage "partial")."""
    lead = "The review does not give the number asked for. What it does say about peer respite:"
    base = cited_answer(question)
    sentences = [AnswerSentence(text=lead, citations=[], role="notice", unit=-1), *base.sentences]
    return base.model_copy(update={"answer": f"{lead} {base.answer}", "sentences": sentences, "abstained": True,
                                   "coverage": "partial", "notice": "The review covers this topic but does not "
                                   "give the number asked for; the passages below are what it does say."})


def widened_answer(question: str, section: str) -> Answer:
    msg = f"The section {section} does not appear to cover this; the nearest evidence is in: Context."
    return Answer(question=question, answer=msg, abstained=True, notice=msg, widen=True, suggestions=["Context"],
                  index_version="v-test")
