"""Reading a question file (JSON Lines): one question object per line.

Fields: id, question, answer, evidence (verbatim gold quotes), section ("A | B" for a question
that draws on two sections), type (fact | list | definition | synthesis | unanswerable | followup),
keywords, and for follow-ups context ([{"question", "answer"}] earlier turns). Only `question`
is required, so any file in this format can be evaluated; missing fields mean "not scored".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

UNANSWERABLE = "unanswerable"
NO_SECTION = "(no section)"
SECTION_SPLIT = "|"


class QuestionFileError(ValueError):
    """The question file is missing or a line is not a question object."""


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    type: str = "fact"
    section: str = ""
    evidence: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    context: tuple[tuple[str, str], ...] = ()  # earlier turns: (question, answer)
    answer: str = ""

    @property
    def should_abstain(self) -> bool:
        return self.type == UNANSWERABLE

    @property
    def sections(self) -> list[str]:
        return section_labels(self.section)


def section_labels(section: str) -> list[str]:
    """The section labels a question counts under. A synthesis question's "A | B" counts under
    both A and B (so per-section figures show every section it needs); none gives NO_SECTION."""
    parts = [p.strip() for p in section.split(SECTION_SPLIT)]
    parts = [p for p in parts if p]
    return list(dict.fromkeys(parts)) or [NO_SECTION]


def parse_question(row: object, line_no: int) -> Question:
    if not isinstance(row, dict) or not isinstance(row.get("question"), str):
        raise QuestionFileError(f"line {line_no}: not a question object (needs a 'question' string)")
    context = tuple(
        (str(t.get("question", "")), str(t.get("answer", "")))
        for t in row.get("context") or []
        if isinstance(t, dict)
    )
    return Question(
        id=str(row.get("id", line_no)),
        question=row["question"],
        type=str(row.get("type") or "fact"),
        section=str(row.get("section") or ""),
        evidence=tuple(str(e) for e in row.get("evidence") or []),
        keywords=tuple(str(k) for k in row.get("keywords") or []),
        context=context,
        answer=str(row.get("answer") or ""),
    )


def load_questions(path: Path) -> list[Question]:
    """Every question of a JSONL file, in file order; blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QuestionFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    out: list[Question] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise QuestionFileError(f"line {n}: not JSON ({exc})") from exc
        out.append(parse_question(row, n))
    if not out:
        raise QuestionFileError(f"{path} holds no questions")
    return out
