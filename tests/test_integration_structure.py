"""Section labels of the shipped review checked against its contents page.

CONTENTS lists every contents-page entry (References aside) with the path a reader expects and
the words its own text opens with, read off the PDF by hand; an entry with no text of its own
(a group heading) has None and is checked through its children. Every passage from an entry's
opening up to the next entry's must carry that entry's path (or a sub-section of it), so a
passage filed under the wrong parent, or an entry with no passages, fails.

EXTRAS are headings the contents page does not list but whose place the text makes plain:
"Key Messages From the Effectiveness Literature" sums up the whole effectiveness part.
"""

from __future__ import annotations

import pytest

from peerqa.app.runtime import open_index
from peerqa.records import SECTION_SEP, Chunk

pytestmark = pytest.mark.integration

F, DVR, DI, RE, SI, CIDS, SS = (
    "Findings", "Definitions, Values and the Role", "Development and Implementation", "Research on Effectiveness",
    "Specific Interventions", "Crisis/Inpatient/Discharge Support", "Specific Services",
)
IRL = "Possible implications for developments in Ireland"
CONTENTS: list[tuple[tuple[str, ...], str | None]] = [
    (("Glossary of Terms",), "BPD Borderline Personality Disorder"),
    (("Introduction",), "This scoping review of the international literature"),
    (("Context",), "There has already been considerable work completed"),
    (("Overview of the Report",), "It is important to clarify the scope"),
    (("Methodology",), None),
    (("Methodology", "Research Aims and Questions"), "As mentioned in the Introduction, the aims"),
    (("Methodology", "Rationale for using the Scoping Review Approach"), "A scoping review was identified"),
    (("Methodology", "Inclusion Criteria"), "The inclusion and exclusion criteria were decided"),
    (("Methodology", "Search Strategy"), "For this scoping review, four databases"),
    (("Methodology", "Selecting the Evidence"), "Screening was conducted independently"),
    (("Methodology", "Data Extraction"), "The database searches identified a high number"),
    (("Methodology", "Analysis of the Evidence"), "The key themes from across the included sources"),
    (("Methodology", "Interviews to Inform the Scoping Review"), "In addition to the literature searches"),
    ((F,), None),
    ((F, "Search Results"), "The PRISMA (Preferred Reporting Items"),
    ((F, "Description of Included Studies"), "Each of the included studies were labelled"),
    ((F, DVR), None),
    ((F, DVR, "Definitions"), "As mentioned in the Introduction, there is a range of relevant terms"),
    ((F, DVR, "Values"), "There are a number of statements on the values"),
    ((F, DVR, "The Role of the Peer Support Worker"), "Watson (2019) provides an overview"),
    ((F, DVR, "Guidance and Toolkits"), "In addition to the HSE's (2021) toolkit"),
    ((F, DI), "The guidance and toolkits to inform the effective development"),
    ((F, DI, "Development and Implementation Including Complexities and Enablers"),
     "There are already a number of reviews of the literature"),
    ((F, DI, "Experiences of Peer Support Workers"), "The experiences of peer support workers are important"),
    ((F, DI, "Perceptions of others about Peer Support Work"), "A theme within the development and implementation"),
    ((F, DI, "Recruitment"), "An important aspect of the available guidance"),
    ((F, DI, "Training"), "The importance of training for peer support workers"),
    # The heading is lost from the text (its contents page, p. 51, is a picture); the part opens
    # on p. 49 with the question of effectiveness, Lloyd-Evans' three categories and how roles vary.
    ((F, RE), "The question of the effectiveness of peer support is an important one"),
    ((F, RE, "Peer Support in General Mental Health Services"), "A recent 'umbrella' review"),
    ((F, RE, "Cost Effectiveness"), "The research on the cost-effectiveness of peer support"),
    ((F, SI), None),
    ((F, SI, "Decision-Making and Advance Care Planning"), "Cleary and colleagues"),
    ((F, SI, "Open Dialogue"), "The Open Dialogue (OD) model"),
    # A group whose first passages sit in a sub-section the contents page does not list.
    ((F, SI, CIDS), "Many people experiencing a mental health crisis"),
    ((F, SI, "Suicide Prevention"), "Two scoping reviews have focused attention"),
    ((F, SI, "Medication"), "A single study using a quasi-experimental"),
    ((F, SI, "Activity/Employment"), "Engaging in meaningful and active employment"),
    ((F, SI, "Physical Health"), "The physical health of people with mental health problems"),
    ((F, SS), None),
    ((F, SS, "Perinatal"), "Considerable work has been undertaken by the Scottish Government"),
    ((F, SS, "CAMHS/Children’s Services"), "Child and Adolescent Mental Health Services (CAMHS) are under"),
    ((F, SS, "Youth Peer Support"), "Simmons et al. (2023) carried out a systematic review"),
    ((F, SS, "Family Peer Support"), "Families with children or young people"),
    ((F, SS, "Children of Parents with Mental Illness"), "Reducing stigma is an important consideration"),
    ((F, SS, "Early Intervention"), "Chien and colleagues (2022) tested"),
    ((F, SS, "LGBTQ+"), "The LGBTQ+ community are disproportionately"),
    ((F, SS, "Migrants"), "In our conversations with experts"),
    ((F, SS, "Eating Disorders"), "How best to involve people with lived experience"),
    ((F, SS, "Forensic"), "Forensic peer support involves trained peer specialists"),
    ((F, SS, "Personality Disorder"), "Barr, Townsend, and Grenyer (2020)"),
    ((F, SS, "Substance Use"), "The evidence base for substance use peer support"),
    ((F, SS, "Trauma/PTSD"), "In the wake of the devastating attacks"),
    ((IRL,), "There are a number of possible implications of the findings"),
]
EXTRAS: list[tuple[tuple[str, ...], str]] = [
    ((F, RE, "Key Messages From the Effectiveness Literature"), "There is some evidence to suggest that peer support"),
]


