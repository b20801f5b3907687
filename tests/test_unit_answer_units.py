"""Answer units, question analysis, detail checks, the abstention decision and its calibration,
on a small text source with a fake embedder (no model)."""

from __future__ import annotations

import pytest

from peerqa.app.answer.analysis import analyse, answer_type, unit_of
from peerqa.app.answer.answerability import Thresholds, decide
from peerqa.app.answer.details import detail_near, has_type
from peerqa.app.answer.engine import Turn
from peerqa.app.answer.sentences import SentenceTable
from peerqa.app.answer.units import build_unit, opens_with_anaphor, quotes_balanced
from peerqa.eval import metrics
from peerqa.eval.calibration import calibrate, folds
from peerqa.index.bm25 import tokenize
from tests.fakes import engine_over_text

pytestmark = pytest.mark.unit

DOC = """Peer Support Review

Training

Charles et al. (2021) completed a review of training topics for peer workers across many programmes and countries.
In the Delphi consultation there was a strong consensus about the high importance of five of these 20 topics:

- Lived experience as an asset;

- Ethics;

- PSW well-being;

- PSW role focus on recovery; and

- Communication.

Peer support workers were more consistent about identifying the need for face-to-face training in every programme.

Barriers

Vandewalle et al. (2016) reviewed peer workers' perceptions of barriers to implementation in services. They organised the barriers into three categories that recur across the studies they included:

- The nature of the innovation and lack of role clarity;

- Other professionals and their negative attitudes;

- The organisational context and its resources.

Respite

Peer respite houses offer a short stay in a home-like setting run by peer workers as an alternative to hospital admission. Guests described the houses as "calm and safe places where people listen" and said they felt respected.
"""


@pytest.fixture
def engine(settings_factory):
    return engine_over_text(settings_factory(), "notes.txt", DOC)


def test_a_lead_in_takes_its_whole_list_and_an_item_brings_its_lead_in(engine):
    table: SentenceTable = engine.table
    lead = next(s for s in table.sentences if s.text.endswith("five of these 20 topics:"))
    assert lead.role == "lead_in"
    unit = build_unit(table, lead)
    items = [s.text for s in unit.sentences if s.role == "item"]
    assert items[0] == "- Lived experience as an asset;" and items[-1] == "- Communication." and len(items) == 5
    ethics = next(s for s in table.sentences if s.text == "- Ethics;")
    assert build_unit(table, ethics).anchor is lead  # an item alone answers nothing


def test_an_anaphor_takes_the_sentence_it_refers_back_to(engine):
    table = engine.table
    they = next(s for s in table.sentences if s.text.startswith("They organised the barriers"))
    unit = build_unit(table, they)
    assert unit.sentences[0].text.startswith("Vandewalle et al. (2016) reviewed")
    assert [s.role for s in unit.sentences].count("item") == 3
    assert opens_with_anaphor("They did, however, also identify some challenges.")
    assert opens_with_anaphor("However, these were small studies.")
    assert not opens_with_anaphor("This review covers peer support work.")
    assert not opens_with_anaphor("It is important to train managers too.")


def test_quotation_marks_pair_up_in_every_unit(engine):
    assert quotes_balanced('He said "yes" and left.') and not quotes_balanced('He said “yes and left.')
    for sent in engine.table.sentences:
        assert quotes_balanced(build_unit(engine.table, sent).text)


