"""Locating a quote among a page's characters, a text source's passage in context, page numbers,
and the names and per-sentence studies of references."""

from __future__ import annotations

import pytest

from peerqa.app.page_view import _printed_number, match_spans, passage_in_context, quote_parts
from peerqa.ingest.references import CitationIndex, cited_in, parse_reference
from peerqa.records import Chunk

pytestmark = pytest.mark.unit

PAGE = ("48\r\nThese themes reinforce the need for train-\r\ning of all staff.\r\nThe question of the "
        "eﬀectiveness of peer support is an important one in terms of identifying what works.\r\n")


def test_a_quote_is_found_across_line_breaks_hyphens_ligatures_and_case():
    quote = "The question of the effectiveness of peer support is an important one in terms of identifying what works."
    spans, located = match_spans(PAGE, [quote, "These themes reinforce the need for training of all staff."])
    assert located == 2
    assert [PAGE[a:b] for a, b in spans] == [
        "These themes reinforce the need for train-\r\ning of all staff",
        "The question of the eﬀectiveness of peer support is an important one in terms of identifying what works",
    ]


def test_a_sentence_running_onto_the_next_page_marks_the_part_on_this_one():
    quote = ("The question of the effectiveness of peer support is an important one in terms of identifying "
             "what works best for whom and under what circumstances.")
    spans, located = match_spans(PAGE, [quote])
    assert located == 1 and PAGE[spans[0][0]:].startswith("The question")
    assert match_spans(PAGE, ["Nothing like this sentence appears on the page at all, anywhere."]) == ([], 0)


def test_quote_parts_split_a_citations_joined_sentences():
    assert quote_parts("First sentence. … Second one.") == ["First sentence.", "Second one."]


def test_printed_numbers_follow_ingest():
    assert _printed_number("46", "", 0) == 46
    assert _printed_number("", "Heading\nbody\n 12 ", 3) == 12
    assert _printed_number("iv", "text only", 3) == 4


def _chunk(n: int, start: int, text: str, source: str = "s") -> Chunk:
    return Chunk(id=f"c{n}", source_id=source, source_path="notes.txt", char_start=start, char_end=start + len(text),
                 text=text, embed_text=text)


def test_a_text_source_passage_is_shown_with_its_neighbours_and_no_repeated_overlap():
    a = _chunk(1, 0, "One. Two.")
    b = _chunk(2, 5, "Two. Three.")  # overlaps a by one sentence
    c = _chunk(3, 18, "Four.")
    other = _chunk(4, 0, "Elsewhere.", source="t")
    text, (start, end) = passage_in_context([c, other, b, a], b)
    assert text == "One. Two. Three.\n\nFour."
    assert text[start:end] == "Two. Three."


def test_study_names_keep_particles_apostrophes_and_second_authors():
    de_beer = parse_reference("de Beer, C., Nootboom, L., van Domburgh, L., de Vreugd, M., & Vermeiren, R. (2022). "
                              "A systematic review exploring youth peer support. European Child, 1-14.")
    assert de_beer.authors[:3] == ["de Beer", "Nootboom", "van Domburgh"] and de_beer.short() == "de Beer et al. (2022)"
    croft = parse_reference("Croft, B., & Ísvan, N. (2015). Impact of the 2nd story peer respite program. "
                            "Psychiatric Services, 66(6), 632-637.")
    assert croft.short() == "Croft & Ísvan (2015)"
    ohara = parse_reference("Ohara, C., Nishizono-Maher, A., & Hotta, M. (2023). Individualized peer support. "
                            "BioPsychoSocial medicine, 17(1), 11.")
    found, seen, resolved = CitationIndex([ohara, de_beer, croft]).find(
        "O'Hara et al. (2023) recruited families, as de Beer et al. (2022) advised (Croft & Isvan, 2015).")
    assert (seen, resolved) == (3, 3)
    assert [r.short() for r in found] == ["O'Hara et al. (2023)", "de Beer et al. (2022)", "Croft & Ísvan (2015)"]


def test_each_quoted_sentence_lists_only_the_studies_it_cites():
    smith = parse_reference("Smith, A., & Jones, B. (2020). Peer work. Journal, 1-2.")
    lee = parse_reference("Lee, C. (2019). Peer respite. Journal, 3-4.")
    refs = {smith.id: smith, lee.id: lee}
    cites = [smith.id, lee.id]
    assert cited_in(["Training helped (Smith & Jones, 2020)."], cites, refs) == [smith]
    assert cited_in(["Lee (2019) found less admission.", "Smith and Jones (2020) agreed."], cites, refs) == [lee, smith]
    assert cited_in(["No study is named here."], cites, refs) == []
    assert cited_in(["Training helped (Smith & Jones, 2020)."], [], refs) == []  # only what the passage links