def _norm(text: str) -> str:
    return " ".join(text.replace("’", "'").split())


def label_check(chunks: list[Chunk]) -> tuple[int, int, list[str]]:
    """(headings labelled right, headings, what is wrong): the contents entries and EXTRAS. They are checked in reading
    order; each one's range runs from the passage holding its opening words to the next opening."""
    body = sorted((c for c in chunks if c.section_path and c.section_path[0] != "References"),
                  key=lambda c: c.char_start)
    starts: list[tuple[int, tuple[str, ...], bool]] = []  # (row in body, expected path, is a contents entry)
    problems: list[str] = []
    missing: set[tuple[str, ...]] = set()
    for path, opening in [(p, o) for p, o in CONTENTS if o] + [(p, o) for p, o in EXTRAS]:
        row = next((i for i, c in enumerate(body) if _norm(opening) in _norm(c.text)), None)
        if row is None:
            problems.append(f"{SECTION_SEP.join(path)}: no passage holds its opening words")
            missing.add(path)
        else:
            starts.append((row, path, (path, opening) in CONTENTS))
    starts.sort()
    wrong: set[tuple[str, ...]] = set(missing)
    for k, (row, path, _is_entry) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(body)
        for c in body[row:end] or body[row : row + 1]:
            if tuple(c.section_path[: len(path)]) != path:
                wrong.add(path)
                problems.append(f"{SECTION_SEP.join(path)}: p. {c.page_start} passage labelled {c.section!r}: "
                                f"{c.text[:60]!r}")
    # A group heading is right when each of its children is, and at least one child has passages.
    entries = [p for p, _o in CONTENTS]
    for path, opening in CONTENTS:
        if opening is None:
            children = [p for p in entries if p[: len(path)] == path and len(p) > len(path)]
            if not children or any(ch in wrong for ch in children):
                wrong.add(path)
    headings = entries + [p for p, _o in EXTRAS]
    right = sum(1 for p in headings if p not in wrong)
    return right, len(headings), problems


def test_every_contents_entry_has_its_passages_under_the_right_parent(review_index):
    settings, _ = review_index
    index = open_index(settings)
    right, total, problems = label_check(index.chunks)
    print(f"contents headings labelled right: {right}/{total} ({right / total:.1%})")
    assert problems == [] and right == total


def test_the_effectiveness_part_opens_on_page_49_and_its_key_messages_sum_it_up(review_index):
    settings, _ = review_index
    index = open_index(settings)
    by_text = {c.id: c for c in index.chunks}
    lloyd = [c for c in by_text.values() if "Lloyd-Evans et al. (2014) usefully describe three" in c.text]
    roles = [c for c in by_text.values() if "roles, responsibilities and activities of peer support workers may" in c.text]
    mechanisms = [c for c in by_text.values() if "specific mechanisms of action for peer support work" in c.text]
    for found in (lloyd, roles, mechanisms):
        assert found and all(c.section_path == [F, RE] for c in found), [c.section for c in found]
    assert lloyd[0].page_start == 49
    key = [c for c in by_text.values() if "The effectiveness of peer workers appears to be enhanced" in c.text]
    assert key and all(c.section_path == [F, RE, "Key Messages From the Effectiveness Literature"] for c in key)
    # Training keeps its own passages, up to its last one on p. 49.
    training = [c for c in by_text.values() if c.section_path == [F, DI, "Training"]]
    assert any("These themes reinforce the need and potential benefits for training" in c.text for c in training)
    assert not any("effectiveness of peer support is an important one" in c.text for c in training)