def test_question_analysis_reads_the_wording():
    assert answer_type("How many hours a week do HSE peer support workers work?") == "duration"
    assert answer_type("How many beds does a peer respite house have?") == "count"
    assert unit_of("How many beds does a peer respite house have?") == "beds"
    # the figure is of the phrase's first plural, whatever verb follows it
    assert unit_of("How many peer-run crisis phone lines operate in Ireland?") == "lines"
    assert unit_of("How many staff reported stress?") == "staff"
    assert unit_of("How many services offer peer support?") == "services"
    assert unit_of("What is the minimum age to work as a youth peer support worker?") == "age"
    # an answer names the subject up to what is counted, not the question's verb after it
    assert analyse("How many peer-run crisis phone lines operate in Ireland?").subject == "peer-run crisis phone lines"
    assert analyse("What is peer respite?").subject == analyse("What is peer respite?").focus
    assert answer_type("What's the starting salary in euro for a peer support worker?") == "amount"
    assert answer_type("When was the review carried out?") == "date"
    assert answer_type("What is peer respite?") == "definition"
    # terms written with &, + or / are still terms: "What is MA&R?" asks for a definition
    assert [answer_type(q) for q in ("What is MA&R?", "What is A&E?", "What does LGBTQ+ mean?")] == ["definition"] * 3
    assert analyse("What is MA&R?").focus == "MA&R"
    assert answer_type("What percentage of staff are peer workers?") == "percentage"
    assert answer_type("Which barriers did the Vandewalle review find?") == "list"
    assert answer_type("Does peer support reduce readmission?") == "effect"
    assert answer_type("Why do peer workers disclose their experience?") == "reason"
    a = analyse("How many hours a week do HSE peer support workers work?")
    assert a.asks_detail and a.focus == "HSE peer support workers"
    assert not analyse("Who should supervise peer workers?").asks_detail


def test_details_are_found_beside_their_focus_and_citation_years_do_not_count():
    assert has_type("date", "The review ran between July and November 2023.")
    assert not has_type("date", "Peer work helps (Smith et al., 2019).")
    assert not has_type("count", "As Smith (2019) found, peer work helps.")
    assert has_type("percentage", "Most (75%) were satisfied.")
    assert has_type("amount", "Each post costs €42,000 a year.")
    stems = set(tokenize("respite house"))
    assert detail_near("count", "The respite house has 12 beds.", stems, tokenize, unit="beds")
    assert not detail_near("count", "The respite house saved £4.76 on bed usage for every £1.", stems, tokenize, unit="beds")
    assert not detail_near("count", "Guests stayed in 2019 at the respite house.", stems, tokenize, unit="beds")


def test_the_decision_maps_signals_to_full_partial_or_none():
    t = Thresholds(min_similarity=0.25, missing_similarity=0.6, name_similarity=0.6, detail_similarity=0.4)
    assert decide({"best": 0.2}, t) == "none"
    assert decide({"best": 0.5, "missing_rare": 1.0}, t) == "none"
    assert decide({"best": 0.7, "missing_rare": 1.0}, t) == "full"
    assert decide({"best": 0.5, "missing_name": 1.0}, t) == "none"
    assert decide({"best": 0.7, "detail_asked": 1.0, "detail_best": 0.1}, t) == "partial"
    assert decide({"best": 0.7, "detail_asked": 1.0, "detail_best": 0.6}, t) == "full"


def test_calibration_learns_a_threshold_and_reports_held_out_figures():
    # Unanswerable questions have weak evidence (best < 0.4), answerable ones strong: a threshold
    # between them is learned, and the held-out folds see it too.
    examples = [({"best": 0.1 + 0.01 * i}, True) for i in range(20)]
    examples += [({"best": 0.5 + 0.01 * i}, False) for i in range(40)]
    start = Thresholds(min_similarity=0.15, missing_similarity=0.6, name_similarity=0.6, detail_similarity=0.4)
    out = calibrate(examples, start)
    assert out["current"]["abstention_recall"] < 1.0
    assert out["in_sample"]["abstention_recall"] == 1.0 and out["in_sample"]["wrong_abstention_rate"] == 0.0
    assert 0.3 <= out["in_sample"]["thresholds"]["min_similarity"] <= 0.5
    assert out["cross_validated"]["abstention_precision"] == 1.0
    assert sorted(set(folds(examples))) == [0, 1, 2, 3, 4]


def test_engine_answers_with_the_list_a_partial_answer_and_no_repeats(engine):
    engine.thresholds = Thresholds(min_similarity=0.0, missing_similarity=0.0, name_similarity=0.0,
                                   detail_similarity=0.3)
    answer = engine.ask("Which five training topics had strong consensus in the Delphi consultation?")
    assert not answer.abstained and answer.coverage == "full"
    assert "- Communication." in answer.answer and "- Ethics;" in answer.answer
    assert metrics.unfinished_lead_ins([[s.text for s in answer.sentences]]) == 0
    assert all(s.page is None and s.pages == [] for s in answer.sentences)  # a text file has no pages
    partial = engine.ask("How many beds do peer respite houses offer as an alternative to hospital admission?")
    assert partial.abstained and partial.coverage == "partial"
    assert partial.answer.startswith("The review does not give the number asked for.")
    assert partial.sentences[0].role == "notice" and partial.citations
    follow = engine.ask("And what else did they find about topics?", history=[Turn(answer.question, answer.answer)])
    shown = {s.text for s in answer.sentences}
    assert not any(s.text in shown for s in follow.sentences)


