"""What the engine says: a cited answer built from the chosen units, an abstention, or the notice
that a filter holds weak evidence while the whole index holds better; and the filters themselves."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from peerqa.app.answer.compose import ScoredUnit
from peerqa.app.answer.sentences import DocSentence
from peerqa.index.corpus import Corpus
from peerqa.ingest.references import cited_in
from peerqa.prompts import messages
from peerqa.records import SECTION_SEP, Answer, AnswerSentence, Citation, Passage, Reference


@dataclass
class Filters:
    section: str = ""  # a section path prefix, e.g. "Findings › Specific Services"
    source: str = ""  # a source id (or its prefix) or file name
    kind: str = ""  # review | included_study | other

    def active(self) -> bool:
        return bool(self.section or self.source or self.kind)

    def describe(self) -> str:
        parts = [f"the section {self.section}" if self.section else "", f"the source {self.source}" if self.source else "",
                 f"{self.kind.replace('_', ' ')} sources" if self.kind else ""]
        return " and ".join(p for p in parts if p)



def passage_for(sent: DocSentence, passages: list[Passage], corpus: Corpus, row_of: Any) -> Passage:
    """The retrieved passage that holds the sentence, else the chunk that does (a list that runs
    on into a passage that was not retrieved is still cited to where it is printed)."""
    rows = set(sent.rows)
    for p in passages:
        if row_of.get(p.chunk.id) in rows:
            return p
    return Passage(chunk=corpus.chunk(sent.rows[0]), score=0.0, rank=0)


def cited_answer(question: str, units: list[ScoredUnit], passages: list[Passage], corpus: Corpus, row_of: Any,
                 references: Mapping[str, Reference], lead: str = "") -> Answer:
    """The units' sentences in order, each cited to its passage; a citation's studies are those its
    quoted sentences themselves cite."""
    numbers: dict[str, int] = {}
    cited: dict[int, Passage] = {}
    quotes: dict[int, list[DocSentence]] = defaultdict(list)
    out: list[AnswerSentence] = []
    if lead:
        out.append(AnswerSentence(text=lead, citations=[], supported=True, role="notice", unit=-1))
    for u_i, scored in enumerate(units):
        before: DocSentence | None = None
        for sent in scored.unit.sentences:
            p = passage_for(sent, passages, corpus, row_of)
            n = numbers.setdefault(p.chunk.id, len(numbers) + 1)
            cited[n] = p
            quotes[n].append(sent)
            runs_on = before is not None and before.idx == sent.idx - 1 and not sent.new_paragraph
            out.append(AnswerSentence(text=sent.text, citations=[n], supported=True, page=sent.page,
                                      pages=sent.pages, role=sent.role, unit=u_i,
                                      continues=runs_on and sent.role == "sentence"))
            before = sent
    citations = []
    for n, p in cited.items():
        studies = cited_in([s.text for s in quotes[n]], p.chunk.cites, references)
        pages = list(dict.fromkeys(pg for s in quotes[n] for pg in s.pages))
        citations.append(Citation(n=n, passage=p, quote=" … ".join(s.text for s in quotes[n]), studies=studies,
                                  pages=pages))
    text = " ".join(s.text if not s.citations else f"{s.text} [{s.citations[0]}]" for s in out)
    return Answer(question=question, answer=text, sentences=out, citations=citations)


def abstain(question: str, passages: list[Passage], missing: list[str]) -> Answer:
    topic = question.rstrip("?.! ")
    topic = topic[0].lower() + topic[1:] if topic else "this question"
    suggestions = list(dict.fromkeys(p.chunk.section for p in passages if p.chunk.section))[:3]
    msg = messages()["abstain"].format(topic=f'"{topic}"')
    notice = "The sources never mention: " + ", ".join(missing) if missing else ""
    return Answer(question=question, answer=msg, abstained=True, suggestions=suggestions, notice=notice,
                  coverage="none")


def filter_notice(question: str, filters: Filters, coverage: str, wider: list[Passage]) -> Answer:
    """The filtered evidence is weak while the whole index has strong evidence: say so, and offer
    the sections where it is (never the section just searched)."""
    searched = filters.section
    suggestions = [s for s in dict.fromkeys(p.chunk.section for p in wider if p.chunk.section)
                   if not (searched and (s == searched or s.startswith(searched + SECTION_SEP)))][:3]
    msg = messages()["filter_weak"].format(scope=filters.describe(), nearest="; ".join(suggestions) or "other sections")
    msg = msg[:1].upper() + msg[1:]
    return Answer(question=question, answer=msg, abstained=True, suggestions=suggestions, notice=msg,
                  coverage=coverage, widen=True)


def sentences_of(answer_text: str) -> list[str]:
    """The quoted sentences of an earlier answer (its text with [n] markers between sentences)."""
    return [p for p in re.split(r"\s*\[\d+\]\s*", answer_text) if p.strip()]
