"""The typed records every folder shares: sources, references, chunks, passages, answers.

Plain pydantic models so that they serialise to and from JSON(L) without pickle.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

SECTION_SEP = " › "


class SourceKind(StrEnum):
    REVIEW = "review"
    STUDY = "included_study"
    OTHER = "other"


class SourceDoc(BaseModel):
    """One ingested document (a PDF, .txt or .md file)."""

    id: str = Field(description="sha256 of the file's bytes (hex)")
    path: str = Field(description="file name inside the sources folder")
    kind: SourceKind = Field(SourceKind.OTHER, description="the review, an included study, or other")
    title: str = Field("", description="title from PDF metadata or the first page")
    authors: str = Field("", description="authors as printed")
    year: int | None = Field(None, description="publication year, if found")
    doi: str = Field("", description="DOI found in the text, if any")
    pages: int = Field(0, description="number of pages (1 for plain text)")
    reference_id: str = Field("", description="id of the review's reference entry this source was matched to")


class Reference(BaseModel):
    """One entry of a reference list."""

    id: str = Field(description="sha256 of the entry's raw text, first 16 hex digits")
    raw: str = Field(description="the entry as printed")
    authors: list[str] = Field(default_factory=list, description="author surnames in order")
    year: int | None = Field(None, description="publication year")
    year_suffix: str = Field("", description="the 'a'/'b' after a year, when the list has one")
    title: str = Field("", description="title of the work")
    venue: str = Field("", description="journal, publisher or report series")
    doi: str = Field("", description="DOI without the resolver prefix")
    source_id: str = Field("", description="the source whose full text this entry was matched to, if any")

    @property
    def doi_url(self) -> str:
        return f"https://doi.org/{self.doi}" if self.doi else ""

    def short(self) -> str:
        """A citation label such as 'Gillard et al. (2022)'."""
        if not self.authors:
            return self.raw[:60]
        if len(self.authors) == 1:
            who = self.authors[0]
        elif len(self.authors) == 2:
            who = f"{self.authors[0]} & {self.authors[1]}"
        else:
            who = f"{self.authors[0]} et al."
        return f"{who} ({self.year or 'n.d.'}{self.year_suffix})"


class Chunk(BaseModel):
    """A passage of a source with full provenance; the unit of retrieval."""

    id: str = Field(description="sha256 of source id + span + text (hex)")
    source_id: str = Field(description="id of the SourceDoc this chunk comes from")
    source_path: str = Field(description="file name of the source, for display")
    section_path: list[str] = Field(default_factory=list, description="section titles from the top down")
    page_start: int | None = Field(None, description="page (as printed) where the chunk starts")
    page_end: int | None = Field(None, description="page (as printed) where the chunk ends")
    char_start: int = Field(description="start offset in the source's normalised text")
    char_end: int = Field(description="end offset (exclusive) in the source's normalised text")
    text: str = Field(description="the passage text as it reads in the source")
    embed_text: str = Field(description="what gets embedded: a section header, the context when it fits, and the text")
    context: str = Field("", description="what the passage continues, from the text before it: the lead-in of the "
                         "list it opens inside, or the opening sentence of the paragraph it opens inside. Embedded "
                         "when it fits, always read by BM25, never quoted")
    kind: str = Field("body", description="body, table, or front matter")
    cites: list[str] = Field(default_factory=list, description="ids of reference entries cited in the text")
    citations_found: int = Field(0, description="in-text citations seen in the text (resolved or not)")
    designs: list[str] = Field(default_factory=list, description="study designs the text names")
    page_marks: list[tuple[int, int]] = Field(
        default_factory=list, description="(offset in text, page) where a new page begins inside the chunk"
    )

    @property
    def section(self) -> str:
        return SECTION_SEP.join(self.section_path)

    @property
    def page(self) -> int | None:
        return self.page_start

    def page_at(self, offset: int) -> int | None:
        """The printed page of the character at `offset` of the text."""
        page = self.page_start
        for off, p in self.page_marks:
            if off > offset:
                break
            page = p
        return page

    def pages_of(self, start: int, end: int) -> list[int]:
        """The pages a span of the text lies on, in order (one page, or a range across a break)."""
        first, last = self.page_at(start), self.page_at(max(start, end - 1))
        if first is None:
            return []
        if last is None or last == first:
            return [first]
        return list(range(first, last + 1)) if last > first else [first]


class Passage(BaseModel):
    """A chunk retrieved for one question, with its scores."""

    chunk: Chunk
    score: float = Field(description="final fused score used for ranking")
    dense_score: float | None = Field(None, description="cosine similarity of the query and the chunk")
    bm25_score: float | None = Field(None, description="BM25 score of the chunk")
    rank: int = Field(0, description="1-based rank in the final list")


class Citation(BaseModel):
    """A numbered source of an answer."""

    n: int = Field(description="the number used in the answer's [n] markers")
    passage: Passage
    quote: str = Field(description="the sentence(s) of the passage the answer uses")
    studies: list[Reference] = Field(default_factory=list, description="reference entries the passage cites")
    pages: list[int] = Field(default_factory=list, description="pages of the quoted sentences, in order")


class AnswerSentence(BaseModel):
    text: str
    citations: list[int] = Field(default_factory=list)
    supported: bool = True
    page: int | None = Field(None, description="printed page where the sentence starts")
    pages: list[int] = Field(default_factory=list, description="every page the sentence lies on")
    role: str = Field(
        "sentence", description="sentence, lead_in (introduces a list), item (a list item) or notice (the engine's words)"
    )
    unit: int = Field(0, description="which answer unit the sentence belongs to (0 is the lead unit; -1 for a notice)")
    continues: bool = Field(
        False, description="it runs on from the sentence before it, in the same paragraph of the source (a list "
        "item's later sentences)"
    )


class Answer(BaseModel):
    """What the engine returns for one question."""

    question: str
    answer: str = Field(description="the answer text with [n] markers")
    mode: str = Field("extractive", description="extractive or llm")
    abstained: bool = False
    notice: str = Field("", description="a message to show beside the answer (fallbacks, refusals)")
    sentences: list[AnswerSentence] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    retrieved: list[Passage] = Field(default_factory=list)
    suggestions: list[str] = Field(default_factory=list, description="nearest sections, offered on abstention")
    coverage: str = Field(
        "full", description="full: an answer; partial: the topic is covered but not the detail asked; none: nothing related"
    )
    widen: bool = Field(False, description="a filter hid strong evidence found elsewhere: offer to search everywhere")
    signals: dict[str, float] = Field(default_factory=dict, description="the answerability signals behind the decision")
    timings: dict[str, float] = Field(default_factory=dict)
    index_version: str = ""
    settings_hash: str = ""


class SourceStatus(BaseModel):
    """The outcome of ingesting one source file."""

    path: str
    status: str = Field(description="ok, skipped (unchanged), failed, or duplicate")
    chunks: int = 0
    error: str = ""
    source_id: str = ""


class IngestReport(BaseModel):
    sources: list[SourceStatus] = Field(default_factory=list)
    chunks_total: int = 0
    embedded: int = 0
    reused: int = 0
    index_version: str = ""
    seconds: float = 0.0
    citation_link_rate: float | None = None
    warnings: list[str] = Field(default_factory=list)