def test_answer_quality_metrics_count_what_they_say():
    units = [["They found three things:", "- one;", "- two."], ["Another study disagreed."]]
    assert metrics.lead_hit(["two"], units) == 1.0 and metrics.lead_hit(["disagreed"], units) == 0.0
    assert metrics.unfinished_lead_ins(units) == 0 and metrics.unfinished_lead_ins([["It lists these:"]]) == 1
    assert metrics.unbalanced_quotes([["He said “yes"]]) == 1
    assert metrics.dangling_anaphora(units) == 1 and metrics.dangling_anaphora([["Peer work helps."]]) == 0
    assert metrics.repeated_units(units, ["Another study disagreed. [2]"]) == 1


def test_a_table_line_is_shown_under_its_caption(settings_factory):
    table = "Table 1: Roles of peer workers\tWhat they do\nAdvocacy\tSpeaking up for service users in reviews\n"
    engine = engine_over_text(settings_factory(), "t.txt", "Roles\n\nPeer workers take many roles in services.\n\n" + table)
    rows = [s for s in engine.table.sentences if s.role == "row"]
    assert rows and all(build_unit(engine.table, r).sentences[0].role == "caption" for r in rows)
    assert build_unit(engine.table, rows[0]).sentences[0].text.startswith("Table 1")


FRAMED = """Inpatient Settings

Kuek et al. (2021) explored the barriers and facilitators of peer support in a large psychiatric hospital. Four facilitators were identified, including supportive figures and a defined role. Three barriers were identified: unclear roles, hostility from other staff and unsupportive working environments. In a second paper, Poremski et al. (2021) followed ten peer specialists for a year.

Values

- Non-directive - Professionals often prescribe the best course of action. Peer relationships involve no such claims but generate solutions together.

- Mutual - The experience of peers who give and gain support is never identical.
"""


def test_a_framing_sentence_takes_the_finding_the_question_is_after(settings_factory):
    from peerqa.app.answer.units import item_body, with_findings

    table = engine_over_text(settings_factory(), "framed.txt", FRAMED).table
    frame = next(s for s in table.sentences if s.text.startswith("Kuek et al."))
    def relevance(s):
        return 1.0 if "barriers were" in s.text else 0.1
    grown = with_findings(table, build_unit(table, frame), relevance)
    assert grown is not None and grown.anchor is frame
    texts = [s.text for s in grown.sentences]
    assert texts[0].startswith("Kuek") and texts[-1].startswith("Three barriers")  # up to the finding, no further
    assert not any("Poremski" in t for t in texts)  # the next study is not part of this one's findings
    early = with_findings(table, build_unit(table, frame), lambda s: 1.0 if "Four" in s.text else 0.1)
    assert early is not None and early.sentences[-1].text.startswith("Three barriers")  # on while they fit
    poremski = next(s for s in table.sentences if s.text.startswith("In a second paper"))
    assert with_findings(table, build_unit(table, poremski), relevance) is None  # the paragraph ends: nothing follows
    plain = next(s for s in table.sentences if s.text.startswith("Four facilitators"))
    assert with_findings(table, build_unit(table, plain), relevance) is None  # not a frame: cites no study
    item = next(s for s in table.sentences if s.text.startswith("- Non-directive"))
    body = item_body(table, item)
    assert body is not None and body.sentences[-1].text.startswith("Peer relationships involve")
    mutual = next(s for s in table.sentences if s.text.startswith("- Mutual"))
    assert item_body(table, mutual) is None  # a one-sentence item is already whole


