"""Unit tests of parsing, structure, references, chunking (fake tokenizer, no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from peerqa.ingest.chunking import chunk_document
from peerqa.ingest.designs import tag_designs
from peerqa.ingest.loaders import SourceError, decode_text, load_source
from peerqa.ingest.outline import is_caps_heading, parse_contents
from peerqa.ingest.references import CitationIndex, parse_reference, parse_references
from peerqa.ingest.sentences import split_sentences
from peerqa.ingest.structure import analyse
from peerqa.settings import ChunkingSettings
from tests.fakes import fake_count_tokens

pytestmark = pytest.mark.unit

MINI_DOC = """Mini Review

CONTENTS

Introduction.....\t1
Findings\t2
Group Topic\t2
Forensic Care\t2
Prison Work\t3
Possible implications for practice\t4
References\t5

INTRODUCTION

This review looks at peer support. It was written for testing (Smith et al., 2020).

FINDINGS

Findings are below.

FORENSIC CARE

Forensic peer support helps people leaving prison (Jones & Brown, 2019; Smith et al., 2020). Smith et al. (2020, pp. 8-9) ran a randomised controlled trial ($n = 590$).

PEER RESPITE

A sub-heading that the contents page does not list.

PRISON WORK

Prison peer workers were described by Green (2018) and by O'Neil and colleagues (O'Neil, Ray, Lee, et al., 2021).

There are a number of possible implications of this review for the practice of peer support.

Definitions and roles

Roles should be clear.

REFERENCES

