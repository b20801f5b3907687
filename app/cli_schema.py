"""The CLI contract: what every `peerqa ... --json` prints, as pydantic models (one module).

Pydantic models rather than JSON-schema dicts: pydantic is already a dependency, the models are
type-checked with the code that fills them, `extra="forbid"` makes a renamed or stray field fail
validation, and `cli_json_schema()` still gives the JSON Schema for readers in other languages.

The same field names mean the same thing everywhere (and in the LangChain retriever's Document
metadata, app/provenance.py): `source` is a source's file name; `page` is the 0-based page of the
file (LangChain's loader convention) and `page_label` the page number as printed (names ending
`_label`, `_labels` are printed numbers); `index_version` is the index version that served or was
built; `studies` are cited reference entries in one shape (`Study`). With `--json`, a failure is
one `Error` object on stdout and a non-zero exit code. `chunks`, `feedback-export` and
`ask --jsonl` print JSON Lines: one object (or `Error`) per line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Error(Strict):
    error: str = Field(description="what went wrong, in plain words")
    command: str = Field(description="the command that failed, e.g. 'ask' or 'store status'")
    exit_code: int = Field(description="the process exit code (non-zero)")
    # ask --jsonl: which line of the input failed
    id: Any = None
    line: int | None = None
    question: str | None = None


class Study(Strict):
    id: str
    label: str = Field(description="'Gillard et al. (2022)'")
    authors: list[str]
    year: int | None
    title: str
    doi: str
    url: str


class ChunkFields(Strict):
    """Where a passage comes from (app/provenance.py)."""

    chunk_id: str
    source: str
    source_id: str
    section: str
    section_path: list[str]
    page: int | None
    page_label: str | None
    page_end_label: str | None
    char_span: list[int]
    kind: str
    designs: list[str]
    studies: list[Study]


class ChunkRow(ChunkFields):
    """`peerqa chunks`: one line per chunk."""

    text: str
    embed_text: str
    context: str


class Retrieved(ChunkFields):
    text: str
    rank: int
    score: float
    dense_score: float | None
    bm25_score: float | None


class CitationOut(ChunkFields):
    n: int
    text: str
    quote: str
    quote_page_labels: list[str]


class SentenceOut(Strict):
    text: str
    citations: list[int]
    supported: bool
    page_label: str | None
    page_labels: list[str]
    role: str
    unit: int


class AnswerOut(Strict):
    """`peerqa ask --json` (and each line of `ask --jsonl`)."""

    id: Any = None
    question: str
    answer: str
    abstained: bool
    coverage: str
    widen: bool
    mode: str
    notice: str
    sentences: list[SentenceOut]
    citations: list[CitationOut]
    retrieved: list[Retrieved]
    suggestions: list[str]
    signals: dict[str, float]
    timings: dict[str, float]
    index_version: str


class SourceOutcome(Strict):
    source: str
    status: str
    chunks: int
    error: str


class IngestOut(Strict):
    sources: list[SourceOutcome]
    chunks_total: int
    embedded: int
    reused: int
    index_version: str
    seconds: float
    citation_link_rate: float | None
    warnings: list[str]


class IndexSource(Strict):
    source: str
    source_id: str | None
    kind: str | None
    title: str | None
    pages: int | None


class IndexInfoOut(Strict):
    index_dir: str
    index_version: str
    created: str | None
    settings_hash: str | None
    settings: dict[str, Any] | None
    model: dict[str, Any] | None
    packages: dict[str, Any] | None
    sources: list[IndexSource]
    counts: dict[str, Any] | None
    citations: dict[str, Any] | None
    build_seconds: float | None
    warnings: list[str]


class ServeOut(Strict):
    """`peerqa serve --json`: one line once the index is ready, before the server starts."""

    url: str
    index_dir: str
    index_version: str | None


class FeedbackRow(Strict):
    """`peerqa feedback-export`: one candidate evaluation question per line."""

    id: str
    question: str
    answer: str
    evidence: list[Any]
    section: str
    type: str
    keywords: list[str]
    feedback: str
    comment: str
    context: list[dict[str, Any]] | None = None


class FeedbackExportOut(Strict):
    """`peerqa feedback-export --out FILE --json`: what was written."""

    exported: int
    db: str
    out: str


class EvalSystem(BaseModel):
    model_config = ConfigDict(extra="allow")  # every figure of eval/metrics.py
    hit_at_5: float | None = Field(alias="hit@5")


class EvalOut(Strict):
    n_questions: int
    index_version: str
    settings_hash: str
    systems: dict[str, EvalSystem]
    files: list[str]


class BenchOut(BaseModel):
    """`peerqa bench --json`: the figures depend on the mode (corpus, --scale, --rebuild-load)."""

    model_config = ConfigDict(extra="allow")
    machine: dict[str, Any]
    load_avg_at_end: list[float]


class StoreInitOut(Strict):
    store: str = Field(description="the database URL without its password")
    schema_version: int
    applied: list[int]


class StoreCopyOut(Strict):
    source: str = Field(alias="from", description="folder or database URL (without password) copied from")
    target: str = Field(alias="to")
    index_version: str


class StoreStatusOut(Strict):
    store: str
    schema_version: int | None
    expected_schema_version: int
    index_version: str | None
    versions: list[str]


class AdaptOut(Strict):
    """`peerqa adapt --json`: the adapted model's folder and its training record (index/adapt.py)."""

    folder: str
    key: str
    base_model: str
    settings: dict[str, Any]
    pairs: dict[str, int] = Field(description="training pairs per kind")
    steps: int
    first_loss: float | None
    last_loss: float
    minutes: float
    torch_threads: int