def test_a_supporting_unit_never_opens_on_a_dangling_anaphor(engine):
    from peerqa.app.answer.compose import ScoredUnit, choose_units
    from peerqa.app.answer.units import Unit

    table = engine.table
    lead = next(s for s in table.sentences if s.text.startswith("Peer respite houses offer"))
    they = next(s for s in table.sentences if s.text.startswith("They organised the barriers"))
    other = next(s for s in table.sentences if s.text.startswith("Peer support workers were more consistent"))
    scored = [ScoredUnit(Unit([lead], lead), 3.0, 0.6, 0), ScoredUnit(Unit([they], they), 2.9, 0.6, 0),
              ScoredUnit(Unit([other], other), 2.0, 0.5, 1)]
    chosen = [u.unit.anchor.text for u in choose_units(scored)]
    assert chosen[0] == lead.text and other.text in chosen and they.text not in chosen


def test_the_authors_are_named_when_an_answer_quotes_what_they_recommend(settings_factory):
    doc = ("Crisis Support\n\nBologna and Pulice (2011) compared a peer-run diversion programme with an inpatient one. "
           "Services in the peer-run programme were more client-centred. People reported less stigma and more "
           "social involvement. The authors recommend extending peer support work to emergency departments.\n")
    table = engine_over_text(settings_factory(), "crisis.txt", doc).table
    anchor = next(s for s in table.sentences if s.text.startswith("The authors recommend"))
    unit = build_unit(table, anchor)
    assert unit.sentences[0].text.startswith("Bologna and Pulice (2011)") and unit.sentences[-1] is anchor


def test_a_contracted_or_quoted_question_finds_its_term_and_a_definition_is_recognised():
    from peerqa.app.answer.details import defines

    assert analyse("What's PREVAIL?").answer_type == "definition" and analyse("What's PREVAIL?").focus == "PREVAIL"
    assert analyse("What does it mean for peer support to be 'non-directive'?").focus == "non-directive"
    assert analyse("What did PSWs describe ('walking the tightrope')?").focus == "walking the tightrope"
    assert defines("Pfeiffer et al. (2019) piloted an intervention to reduce suicide risk (PREVAIL).", "PREVAIL")
    assert defines("Peer respite offers a short stay in a home-like setting.", "peer respite")
    assert not defines("PREVAIL has also been considered for use in veteran populations.", "PREVAIL")


def test_the_lead_paragraph_goes_on_before_anything_from_elsewhere(engine):
    from peerqa.app.answer.compose import ScoredUnit, choose_units
    from peerqa.app.answer.units import Unit

    table = engine.table
    lead = next(s for s in table.sentences if s.text.startswith("Peer respite houses offer"))
    nxt = table.neighbour(lead, +1)
    other = next(s for s in table.sentences if s.text.startswith("Peer support workers were more consistent"))
    assert nxt is not None and nxt.text.startswith("Guests described")
    scored = [ScoredUnit(Unit([lead], lead), 3.0, 0.6, 0), ScoredUnit(Unit([other], other), 2.9, 0.6, 1)]
    with_table = [u.unit.anchor.text for u in choose_units(scored, table=table)]
    assert with_table == [lead.text, nxt.text, other.text]  # read on, then the other passage
    assert [u.unit.anchor.text for u in choose_units(scored)] == [lead.text, other.text]
    # ... but never a sentence the conversation already showed, nor past the support limit
    from peerqa.app.answer.compose import normalised
    shown = {normalised(nxt.text)}
    assert nxt.text not in [u.unit.anchor.text for u in choose_units(scored, table=table, shown=shown)]
    assert [u.unit.anchor.text for u in choose_units(scored, max_support=1, table=table)] == [lead.text, nxt.text]
    # a next sentence that opens a list it does not hold, or a quotation it does not close, is not read on
    for broken in ("Guests described the houses as offering the following:", 'Guests said "calm and safe.'):
        nxt.text = broken
        assert broken not in [u.unit.anchor.text for u in choose_units(scored, table=table)]


