"""One settings object for the whole product (env prefix PEERQA_, nested with '__').

Data folders never come from where peerqa is installed: `PEERQA_HOME` (default: the current
folder) holds `data/index` and `sources`; `PEERQA_INDEX_DIR`, `PEERQA_SOURCES_DIR` set them one by
one. The shipped review is package data (`SHIPPED_SOURCES`); nested settings read e.g.
`PEERQA_CHUNKING__MAX_TOKENS=200` or `PEERQA_MODEL__NAME=/path/to/model`.
The index identity (`index_hash`) is derived from the settings that shape an index,
so changing one of them means a new index, never a silently stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
# Package data: the shipped review (in a checkout, peerqa/sources is a symlink to the top-level
# sources/ folder), the curated questions and the gate's baseline (peerqa/eval).
SHIPPED_SOURCES = PACKAGE_DIR / "sources"
SHIPPED_QUESTIONS = PACKAGE_DIR / "eval" / "questions.jsonl"
BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"
BUNDLED_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# Bump when chunking or structure code changes what chunks come out, so old indexes are rebuilt.
PIPELINE_VERSION = "9"


class ModelSettings(BaseModel):
    name: str = Field(
        BUNDLED_MODEL,
        description="'bundled:all-MiniLM-L6-v2' or a local sentence-transformers model folder",
    )
    sha256: str = Field(
        BUNDLED_MODEL_SHA256,
        description="expected sha256 of model.safetensors; empty to skip the check (other models)",
    )
    max_tokens: int = Field(256, description="word pieces the model reads; longer input is truncated")
    batch_size: int = 32


class ChunkingSettings(BaseModel):
    max_tokens: int = Field(220, description="bound on the embedded text (header + passage), in word pieces")
    min_tokens: int = Field(60, description="a section's tail shorter than this joins the previous chunk")
    overlap_sentences: int = Field(1, description="sentences repeated at the start of the next chunk")
    header: bool = Field(True, description="prepend the section path to the embedded text")
    lead_in_tokens: int = Field(
        32, ge=0, description="a passage that opens inside a list also embeds the list's lead-in sentence when it "
        "fits in this many word pieces past max_tokens (max_tokens + this stays within the model's 256); BM25 reads "
        "it either way; 0 = off (no context at all)",
    )
    paragraph_lead_in: bool = Field(
        True, description="a passage that opens inside a paragraph takes the paragraph's opening sentence as its "
        "context (whose study or which subject it continues), embedded in the same room as a list's lead-in",
    )
    min_chunk_words: int = Field(
        3,
        description="the floor on chunk size: a chunk with fewer words (and under 6 letters a word) is a "
        "fragment, merged with a neighbour in its section or else dropped as noise",
    )


class BudgetSettings(BaseModel):
    """What one source may cost; a source over budget fails by name, and the build goes on."""

    source_seconds: float = Field(
        600.0, description="wall-clock limit for one source: reading, structure, chunking and embedding together"
    )
    memory_mb: int = Field(2048, description="memory limit of the parser's child process")
    max_pages: int = Field(2000, description="PDFs with more pages are refused")
    max_chunks_per_source: int = Field(5000, description="a source that yields more passages fails")
    max_chunks_per_page: int = Field(50, description="a PDF page that yields more passages fails its source")
    max_page_chars: int = Field(
        200_000, description="a PDF page with more characters of text fails its source (a dense page holds 6,000)"
    )


class IndexSettings(BaseModel):
    faiss_type: Literal["flat", "hnsw", "ivf"] = Field(
        "flat", description="flat is exact; hnsw or ivf are approximate, for large corpora"
    )
    hnsw_m: int = 32
    ivf_nlist: int = 1024
    keep_versions: int = Field(3, description="older index versions beyond this many are pruned")
    token_vectors: bool = Field(
        True, description="store each chunk's token vectors for late-interaction scoring (about 40 MB per 300 chunks)"
    )


class RetrievalSettings(BaseModel):
    pool: int = Field(50, description="candidates taken from each of BM25 and dense search")
    k: int = Field(10, description="passages returned")
    rrf_k: int = 60
    per_section_cap: int = Field(3, description="diversity: at most this many passages from one section")
    expand_queries: bool = True
    rewrite_followups: bool = True
    hybrid: bool = True
    fusion: Literal["linear", "rrf"] = Field("linear", description="score fusion of dense, sentence and BM25")
    late_interaction: bool = Field(
        True, description="add the token-level (late-interaction) score to the fusion when the index has token vectors"
    )
    reranker: str = Field("", description="optional local cross-encoder model folder (peerqa adapt --reranker); "
                          "empty = off")
    reranker_weight: float = Field(
        0.3, description="with a re-ranker: a top candidate's score is fused + this x sigmoid(cross-encoder logit)"
    )
    reranker_depth: int = Field(10, description="with a re-ranker: how many top fused candidates it re-scores")
    section_heading_weight: float = Field(
        0.1, description="section level: weight of the question's cosine with the passage's section heading path"
    )
    aspect_coverage: bool = Field(
        False, description="synthesis: bring each aspect's best passage of a several-part question into the top 5"
    )
    section_best_weight: float = Field(
        0.2, description="section level: weight of the best fused score among the passage's section's candidates"
    )
    answer_type_weight: float = Field(
        0.1, description="a candidate holding the kind of answer asked for (a list for a list question, a "
        "definition of the term for 'what is X') scores fused + this (app/answer/type_prior.py); 0 = off"
    )
    unit_rank_weight: float = Field(
        0.3, description="the top answer.compose_passages passages re-ordered by fused + this x their best answer "
                         "unit's score (app/answer/unit_rank.py); 0 = the fused order"
    )


class AnswerSettings(BaseModel):
    max_question_chars: int = 1000
    compose_passages: int = Field(5, description="top passages whose sentences may be quoted")
    # Abstention thresholds, learned on eval/questions.jsonl by eval/calibration.py (in-sample; the
    # 5-fold cross-validated figures are in eval/REPORT.md): abstain when nothing is even loosely
    # related, when the question names a rare word or a name the sources never use and the evidence
    # is not close, and answer "partial" when the detail asked for is nowhere in the evidence.
    abstain_min_similarity: float = Field(0.175, description="abstain below this best question-evidence cosine")
    abstain_missing_similarity: float = Field(
        0.625, description="with a rare question word absent from the sources, abstain below this cosine"
    )
    abstain_name_similarity: float = Field(
        0.80, description="with an acronym, name or named study the sources never mention, abstain below this cosine"
    )
    detail_min_similarity: float = Field(
        0.25, description="a figure/date/name question is answered only when a sentence this close holds that detail"
    )
    filter_margin: float = Field(
        0.15, description="with a filter on, say so when the whole index has evidence this much closer"
    )
    rare_word_rank: int = Field(10000, description="vocabulary rank past which a word counts as rare")
    max_support: int = Field(3, description="supporting units after the lead unit")
    word_budget: int = Field(120, description="aim for answers about this long (a list may run longer)")
    aspect_units: bool = Field(
        True, description="a question of several parts ('X, and Y?') gets each part's best unit after the lead"
    )
    lead_continuation: bool = Field(
        True, description="the lead unit is followed by the next sentence of its paragraph"
    )
    statement_items: bool = Field(
        True, description="a list item that is a sentence in its own right can be a unit alone (not for list questions)"
    )


class LLMSettings(BaseModel):
    provider: Literal["none", "openai", "ollama"] = "none"
    base_url: str = Field("", repr=False, description="may hold credentials: never shown")
    model: str = ""
    api_key: SecretStr = SecretStr("")
    timeout_s: float = 30.0


class PostgresSettings(BaseModel):
    """Only read when `store_url` is a postgresql:// URL (index/pg_store.py)."""

    ef_search: int = Field(100, description="hnsw.ef_search: candidates HNSW visits per query (recall vs speed)")
    hnsw_m: int = Field(16, description="HNSW graph degree (pgvector's default)")
    hnsw_ef_construction: int = Field(64, description="HNSW build-time candidate list (pgvector's default)")
    maintenance_work_mem: str = Field("256MB", description="memory for building the HNSW indexes of one version")
    pool_size: int = Field(4, description="connections per process (one question uses one at a time)")
    connect_timeout_s: float = Field(5.0, description="give up connecting (or waiting for a pooled connection) after this")
    statement_timeout_s: float = Field(30.0, description="a question's query is cancelled after this")
    cache_rows: int = Field(4096, description="chunk rows (records, sentences) a serving process keeps at most")
    token_cache_rows: int = Field(512, description="chunk rows of late-interaction token vectors kept at most")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PEERQA_", env_nested_delimiter="__", extra="ignore")

    home: Path = Field(default_factory=Path.cwd,
                       description="the folder data paths default to: <home>/data/index, <home>/sources")
    index_dir: Path = Field(Path("data") / "index", description="where index versions live (default: <home>/data/index)")
    sources_dir: Path = Field(Path("sources"), description="default folder of source documents (default: <home>/sources)")
    cache_dir: Path | None = Field(None, description="parse and embedding caches; default: <index_dir>/cache")
    store_url: str = Field(
        "", repr=False,
        description="empty: the index folder serves; postgresql://...: the index lives in PostgreSQL with "
        "pgvector (index_dir is then the build's work folder and caches). May hold a password: never shown",
    )
    pg: PostgresSettings = Field(default_factory=PostgresSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    log_questions: bool = Field(False, description="write questions to logs (they may hold health details)")

    @model_validator(mode="before")
    @classmethod
    def _flat_llm_names(cls, data: Any) -> Any:
        """Also read PEERQA_LLM_PROVIDER, _BASE_URL, _MODEL, _API_KEY, _TIMEOUT_S (single underscore),
        the names operators are given; the nested PEERQA_LLM__X form wins when both are set."""
        if not isinstance(data, dict):
            return data
        flat = {
            key: os.environ[f"PEERQA_LLM_{key.upper()}"]
            for key in ("provider", "base_url", "model", "api_key", "timeout_s")
            if f"PEERQA_LLM_{key.upper()}" in os.environ
        }
        if flat:
            llm = data.get("llm")
            merged = dict(flat)
            if isinstance(llm, dict):
                merged.update(llm)
            elif isinstance(llm, LLMSettings):
                merged.update(llm.model_dump(exclude_unset=True))
            data = {**data, "llm": merged}
        return data

    @model_validator(mode="after")
    def _embedded_text_fits_the_model(self) -> Settings:
        """A chunk's context (a list's lead-in, a paragraph's opening) is embedded past the chunk
        bound: both together must fit what the model reads, or the passage's own end would be cut
        off unseen."""
        if self.chunking.max_tokens + self.chunking.lead_in_tokens > self.model.max_tokens:
            raise ValueError(
                f"chunking.max_tokens ({self.chunking.max_tokens}) + chunking.lead_in_tokens "
                f"({self.chunking.lead_in_tokens}) exceed model.max_tokens ({self.model.max_tokens}): "
                "lower one of the first two"
            )
        return self

    @model_validator(mode="after")
    def _under_home(self) -> Settings:
        """Relative data paths (the defaults among them) are read from `home`, made absolute once,
        so a child process or a later chdir sees the same folders."""
        home = self.home.expanduser().resolve()
        self.home = home
        if not self.index_dir.is_absolute():
            self.index_dir = home / self.index_dir.expanduser()
        if not self.sources_dir.is_absolute():
            self.sources_dir = home / self.sources_dir.expanduser()
        if self.cache_dir is not None and not self.cache_dir.is_absolute():
            self.cache_dir = home / self.cache_dir.expanduser()
        return self

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or (self.index_dir / "cache")

    def shaping(self) -> dict[str, object]:
        """The settings that decide what an index contains."""
        return {
            "pipeline_version": PIPELINE_VERSION,
            "model": self.model.name,
            "model_sha256": self.model.sha256,
            "chunking": self.chunking.model_dump(),
            "faiss_type": self.index.faiss_type,
            "token_vectors": self.index.token_vectors,
        }

    def index_hash(self) -> str:
        blob = json.dumps(self.shaping(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
