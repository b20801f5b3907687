"""The answer engine on the real review and model, through the Python API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.engine import Engine, Turn
from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine(review_index):
    settings, _ = review_index
    return Engine.from_settings(settings)


def test_fact_question_is_answered_from_the_training_section(engine):
    answer = engine.ask("What topics should peer support worker training cover?")
    assert not answer.abstained
    assert any("Training" in c.passage.chunk.section for c in answer.citations)
    assert all(c.passage.chunk.page_start for c in answer.citations)
    assert 2 <= len(answer.sentences) <= 6


def test_followup_keeps_the_topic(engine):
    history = [Turn("How is peer support used in forensic mental health services?")]
    answer = engine.ask("And in prisons?", history=history)
    sections = [p.chunk.section for p in answer.retrieved[:5]]
    assert any("Forensic" in s for s in sections)


def test_same_question_same_answer(engine):
    q = "What did the umbrella review find about peer support?"
    assert engine.ask(q).model_dump(exclude={"timings"}) == engine.ask(q).model_dump(exclude={"timings"})


def test_cli_jsonl_writes_one_object_per_question(review_index, tmp_path):
    settings, _ = review_index
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"id": "a", "question": "What is peer respite?"}) + "\n"
        + json.dumps({"id": "b", "question": "And for young people?", "context": [{"question": "What is peer respite?", "answer": ""}]})
        + "\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "ask", "--index-dir", str(settings.index_dir), "--jsonl", str(questions)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    first = rows[0]
    assert set(first) >= {"id", "question", "answer", "abstained", "citations", "retrieved", "timings"}
    assert len(first["retrieved"]) == 10 and set(first["timings"]) == {"retrieve_ms", "compose_ms", "total_ms"}
    cit = first["citations"][0]
    assert set(cit) >= {"n", "chunk_id", "source", "section", "page", "text", "quote", "studies"}
    assert cit["quote"].split(" … ")[0] in cit["text"]
    assert any("Respite" in r["section"] for r in first["retrieved"][:5])
