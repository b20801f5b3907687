"""The answer engine with a fake embedder: validation, signposts, citations, follow-ups, filters."""

from __future__ import annotations

import subprocess
import sys

import pytest

from peerqa.app.answer.engine import Engine, Filters, QuestionError, Turn
from peerqa.app.answer.query import expand, prepare
from peerqa.prompts import PromptError, check_placeholders, messages
from tests.conftest import REPO
from tests.fakes import engine_over_text
from tests.test_unit_ingest import MINI_DOC

pytestmark = pytest.mark.unit


@pytest.fixture
def engine(settings_factory):
    return engine_over_text(settings_factory(), "mini.txt", MINI_DOC)


def test_bad_questions_are_refused_politely(engine):
    with pytest.raises(QuestionError, match="Please type a question"):
        engine.ask("  \t ")
    with pytest.raises(QuestionError, match="under 1000 characters"):
        engine.ask("peer " * 300)
    assert engine.ask("forensic\x00 peer\x07 support").question == "forensic peer support"


def test_crisis_requests_get_a_signpost_not_evidence(engine):
    answer = engine.ask("I want to kill myself, what should I do?")
    assert answer.abstained and answer.notice == "signpost" and not answer.citations
    assert "not a clinical or crisis service" in answer.answer
    # A research question about suicide is not a crisis request.
    assert engine.ask("What does the review say about suicide prevention?").notice != "signpost"


def test_answer_sentences_are_review_sentences_with_citations(engine):
    answer = engine.ask("How does forensic peer support help people leaving prison?")
    assert not answer.abstained
    assert answer.citations and "[1]" in answer.answer
    numbers = {c.n for c in answer.citations}
    for sentence in answer.sentences:
        assert sentence.citations and set(sentence.citations) <= numbers
        cited = next(c for c in answer.citations if c.n == sentence.citations[0])
        assert sentence.text in cited.passage.chunk.text
    forensic = next(c for c in answer.citations if "Forensic" in c.passage.chunk.section)
    assert {s.authors[0] for s in forensic.studies} >= {"Jones", "Smith"}
    assert engine.ask("How does forensic peer support help people leaving prison?").answer == answer.answer


def test_followups_fold_in_the_previous_question_and_abbreviations_expand():
    prepared = prepare("And in prisons?", [Turn("How does forensic peer support work?")], {})
    assert prepared.rewritten and "forensic" in prepared.standalone
    assert "forensic" in prepare("What about prisons?", [], {}).expanded
    assert expand("Do PSWs help in A&E?", {"PSW": "Peer Support Worker"}) == [
        "Peer Support Worker",
        "emergency department",
    ]
    standalone = prepare("What training do PSWs need?", [Turn("What is open dialogue?")], {})
    assert not standalone.rewritten


def test_a_short_question_the_sources_cannot_answer_alone_may_lean_on_the_last_turn():
    from peerqa.app.answer.query import could_follow_up

    history = [Turn("Can peers help people with schizophrenia take their medication?", "Adherence improved [1].")]
    assert not prepare("Did the gains last?", history, {}).rewritten  # read alone first
    forced = prepare("Did the gains last?", history, {}, force=True)
    assert forced.rewritten and forced.standalone.startswith("Can peers help") and "Adherence improved" in forced.standalone
    assert could_follow_up("Did the gains last?")
    assert not could_follow_up("What training do peer support workers in Irish mental health services receive?")
    assert not prepare("Did the gains last?", [], {}, force=True).rewritten  # nothing to lean on


def test_filters_limit_passages(engine):
    answer = engine.ask("peer support", filters=Filters(section="Findings › Group Topic"))
    assert answer.retrieved
    assert all(p.chunk.section.startswith("Findings › Group Topic") for p in answer.retrieved)
    none = engine.ask("peer support", filters=Filters(source="no-such-source"))
    assert none.abstained and not none.retrieved


def test_prompt_templates_are_validated():
    assert "{topic}" in messages()["abstain"]
    with pytest.raises(PromptError, match="unknown placeholder"):
        check_placeholders("abstain", "no {subject} here", {"topic"})


def test_cli_refuses_an_empty_question_with_exit_2():
    out = subprocess.run([sys.executable, "-m", "peerqa.app.cli", "ask", "   "], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2 and "Please type a question" in out.stderr


class _ShortestFirstReranker:
    """A high logit for the shortest passage it is shown, a low one for the rest: an order the fused
    ranking would not produce by itself."""

    def scores(self, query: str, texts: list[str]) -> list[float]:
        shortest = min(range(len(texts)), key=lambda i: (len(texts[i]), i))
        return [20.0 if i == shortest else -20.0 for i in range(len(texts))]


def test_a_configured_reranker_is_interpolated_into_the_top_of_the_pool(engine):
    plain = engine.retrieve("peer support prison", "peer support prison", 5)
    fused = engine.searcher.search("peer support prison", k=30, dense_query="peer support prison")
    depth = 3
    strong = engine.settings.retrieval.model_copy(update={"reranker_weight": 5.0, "reranker_depth": depth})
    settings = engine.settings.model_copy(update={"retrieval": strong})
    reranked = Engine(settings, engine.index, engine.embedder, reranker=_ShortestFirstReranker())
    top = reranked.retrieve("peer support prison", "peer support prison", 5)
    shortest = min(fused[:depth], key=lambda p: len(p.chunk.text))
    assert top[0].chunk.id == shortest.chunk.id  # the shortest of the top `depth` fused candidates
    assert plain[0].chunk.id != shortest.chunk.id  # the re-ranker, not the fusion, put it first
    gentle = settings.model_copy(update={"retrieval": strong.model_copy(update={"reranker_weight": 0.0})})
    unchanged = Engine(gentle, engine.index, engine.embedder, reranker=_ShortestFirstReranker())
    assert [p.chunk.id for p in unchanged.retrieve("peer support prison", "peer support prison", 5)] == \
        [p.chunk.id for p in plain]  # weight 0: the fused order


def test_a_missing_reranker_folder_is_a_clear_error(engine):
    settings = engine.settings.model_copy(
        update={"retrieval": engine.settings.retrieval.model_copy(update={"reranker": "/no/such/model"})}
    )
    with pytest.raises(FileNotFoundError, match="PEERQA_RETRIEVAL__RERANKER"):
        Engine(settings, engine.index, engine.embedder)


def test_the_top_passages_are_reordered_by_their_units_except_in_a_follow_up(engine, monkeypatch):
    import peerqa.app.answer.engine as engine_module

    calls: list[int] = []
    real = engine_module.reorder

    def spy(passages, scored, weight, depth):  # type: ignore[no-untyped-def]
        calls.append(len(passages))
        return real(passages, scored, weight, depth)

    monkeypatch.setattr(engine_module, "reorder", spy)
    first = engine.ask("How does forensic peer support help people leaving prison?")
    assert calls and first.citations
    calls.clear()
    engine.ask("And what challenges did they face?", history=[Turn(first.question, first.answer)])
    assert calls == []  # its shown units are left out of the scoring, so the order stays as retrieved