def test_a_unit_reached_from_several_anchors_is_scored_by_its_best_one(engine):
    """A list reached from a weak lead-in and from a close item must not be dropped for the
    weak one, just because the weak anchor came first."""
    import numpy as np

    from peerqa.app.answer.compose import score_units

    table = engine.table
    lead_in = next(s for s in table.sentences if s.text.startswith("In the Delphi consultation"))
    item = next(s for s in table.sentences if s.text.startswith("- Ethics"))
    qv = table.vectors[lead_in.vector] / np.linalg.norm(table.vectors[lead_in.vector])
    a = analyse("What are the most important training topics?")
    terms = set(tokenize("training topics"))
    both = score_units(table, [(item, 3), (lead_in, 0)], qv, a, terms, set(), lambda _t: 1.0)
    alone = score_units(table, [(lead_in, 0)], qv, a, terms, set(), lambda _t: 1.0)
    listed = [u for u in both if u.unit.is_list]
    assert listed and abs(listed[0].score - next(u for u in alone if u.unit.is_list).score) < 1e-9
    assert listed[0].rank == 0  # the better anchor's rank, not the first-seen one


def test_each_part_of_a_two_part_question_gets_its_own_unit(engine):
    from peerqa.app.answer.aspects import answer_aspects, aspects
    from peerqa.app.answer.compose import ScoredUnit, term_overlap
    from peerqa.app.answer.units import Unit

    table = engine.table
    question = "Which training topics matter most for peer workers, and how did guests describe respite houses?"
    parts = aspects(question)
    assert len(parts) == 2 and "respite" in parts[1]
    units = [build_unit(table, s) for s in table.sentences if s.role in ("sentence", "lead_in")]

    def best_for(i: int, terms: set[str]) -> list[ScoredUnit]:  # by shared words: deterministic
        ranked = sorted(units, key=lambda u: -term_overlap(terms, u.text))
        return [ScoredUnit(u, term_overlap(terms, u.text), 0.5, 0) for u in ranked]

    lead_sent = next(s for s in table.sentences if s.text.startswith("Charles et al. (2021)"))
    lead = ScoredUnit(Unit([lead_sent], lead_sent), 3.0, 0.6, 0)  # it covers the first part's words
    out = answer_aspects(parts, [lead], best_for, lambda _t: 1.0)
    assert out[0] is lead and len(out) == 2 and out[1].unit.text.startswith("Guests described the houses")
    # an answer that already covers both parts takes nothing more
    guests = next(s for s in table.sentences if s.text.startswith("Guests described"))
    both = ScoredUnit(Unit([lead_sent, guests], lead_sent), 3.0, 0.6, 0)
    assert answer_aspects(parts, [both], best_for, lambda _t: 1.0) == [both]
    # nor a unit that opens on an anaphor it could not attach, nor one whose sentences are shown
    they = next(s for s in table.sentences if s.text.startswith("They organised"))
    assert answer_aspects(parts, [lead], lambda i, t: [ScoredUnit(Unit([they], they), 1.0, 0.5, 0)],
                          lambda _t: 1.0) == [lead]
    assert answer_aspects(parts, [lead], lambda i, t: [lead], lambda _t: 1.0) == [lead]
    assert aspects("What training do peer workers receive?") == []


def test_a_bare_citation_after_a_quotation_is_never_a_unit(settings_factory):
    import numpy as np

    from peerqa.app.answer.compose import score_units

    doc = ("Engagement\n\nRowe et al. (2017) trialled peer engagement specialists in four community teams. "
           "One participant said “they listened to me and I came back.” (Rowe et al., 2017, p. 45).\n\n"
           "At follow-up the peer group reported higher positive regard.\n")
    table = engine_over_text(settings_factory(), "rowe.txt", doc).table
    bare = [s for s in table.sentences if s.text.startswith("(Rowe et al., 2017, p. 45)")]
    anchors = [(s, 0) for s in table.sentences]
    for s, _r in anchors:  # aim the question at every sentence in turn: none may bring the bare citation alone
        qv = table.vectors[s.vector] / np.linalg.norm(table.vectors[s.vector])
        units = score_units(table, anchors, qv, analyse("What happened at follow-up?"), set(tokenize("follow")),
                            set(), lambda _t: 1.0)
        assert all(u.unit.text.strip() != (bare[0].text if bare else "") for u in units)
    assert bare, "the splitter keeps the citation as its own sentence (else this test tests nothing)"


