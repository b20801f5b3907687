"""Structure that stays sane on any PDF (issue 17, item 2), on PDFs laid out the way real producers
lay them out (tests/pdfproducers.py: LaTeX, LibreOffice Writer, a word processor's export), and
on LaTeX lecture notes with hundreds of numbered theorem and definition boxes.

The rules under test are in ingest/heading_sanity.py: page furniture is not text, numbered labels
are not headings, nesting never goes deeper than the outline supports, and a source without a
usable outline gets flat sections (one a page when it has no headings at all).
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest

from peerqa.ingest.chunking import chunk_document
from peerqa.ingest.heading_sanity import is_label, page_furniture
from peerqa.ingest.loaders import load_source
from peerqa.ingest.structure import analyse
from peerqa.settings import ChunkingSettings
from tests import pdflatex
from tests import pdfproducers as producers
from tests.fakes import fake_count_tokens
from tests.pdfgen import make_pdf
from tests.test_unit_ingest import MINI_DOC

pytestmark = [pytest.mark.unit, pytest.mark.hostile]

LABEL_SECTION = re.compile(r"^(Definition|Theorem|Lemma|Proposition|Corollary|Example|Remark|Exercise|Figure|Table)\s+\d")


def _chunks(path: Path, **chunking):
    doc = analyse(load_source(path))
    return doc, chunk_document(doc, "src", path.name, ChunkingSettings(**chunking), fake_count_tokens)


def _sections(chunks) -> set[str]:
    return {" › ".join(c.section_path) for c in chunks}


def test_labels_are_recognised_and_headings_are_not():
    for label in ("Definition 2.3 (Group)", "THEOREM 4", "Lemma 1.2.3", "Figure 4: Uptake", "Table 2", "Example II",
                  "Proof.", "Proof", "Box 1: Key messages", "Exercise 12"):
        assert is_label(label), label
    for heading in ("Definitions and roles", "Training and Support", "Peer Respite", "Appendix 1", "Notes",
                    "Examples of practice", "Chapter 3", "Case civil"):
        assert not is_label(heading), heading


def test_lecture_notes_get_flat_sections_and_sane_chunks(tmp_path):
    path = pdflatex.lecture_notes_pdf(tmp_path / "notes.pdf")
    labels = pdflatex.lecture_notes_pdf.labels  # type: ignore[attr-defined]
    doc, chunks = _chunks(path)
    pages = len(load_source(path).pages)
    assert pages > 100 and labels >= 300  # a 100-page-plus document with hundreds of numbered boxes
    # Once: 27,377 chunks, median 4 characters, paths 105 levels deep. Now: flat, whole passages.
    assert max(len(c.section_path) for c in chunks) == 1
    assert len(chunks) <= 5 * pages
    assert statistics.median(len(c.text) for c in chunks) > 400
    sections = _sections(chunks)
    assert not [s for s in sections if LABEL_SECTION.match(s)]  # no "Definition 3.4" section
    assert {"Chapter 1: Sets and Functions", "1.1 Basic notions", "15.4 Main results"} <= sections
    # Running headers ("90 CHAPTER 12. TOPOLOGY", "12.2. EXAMPLES 91") are neither sections nor text.
    assert not [c for c in chunks if re.search(r"CHAPTER \d+\.|\d+\.\d+\. [A-Z]{4,}", c.text)]
    # The labels stay in the text, where a reader sees them.
    assert sum(len(re.findall(r"\b(Definition|Theorem|Lemma) \d+\.\d+", c.text)) for c in chunks) > 100
    # Chunks within the word-piece bound, each with its page.
    assert all(fake_count_tokens(c.embed_text) + 2 <= 220 + ChunkingSettings().lead_in_tokens and c.page_start
               for c in chunks)


@pytest.mark.parametrize(
    ("make", "expected", "furniture"),
    [
        (producers.libreoffice_report, {"1 Introduction", "2.1 Policy context", "4.2 Supervision", "6 Conclusion"},
         ["Page 1 of", "Page 3 of"]),
        (producers.word_export, {"Background", "Methods", "Uptake", "Experience of staff", "Recommendations"},
         ["service | 2", "service | 3"]),
        (pdflatex.latex_article, {"1 Introduction", "4 Results", "4.1 Length of stay", "4.2 Readmissions"},
         ["PEER WORKERS ON ACUTE WARDS"]),
    ],
    ids=["libreoffice", "word", "latex-article"],
)
def test_real_producers_layouts_give_sane_sections(tmp_path, make, expected, furniture):
    path = make(tmp_path / "doc.pdf")
    doc, chunks = _chunks(path)
    sections = _sections(chunks)
    assert expected <= sections, sections
    assert max(len(c.section_path) for c in chunks) == 1  # no usable outline: flat
    assert not [s for s in sections if LABEL_SECTION.match(s)]  # "Table 1:", "Figure 1:" are captions
    for line in furniture:  # running headers and footers are gone from the text
        assert not [c for c in chunks if line in c.text], line
    assert all(c.text.strip() for c in chunks)


def test_page_furniture_of_the_shipped_review_is_none():
    from tests.conftest import REVIEW_PDF

    assert page_furniture(load_source(REVIEW_PDF)) == set()


def test_an_extra_heading_is_never_the_child_of_a_sibling(tmp_path):
    text = MINI_DOC.replace(
        "PRISON WORK", "PEER SUPPORT GROUPS\n\nGroups met weekly in the wing.\n\nPRISON WORK"
    )
    path = tmp_path / "mini.txt"
    path.write_text(text, encoding="utf-8")
    paths = {" › ".join(b.section_path) for b in analyse(load_source(path)).body_blocks()}
    assert "Findings › Group Topic › Forensic Care › Peer Respite" in paths
    assert "Findings › Group Topic › Forensic Care › Peer Support Groups" in paths  # a sibling of Peer Respite
    assert not [p for p in paths if "Peer Respite › " in p]


def test_chained_title_case_lines_without_an_outline_stay_flat(tmp_path):
    """Without a contents page every heading found is top level: the old rule nested each under
    the one before ("Definition 1 › Definition 2 › ...")."""
    parts = ["Course Notes", ""]
    for n in range(1, 80):
        parts += [f"Topic Number {n}", "", f"Peer workers discussed topic {n} at length with the group."]
    path = tmp_path / "notes.txt"
    path.write_text("\n".join(parts), encoding="utf-8")
    doc = analyse(load_source(path))
    assert max(len(b.section_path) for b in doc.body_blocks()) == 1


def test_a_pdf_without_headings_gets_one_section_a_page(tmp_path):
    body = [f"Line {i} of running prose about peer workers, carers and services, with no heading at all," for i in range(30)]
    path = make_pdf(tmp_path / "plain.pdf", [list(body), list(body), list(body)])
    doc, chunks = _chunks(path)
    assert [c.section_path for c in chunks][0] == ["Page 1"]
    assert {c.section_path[0] for c in chunks} == {"Page 1", "Page 2", "Page 3"}
    assert all(c.page_start == int(c.section_path[0].split()[1]) for c in chunks)


def test_a_pdf_whose_headings_are_too_dense_gets_page_sections(tmp_path):
    # Every other line a short title-case "heading": labels in disguise, not an outline.
    lines = []
    for i in range(20):
        lines += [f"Short Caption {i}", f"Item {i} was counted in the audit and recorded in the register."]
    path = make_pdf(tmp_path / "dense.pdf", [lines[:40], lines[:40]])
    _doc, chunks = _chunks(path)
    assert {c.section_path[0] for c in chunks} <= {"Page 1", "Page 2"}


def test_fragments_merge_with_a_neighbour_or_are_dropped(tmp_path):
    text = MINI_DOC.replace("Findings are below.", "Findings are below. Peer workers were paid.\n\n(1.3)\n\nx")
    text = text.replace("A sub-heading that the contents page does not list.", "x = 2")
    path = tmp_path / "mini.txt"
    path.write_text(text, encoding="utf-8")
    doc = analyse(load_source(path))
    chunks = chunk_document(doc, "src", "mini.txt", ChunkingSettings(), fake_count_tokens)
    findings = [c for c in chunks if c.section_path == ["Findings"]]
    assert len(findings) == 1 and "(1.3)" in findings[0].text  # merged into the neighbour
    assert not [c for c in chunks if c.section_path[-1:] == ["Peer Respite"]]  # "x = 2" alone: noise
    assert [c for c in chunks if c.text == "Roles should be clear."]  # short, but a sentence: kept
    off = chunk_document(doc, "src", "mini.txt", ChunkingSettings(min_chunk_words=0), fake_count_tokens)
    assert [c for c in off if c.text == "x = 2"]


def test_a_deep_section_path_leaves_room_for_the_text():
    from peerqa.ingest.budget import bounded_header
    from peerqa.ingest.chunking import header_for

    path = [f"Level {i} heading with words" for i in range(40)]
    header = bounded_header(header_for(path), 220, fake_count_tokens)
    assert fake_count_tokens(header) <= 55 and header.startswith("Level 0") and "Level 39" in header
    short = header_for(["Findings", "Training"])
    assert bounded_header(short, 220, fake_count_tokens) == short
