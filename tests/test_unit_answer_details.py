"""The detail an answer must show: a fact stated in a list item, a figure with the question's own
words between it and its noun, figures asked for "today", and each part's unit held to the part's
best (a small text source with the fake embedder, no model)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from peerqa.app.answer.analysis import analyse
from peerqa.app.answer.answerability import Thresholds, decide
from peerqa.app.answer.compose import ScoredUnit, score_units, with_detail
from peerqa.app.answer.details import detail_near
from peerqa.app.answer.units import Unit, as_statement
from peerqa.index.bm25 import tokenize
from tests.fakes import engine_over_text

pytestmark = pytest.mark.unit

DOC = """Context

The office was set up in 2019 to bring two national projects together. In its plan it also reported:

- “Since 2017, a total of 30 Peer Support Workers and 11 Family Peer Support Workers have been employed.
- In 2022, the office secured a specific grade code for Peer Support Workers and Team Leaders.
- Working groups on strategy.”

Peer workers in the community hold a caseload of their own and meet people in their homes.
"""


@pytest.fixture
def table(settings_factory):
    return engine_over_text(settings_factory(), "plan.txt", DOC).table


def _sentence(table, start: str):  # type: ignore[no-untyped-def]
    return next(s for s in table.sentences if s.text.lstrip("-“ ").startswith(start))


def test_a_list_item_that_states_a_fact_reads_as_that_sentence(table):
    grade = _sentence(table, "In 2022, the office")
    assert grade.role == "item"
    alone = as_statement(grade)
    assert alone is not None and alone.role == "sentence" and alone.idx == grade.idx
    assert alone.text.startswith("In 2022, the office") and alone.end == grade.end
    # the opening quote mark of a quotation that runs on over the list is not shown with it
    since = as_statement(_sentence(table, "Since 2017"))
    assert since is not None and since.text.startswith("Since 2017") and "“" not in since.text
    # a phrase needs its lead-in, and a line of names and titles says nothing alone
    assert as_statement(_sentence(table, "Working groups")) is None
    names = dataclasses.replace(grade, text="- Ciara Glynn, Peer Support Worker, North Dublin and Lecturer, Recovery College.")
    assert as_statement(names) is None
    from peerqa.app.answer.units import is_name_line

    assert is_name_line(names.text) and not is_name_line(grade.text)


def test_the_item_is_a_unit_alone_for_a_fact_question_but_not_for_a_list_question(table):
    grade = _sentence(table, "In 2022, the office")
    anchors = [(s, 0) for s in table.sentences]
    qv = table.vectors[grade.vector] / np.linalg.norm(table.vectors[grade.vector])

    def alone_units(question: str, on: bool = True) -> list[ScoredUnit]:
        units = score_units(table, anchors, qv, analyse(question), set(tokenize("grade code")), set(),
                            lambda _t: 1.0, statement_items=on)
        return [u for u in units if len(u.unit.sentences) == 1 and u.unit.sentences[0].idx == grade.idx]

    assert alone_units("Did the office get a grade code?")
    assert not alone_units("Did the office get a grade code?", on=False)
    assert not alone_units("What did the office report in its plan? List them.")  # a list question: the whole list


def test_a_figure_may_stand_before_the_question_s_own_words_for_its_noun():
    text = "Since 2017, a total of 30 Peer Support Workers and 11 Family Peer Support Workers have been employed."
    asked = set(tokenize("family peer support workers employed"))
    focus = set(tokenize("employed"))
    assert detail_near("count", text, focus, tokenize, unit="workers", modifiers=asked)
    assert not detail_near("count", text, focus, tokenize, unit="workers")  # "11" is four words from "Workers"
    other = "Since 2017, 30 newly trained and salaried Peer Support Workers have been employed."
    assert not detail_near("count", other, focus, tokenize, unit="workers", modifiers=asked)


def test_a_figure_asked_for_today_is_at_best_a_partial_answer():
    a = analyse("How many peer support workers does the HSE employ in total today?")
    assert a.present and a.asks_present_detail and "today" not in a.focus.lower()
    assert "as it stands today" in a.detail_phrase
    assert not analyse("How many peer support workers has the HSE employed since 2017?").present
    assert not analyse("What do peer workers currently do in crisis teams?").asks_present_detail  # not a figure
    t = Thresholds(min_similarity=0.25, missing_similarity=0.6, name_similarity=0.6, detail_similarity=0.4)
    held = {"best": 0.7, "detail_asked": 1.0, "detail_best": 0.7}
    assert decide(held, t) == "full"
    assert decide({**held, "detail_now": 1.0}, t) == "partial"


def test_the_sentence_that_holds_the_detail_is_shown(table):
    since, home = _sentence(table, "Since 2017"), _sentence(table, "Peer workers in the community")
    lead = ScoredUnit(Unit([home], home), 3.0, 0.6, 0)
    holder = ScoredUnit(Unit([since], since), 2.0, 0.5, 1)
    assert with_detail([holder, lead], [lead], since.idx) == [lead, holder]
    assert with_detail([holder, lead], [lead], since.idx, first=True) == [holder, lead]
    assert with_detail([holder, lead], [lead, holder], since.idx) == [lead, holder]  # already shown
    assert with_detail([holder, lead], [lead, holder], since.idx, first=True) == [holder, lead]  # moved, not copied
    assert with_detail([lead], [lead], since.idx) == [lead]  # no unit holds it: nothing is made up


def test_a_part_s_unit_must_be_near_the_part_s_best(table):
    from peerqa.app.answer.aspects import answer_aspects

    since, home, grade = (_sentence(table, "Since 2017"), _sentence(table, "Peer workers in the community"),
                          _sentence(table, "In 2022, the office"))
    lead = ScoredUnit(Unit([since], since), 3.0, 0.6, 0)
    parts = ["How many peer workers were employed", "where do caseload visits happen"]
    best = ScoredUnit(Unit([home], home), 2.0, 0.5, 0)
    weak = ScoredUnit(Unit([grade], grade), 0.9, 0.3, 0)
    # the part's best is already the lead: the next one, far weaker, is off the part and not added
    assert answer_aspects(parts, [lead], lambda i, t: [lead, weak] if i else [lead], lambda _t: 1.0) == [lead]
    assert answer_aspects(parts, [lead], lambda i, t: [best, weak] if i else [lead], lambda _t: 1.0) == [lead, best]


def test_an_anaphor_after_a_bare_citation_takes_the_quotation_it_closes(settings_factory):
    from peerqa.app.answer.units import build_unit, is_bare_citation

    doc = ("Definitions\n\nThe WHO defines peer support groups as groups which “bring together people who have "
           "similar concerns so they can explore solutions together.” (WHO, 2019b, p. 1). These definitions raise "
           "an important point about the overlaps between the different forms of peer support.\n")
    table = engine_over_text(settings_factory(), "who.txt", doc).table
    these = _sentence(table, "These definitions raise")
    texts = [s.text for s in build_unit(table, these).sentences]
    assert texts[0].startswith("The WHO defines") and texts[-1].startswith("These definitions")
    assert any(is_bare_citation(t) for t in texts), "the splitter keeps the citation apart (else this tests nothing)"
    assert not is_bare_citation(texts[0]) and not is_bare_citation("(see p. 4) Peer workers were paid.")


def test_a_web_address_or_a_bare_reference_says_too_little_to_be_shown():
    from peerqa.app.answer.units import says_little

    assert says_little("It is available online at: www.centreformentalhe alth.org.uk/publications/guide 2.")
    assert says_little("(Rowe et al., 2017, p. 45).")
    assert not says_little("The toolkit is at www.hse.ie and sets out eight tools for managers, teams and peer workers.")
    assert not says_little("Peer workers were paid.")


def test_a_figure_in_a_sentence_that_opens_with_an_anaphor_is_read_with_its_antecedent(settings_factory):
    from peerqa.app.answer.details import closest_detail
    from peerqa.app.answer.query import content_words
    from peerqa.app.answer.units import with_antecedent

    doc = ("Barriers\n\nVandewalle et al. (2016) reviewed how peer workers saw the barriers to implementation. "
           "They include 18 qualitative studies, and organised the barriers into six categories.\n")
    table = engine_over_text(settings_factory(), "barriers.txt", doc).table
    they = _sentence(table, "They include 18")
    assert with_antecedent(table, they).startswith("Vandewalle et al. (2016) reviewed")
    assert with_antecedent(table, _sentence(table, "Vandewalle")).startswith("Vandewalle")
    a = analyse("How many studies did Vandewalle include?")
    focus = set(tokenize("vandewalle"))
    assert closest_detail(a, [(they, 0.5)], focus, 0.5)[0] is None  # alone it never names the review
    assert closest_detail(a, [(they, 0.5)], focus, 0.5, lambda s: with_antecedent(table, s))[0] is they
    assert "many" not in content_words("How many studies did they include?")