def test_a_sentence_that_announces_a_number_of_themes_takes_them(settings_factory):
    from peerqa.app.answer.units import with_counted, with_findings

    doc = ("Teams\n\nEhrlich et al. (2020) evaluated a new community team that included peer workers. "
           "They identified three themes relating to the peer workers. The first was understanding the role. "
           "The second was the role becoming valued. The final theme was a more holistic way of working. "
           "Jones et al. (2019) surveyed other teams in another country.\n")
    table = engine_over_text(settings_factory(), "teams.txt", doc).table
    announce = next(s for s in table.sentences if s.text.startswith("They identified three themes"))
    unit = with_counted(table, build_unit(table, announce))
    texts = [s.text for s in unit.sentences]
    assert texts[0].startswith("Ehrlich et al.") and texts[-1].startswith("The final theme")  # three, then stop
    assert not any(t.startswith("Jones") for t in texts)
    # a study's frame grows up to the announcement (whatever is most relevant later on), then takes the themes
    frame = next(s for s in table.sentences if s.text.startswith("Ehrlich et al."))
    grown = with_findings(table, build_unit(table, frame), lambda s: 1.0 if "holistic" in s.text else 0.1)
    assert grown is not None and grown.sentences[-1] is announce
    assert [s.text for s in with_counted(table, grown).sentences] == texts
    # a sentence that names its things itself announces nothing
    named = build_unit(table, frame)
    assert with_counted(table, named) is named


CHARTER = ("Values\n\nStratford et al. (2019) identified the guiding values of mental health peer support as:\n\n"
           "- “Equity. Peer supporters view the people they support as their equals.\n\n"
           "- Hope. Peer supporters instil hope in others.\n\n"
           "- Trust. Peer supporters keep what they are told safe.\n\n"
           "- Shared Responsibility. Peer support is based on shared effort. "
           "Peers share the responsibility for recovery.” (p. 630).\n\n"
           "Later work built on these values.\n")


def test_an_items_quotation_that_runs_on_over_the_list_takes_no_sentence_of_that_item(settings_factory):
    table = engine_over_text(settings_factory(), "charter.txt", CHARTER).table
    lead = next(s for s in table.sentences if s.text.endswith("peer support as:"))
    texts = [s.text for s in build_unit(table, lead).sentences]
    # the quotation opened at "Equity" closes only at the end of the list: Equity's second sentence does
    # not close it, so it is not taken as part of the item; the closing sentences are
    assert "Peer supporters view the people they support as their equals." not in texts
    assert [t for t in texts if t.startswith("- ")] == ["- “Equity.", "- Hope.", "- Trust.", "- Shared Responsibility."]
    assert texts[-1].endswith("(p. 630).") and quotes_balanced(" ".join(texts))


def test_an_items_later_sentences_stay_in_its_bullet(settings_factory):
    from peerqa.app.answer.compose import ScoredUnit
    from peerqa.app.answer.replies import cited_answer
    from peerqa.app.cli_answer import answer_lines
    from peerqa.app.ui.chat import answer_markdown

    eng = engine_over_text(settings_factory(), "charter.txt", CHARTER)
    table = eng.table
    lead = next(s for s in table.sentences if s.text.endswith("peer support as:"))
    later = next(s for s in table.sentences if s.text.startswith("Later work"))
    units = [ScoredUnit(build_unit(table, lead), 1.0, 0.5, 0), ScoredUnit(build_unit(table, later), 0.5, 0.4, 0)]
    answer = cited_answer("What values?", units, [], eng.index.corpus, eng.row_of, eng.index.references)
    runs_on = [s.text for s in answer.sentences if s.continues]
    assert runs_on == ["Peer support is based on shared effort.", "Peers share the responsibility for recovery.” (p. 630)."]
    assert not any(s.continues for s in answer.sentences if s.role == "item" or s.unit == 1)
    md = answer_markdown(answer).split("\n")
    assert len(md) == 1 + 4 + 1  # the lead-in, four items, the other unit's sentence
    assert md[4].startswith("    - Shared Responsibility") and "Peers share the responsibility" in md[4]
    assert md[5].startswith("- Later work")
    lines = answer_lines(answer)
    assert lines[4].startswith("    Shared Responsibility.") and "Peers share the responsibility" in lines[4]
    assert lines[5].startswith("Later work")
