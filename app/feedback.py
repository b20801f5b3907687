"""Staff feedback on answers (thumbs up/down and an optional comment), kept in a local SQLite file.

One row per answer, updated in place when the vote or comment changes. Exported as candidate
questions in the evaluation's JSONL format, for a curator to check and add evidence to.

The file lives beside the index folder (`<index_dir>/../feedback.sqlite`) so that it survives
index rebuilds (which prune old version folders) and follows `--index-dir`;
PEERQA_FEEDBACK_PATH points it elsewhere.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from peerqa.settings import Settings

Vote = Literal["up", "down"]
MAX_COMMENT_CHARS = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    answer_id     TEXT PRIMARY KEY,
    created       TEXT NOT NULL,
    updated       TEXT NOT NULL,
    question      TEXT NOT NULL,
    answer        TEXT NOT NULL,
    abstained     INTEGER NOT NULL,
    vote          TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    comment       TEXT NOT NULL DEFAULT '',
    context       TEXT NOT NULL DEFAULT '[]',
    section       TEXT NOT NULL DEFAULT '',
    citations     TEXT NOT NULL DEFAULT '[]',
    index_version TEXT NOT NULL DEFAULT ''
)
"""


def default_path(settings: Settings) -> Path:
    override = os.environ.get("PEERQA_FEEDBACK_PATH", "").strip()
    return Path(override) if override else settings.index_dir.resolve().parent / "feedback.sqlite"


@dataclass
class FeedbackEntry:
    answer_id: str
    question: str
    answer: str
    abstained: bool
    vote: Vote
    comment: str = ""
    context: list[dict[str, str]] = field(default_factory=list)  # earlier turns: {"question", "answer"}
    section: str = ""  # the section filter the question was asked with, if any
    citations: list[dict[str, Any]] = field(default_factory=list)  # {"n", "chunk_id", "section", "page"}
    index_version: str = ""
    created: str = ""
    updated: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FeedbackStore:
    """Safe to share between threads: every call opens its own short-lived connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A timeout rather than failing at once when two sessions vote at the same moment.
        with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
            yield db

    def save(self, entry: FeedbackEntry) -> None:
        """Insert the entry, or update the vote and comment of the answer's existing row."""
        if entry.vote not in ("up", "down"):
            raise ValueError(f"vote must be 'up' or 'down', not {entry.vote!r}")
        now = _now()
        with self._connect() as db:
            db.execute(
                """INSERT INTO feedback (answer_id, created, updated, question, answer, abstained, vote, comment,
                                         context, section, citations, index_version)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(answer_id) DO UPDATE SET vote = excluded.vote, comment = excluded.comment,
                                                        updated = excluded.updated""",
                (
                    entry.answer_id, now, now, entry.question, entry.answer, int(entry.abstained), entry.vote,
                    entry.comment[:MAX_COMMENT_CHARS], json.dumps(entry.context, ensure_ascii=False),
                    entry.section, json.dumps(entry.citations, ensure_ascii=False), entry.index_version,
                ),
            )

    def entries(self) -> list[FeedbackEntry]:
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM feedback ORDER BY created, answer_id").fetchall()
        return [
            FeedbackEntry(
                answer_id=r["answer_id"], question=r["question"], answer=r["answer"], abstained=bool(r["abstained"]),
                vote=r["vote"], comment=r["comment"], context=json.loads(r["context"]), section=r["section"],
                citations=json.loads(r["citations"]), index_version=r["index_version"], created=r["created"],
                updated=r["updated"],
            )
            for r in rows
        ]

    def get(self, answer_id: str) -> FeedbackEntry | None:
        return next((e for e in self.entries() if e.answer_id == answer_id), None)


def candidate(entry: FeedbackEntry) -> dict[str, Any]:
    """One line of the evaluation's JSONL format. Evidence, section and keywords stay empty: a
    curator fills them from the passages after checking the answer."""
    row: dict[str, Any] = {
        "id": f"fb-{entry.answer_id[:12]}",
        "question": entry.question,
        "answer": entry.answer,
        "evidence": [],
        "section": "",
        "type": "unanswerable" if entry.abstained else "fact",
        "keywords": [],
        "feedback": entry.vote,
        "comment": entry.comment,
    }
    if entry.context:  # a follow-up only makes sense with the turns before it (as in eval/questions.jsonl)
        row["context"] = entry.context
    return row


def export_jsonl(store: FeedbackStore, out: TextIO) -> int:
    """Write every entry as a candidate question; return how many."""
    n = 0
    for entry in store.entries():
        out.write(json.dumps(candidate(entry), ensure_ascii=False) + "\n")
        n += 1
    return n