- Smith, A., Jones, B., & Lee, C. (2020). Peer support in forensic care. *Journal of Peers*, 1(2), 3-4. <https://doi.org/10.1000/jp.2020.1>
- Jones, D., & Brown, E. (2019). Prison peers: a study. Prison Journal, 5, 1-9.
- Green, F. (2018). Working in prisons. Book Press.
- O'Neil, G., Ray, H., Lee, I., & Kim, J. (2021). Families and prisons. Family Journal, 2, 10-20.
"""


def _doc(tmp_path: Path, text: str = MINI_DOC, name: str = "mini.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return analyse(load_source(path))


def test_sentences_respect_academic_abbreviations():
    text = "Gillard et al. (2022) found gains. Repper et al. (2013, pp. 8-9) agreed. M. J. Norton wrote it."
    sents = [text[s:e] for s, e in split_sentences(text)]
    assert sents == [
        "Gillard et al. (2022) found gains.",
        "Repper et al. (2013, pp. 8-9) agreed.",
        "M. J. Norton wrote it.",
    ]


def test_contents_page_is_parsed_into_entries():
    lines = ["CONTENTS", "Glossary of Terms\t4", "Introduction.....\t5", "Training ...... 46", "", "Body text here."]
    start, end, entries = parse_contents(lines)
    assert (start, end) == (0, 3)
    assert [(e.title, e.page) for e in entries] == [("Glossary of Terms", 4), ("Introduction", 5), ("Training", 46)]


def test_caps_heading_detection():
    assert is_caps_heading("CAMHS/CHILDREN'S SERVICES")
    assert is_caps_heading("LGBTQ+ SUPPORT")
    assert not is_caps_heading("AND")
    assert not is_caps_heading("PSYCHOLOGY, 38(3), 259-270.")
    assert not is_caps_heading("Training and Support")


def test_structure_restores_lost_headings_and_nests_sections(tmp_path):
    doc = _doc(tmp_path)
    titles = {e.title: e for e in doc.outline}
    assert not titles["Group Topic"].found  # the text lost it
    assert titles["Group Topic"].level == 2 and titles["Forensic Care"].level == 3
    assert titles["Possible implications for practice"].level == 1
    paths = {" › ".join(b.section_path) for b in doc.body_blocks()}
    assert "Findings › Group Topic › Forensic Care" in paths
    assert "Findings › Group Topic › Forensic Care › Peer Respite" in paths
    # The lost top-level heading starts at the paragraph that names it.
    implication = [b for b in doc.body_blocks() if b.section_path == ["Possible implications for practice"]]
    assert implication and implication[0].text.startswith("There are a number of possible implications")
    assert "Possible implications for practice › Definitions and roles" in paths
    # Contents and reference list stay out of the body.
    assert all("REFERENCES" not in b.text and "Journal of Peers" not in b.text for b in doc.body_blocks())
    assert all(b.region != "body" for b in doc.blocks if "Introduction.....\t1" in b.text)


def test_references_are_parsed_with_doi_and_authors():
    ref = parse_reference(
        "Adams, W. E., & Lincoln, A. K. (2021). Barriers to and Facilitators of Implementing Peer Support. "
        "*Psychiatric services*, 72(6), 626-632. <https://doi.org/https://dx.doi.org/10.1176/appi.ps.201900627>"
    )
    assert ref.authors == ["Adams", "Lincoln"]
    assert ref.year == 2021
    assert ref.title.startswith("Barriers to and Facilitators")
    assert ref.venue.startswith("Psychiatric services")
    assert ref.doi == "10.1176/appi.ps.201900627"
    assert ref.short() == "Adams & Lincoln (2021)"


def test_in_text_citations_of_every_form_resolve(tmp_path):
    doc = _doc(tmp_path)
    refs = parse_references(doc.reference_lines)
    assert len(refs) == 4
    index = CitationIndex(refs)
    by_author = {r.authors[0]: r.id for r in refs}
    found, seen, resolved = index.find(
        "(Jones & Brown, 2019; Smith et al., 2020). Smith et al. (2020, pp. 8-9) said so, and Green (2018) too, "
        "with O'Neil and colleagues (O'Neil, Ray, Lee, et al., 2021)."
    )
    assert {r.id for r in found} == {by_author["Smith"], by_author["Jones"], by_author["Green"], by_author["O'Neil"]}
    assert seen == resolved == 5
    _, seen, resolved = index.find("Unknown et al. (1999) said nothing.")
    assert (seen, resolved) == (1, 0)


def test_chunks_fit_the_bound_and_carry_provenance(tmp_path):
    long_para = " ".join(f"Sentence number {i} talks about peer support work in forensic settings." for i in range(60))
    doc = _doc(tmp_path, MINI_DOC.replace("Findings are below.", long_para))
    settings = ChunkingSettings(max_tokens=60, overlap_sentences=1)
    chunks = chunk_document(doc, "src", "mini.txt", settings, fake_count_tokens)
    # the passage and its header fit the bound; only a context may use the room past it
    assert all(fake_count_tokens(c.embed_text.replace(c.context + "\n", "", 1)) + 2 <= 60 for c in chunks)
    assert all(fake_count_tokens(c.embed_text) + 2 <= 60 + settings.lead_in_tokens for c in chunks)
    assert any(c.context for c in chunks)
    findings = [c for c in chunks if c.section_path == ["Findings"]]
    assert len(findings) > 5
    # Whole sentences only, and a one-sentence overlap between neighbours.
    for a, b in zip(findings, findings[1:], strict=False):
        assert a.text.endswith(".") and b.text.startswith("Sentence number")
        assert a.text.split(". ")[-1].rstrip(".") in b.text
    for c in chunks:
        assert doc.text[c.char_start : c.char_end] == c.text
        assert c.embed_text.startswith(" › ".join(c.section_path))
    # Chunks never cross a section boundary.
    assert all("FORENSIC" not in c.text for c in chunks)


def test_an_overlong_sentence_is_split_only_then(tmp_path):
    giant = "word " * 300 + "end."
    doc = _doc(tmp_path, MINI_DOC.replace("Findings are below.", giant))
    chunks = chunk_document(doc, "src", "mini.txt", ChunkingSettings(max_tokens=80), fake_count_tokens)
    parts = [c for c in chunks if c.section_path == ["Findings"]]
    assert len(parts) >= 4
    assert all(fake_count_tokens(c.embed_text) + 2 <= 80 for c in parts)


def test_design_tags_and_sample_sizes():
    tags = tag_designs("A randomised controlled trial ($n = 590$) and a systematic review and meta-analysis.")
    assert {"RCT", "systematic review", "meta-analysis", "n=590"} <= set(tags)
    assert tag_designs("Nothing here.") == []


def test_text_decoding_handles_utf16_and_legacy_bytes():
    assert decode_text("Peer support – café".encode("utf-16")) == "Peer support – café"
    assert decode_text("café".encode("cp1252")) == "café"


def test_loader_refuses_empty_and_garbage_pdfs(tmp_path):
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        load_source(empty)
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"this is not a pdf at all" * 10)
    with pytest.raises(SourceError, match="not a readable PDF"):
        load_source(junk)
    with pytest.raises(SourceError, match="unsupported"):
        load_source(tmp_path / "x.docx")


def test_a_summary_heading_is_filed_under_the_part_it_sums_up():
    from peerqa.ingest.outline import summarised_part

    seen = [(1, ["Findings"]), (2, ["Findings", "Research on Effectiveness"]),
            (3, ["Findings", "Research on Effectiveness", "Cost Effectiveness"]),
            (2, ["Findings", "Specific Interventions"]), (3, ["Findings", "Specific Interventions", "Physical Health"])]
    assert summarised_part("Key Messages From the Effectiveness Literature", seen) == \
        ["Findings", "Research on Effectiveness"]
    assert summarised_part("Key Messages on Housing", seen) is None  # names no earlier part: stays where it is
    assert summarised_part("Effectiveness in Prisons", seen) is None  # not a summary heading


def test_a_numbered_item_keeps_its_number_and_its_text_together():
    text = "The research questions are:\n1. What are the key messages? and 2. What else?\n(ii) Another item. Next one."
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == ["The research questions are:", "1. What are the key messages? and 2. What else?",
                         "(ii) Another item.", "Next one."]
    plain = "There were 2. Then 3 more."
    assert [plain[s:e] for s, e in split_sentences(plain)] == ["There were 2.", "Then 3 more."]


def test_a_line_that_stops_on_an_abbreviation_does_not_end_its_paragraph():
    from peerqa.ingest.structure import _blocks_from_lines

    lines = ["In 2017 The Side by Side Consortium (made up of the McPin Foundation, MIND and the wider group of",
             "partners and St.",
             "George's, University of London) produced a toolkit.",
             "A new paragraph starts here."]
    blocks = _blocks_from_lines(lines, [1, 1, 1, 1], "body", ["Guidance"], "pdf")
    assert "St. George's, University of London) produced a toolkit." in blocks[0].text
    assert blocks[-1].text == "A new paragraph starts here." and len(blocks) == 2


def _list_doc(tmp_path: Path, lead: str):
    items = "\n\n".join(f"- Value number {i} means treating every person with respect and care." for i in range(12))
    text = MINI_DOC.replace("Findings are below.", f"Findings are below. {lead}\n\n{items}\n\nThat ends the list.")
    return _doc(tmp_path, text)


def test_a_passage_that_opens_inside_a_list_embeds_the_lists_lead_in(tmp_path):
    from peerqa.index.builder import bm25_text

    lead = "Stratford and colleagues, writing the international charter, identified these guiding values:"
    doc = _list_doc(tmp_path, lead)
    with_lead = chunk_document(doc, "src", "mini.txt", ChunkingSettings(max_tokens=60), fake_count_tokens)
    without = chunk_document(doc, "src", "mini.txt", ChunkingSettings(max_tokens=60, lead_in_tokens=0),
                             fake_count_tokens)
    # the passages themselves (text, spans, ids) are the same either way: only what is embedded differs
    assert [(c.id, c.text) for c in with_lead] == [(c.id, c.text) for c in without]
    inside = [c for c in with_lead if c.section_path == ["Findings"] and c.text.startswith("- Value number")]
    assert len(inside) >= 2, "the list should span several passages at this bound"
    for c in inside:
        assert c.context == lead and lead not in c.text
        assert c.embed_text == f"Findings\n{lead}\n{c.text}" and lead in bm25_text(c)
        assert fake_count_tokens(c.embed_text) + 2 <= 60 + ChunkingSettings().lead_in_tokens
        assert doc.text[c.char_start : c.char_end] == c.text
    assert all(c.context == "" and bm25_text(c) == f"{c.text} {' › '.join(c.section_path)}" for c in without)
    # a passage that opens at a paragraph's start has no context, even inside the list's section
    first = next(c for c in with_lead if c.section_path == ["Findings"])
    assert first.text.startswith("Findings are below.") and first.context == ""


def test_a_short_lead_in_takes_the_sentence_before_it(tmp_path):
    doc = _list_doc(tmp_path, "Christie (2016) summed up what peer supporters do in services. These include:")
    chunks = chunk_document(doc, "src", "mini.txt", ChunkingSettings(max_tokens=60), fake_count_tokens)
    leads = {c.context for c in chunks if c.text.startswith("- Value number")}
    assert leads == {"Christie (2016) summed up what peer supporters do in services. These include:"}


def test_settings_refuse_a_lead_in_the_model_could_not_read():
    from peerqa.settings import Settings

    with pytest.raises(ValueError, match="lead_in_tokens"):
        Settings(chunking={"max_tokens": 240, "lead_in_tokens": 32})
    assert Settings(chunking={"max_tokens": 240, "lead_in_tokens": 16}).chunking.lead_in_tokens == 16


def test_a_passage_that_opens_inside_a_paragraph_takes_the_paragraphs_opening_as_context(tmp_path):
    from peerqa.index.builder import bm25_text

    opening = "Ibrahim and colleagues conducted a systematic review of influences on implementation."
    rest = " ".join(f"They described influence number {i} as important for every service." for i in range(14))
    doc = _doc(tmp_path, MINI_DOC.replace("Findings are below.", f"Findings are below.\n\n{opening} {rest}"))
    on = chunk_document(doc, "src", "mini.txt", ChunkingSettings(max_tokens=60), fake_count_tokens)
    off = chunk_document(doc, "src", "mini.txt", ChunkingSettings(max_tokens=60, paragraph_lead_in=False),
                         fake_count_tokens)
    assert [(c.id, c.text) for c in on] == [(c.id, c.text) for c in off]  # the passages are the same
    inside = [c for c in on if c.text.startswith("They described")]
    assert len(inside) >= 2, "the paragraph should span several passages at this bound"
    for c in inside:
        assert c.context == opening and opening not in c.text
        assert c.embed_text == f"Findings\n{opening}\n{c.text}" and opening in bm25_text(c)
    # the passage holding the opening itself, and every passage with the setting off, has none
    assert all(c.context == "" for c in on if opening in c.text)
    assert all(c.context == "" and c.embed_text == f"Findings\n{c.text}" for c in off if c.text.startswith("They"))


def test_a_context_too_long_to_embed_is_still_read_by_bm25(tmp_path):
    from peerqa.index.builder import bm25_text

    opening = "Ibrahim and colleagues " + "carefully " * 60 + "reviewed implementation."
    rest = " ".join(f"They described influence number {i} as important for every service." for i in range(14))
    doc = _doc(tmp_path, MINI_DOC.replace("Findings are below.", f"Findings are below.\n\n{opening} {rest}"))
    chunks = chunk_document(doc, "src", "mini.txt", ChunkingSettings(max_tokens=80), fake_count_tokens)
    inside = [c for c in chunks if c.text.startswith("They described")]
    assert inside and all(c.context == opening for c in inside)
    full = [c for c in inside if fake_count_tokens(f"Findings\n{opening}\n{c.text}") + 2 > 80 + 32]
    assert full, "some passages should leave no room for the opening"
    assert all(c.embed_text == f"Findings\n{c.text}" for c in full)  # never cut to fit
    assert all(c.embed_text == f"Findings\n{opening}\n{c.text}" for c in inside if c not in full)
    assert all(opening in bm25_text(c) for c in inside)