class RerankerOut(Strict):
    """`peerqa adapt --reranker --json`: the cross-encoder's folder, its training record
    (index/rerank_train.py) and the setting that turns it on."""

    folder: str
    key: str
    base_model: str
    settings: dict[str, Any]
    pairs: dict[str, int] = Field(description="positive training pairs per kind")
    negatives: dict[str, int] = Field(description="negatives per kind: '<kind>:hard' (mined) or '<kind>:random'")
    steps: int
    first_loss: float | None
    last_loss: float
    minutes: float = Field(description="training time, including mining the negatives")
    torch_threads: int
    load_average: float = Field(description="the machine's 1-minute load average when training ended")
    use: str = Field(description="the environment variable that turns the re-ranker on")


class PageOut(Strict):
    source: str
    page: int
    page_label: str
    pages: int = Field(description="pages in the file")
    out: str
    width: int
    height: int
    highlight_boxes: int
    quotes: int
    located: int
    ms: float
    note: str


class PageTextOut(Strict):
    """`peerqa page` on a .txt/.md source: the passage in its context."""

    source: str
    chunk_id: str
    text: str
    highlight: list[int]


# What each command prints with --json (a JSON Lines command: what each line is).
OUTPUTS: dict[str, Any] = {
    "ingest": IngestOut,
    "chunks": ChunkRow,
    "index-info": IndexInfoOut,
    "serve": ServeOut,
    "ask": AnswerOut,
    "feedback-export": FeedbackRow | FeedbackExportOut,
    "eval": EvalOut,
    "bench": BenchOut,
    "store init": StoreInitOut,
    "store copy": StoreCopyOut,
    "store status": StoreStatusOut,
    "page": PageOut | PageTextOut,
    "adapt": AdaptOut | RerankerOut,
}


def validate(command: str, obj: Any) -> BaseModel:
    """The object as the contract reads it; an error object is an Error, never an output."""
    if isinstance(obj, dict) and "error" in obj:
        return Error.model_validate(obj)
    out = TypeAdapter(OUTPUTS[command]).validate_python(obj)
    assert isinstance(out, BaseModel)
    return out


def cli_json_schema() -> dict[str, Any]:
    """JSON Schema of every command's output and of the error object."""
    return {"error": Error.model_json_schema(),
            **{name: TypeAdapter(model).json_schema(by_alias=True) for name, model in OUTPUTS.items()}}


def print_json(obj: Any, lines: bool = False) -> None:
    """One JSON document (indented), or one JSON Lines row."""
    text = json.dumps(obj, ensure_ascii=False) if lines else json.dumps(obj, ensure_ascii=False, indent=1)
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):  # never lose output to a character stdout cannot take
        text = json.dumps(obj) if lines else json.dumps(obj, indent=1)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def fail(as_json: bool, command: str, message: str, code: int, **where: Any) -> int:
    """Report a failure: an Error object on stdout with --json, else `peerqa COMMAND: message` on
    stderr. Returns the exit code."""
    if as_json:
        print_json({"error": message, "command": command, "exit_code": code, **where})
    else:
        print(f"peerqa {command}: {message}", file=sys.stderr)
    return code
