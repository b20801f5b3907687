"""Answer units: a sentence plus what it needs to stand alone.

- a lead-in ("... organised barriers into six categories:") takes its list items, even when they
  run on into the next chunk (items are read off the document-level sentence table);
- a sentence that opens with an anaphor ("They did, however, also identify ...") takes the
  sentence it refers back to;
- a quotation is never cut open: a unit with an unbalanced quote mark takes the next sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from peerqa.app.answer.details import cites_a_study
from peerqa.app.answer.sentences import ITEM_START, LEAD_IN_END, DocSentence, SentenceTable

MAX_ITEMS = 12
MAX_ITEM_WORDS = 45
MAX_QUOTE = 6  # sentences a unit may grow by to close a quotation  # a long item is shown up to its first sentence end within this many words
_ANAPHOR = re.compile(
    r"^(?:they|these|this|those|it|its|their|such|both|he|she|his|her|the latter|the former|the authors|"
    r"the study|the review|the trial|the report|the paper|the findings|the results)\b(?![- ]?(?:scoping )?review\b)"
    r"|^(?:however|furthermore|moreover|in addition|additionally|also|similarly|likewise|nevertheless|"
    r"in contrast|by contrast|conversely|again|instead|thus|therefore|hence)\b[,]?\s+(?:they|these|this|those|it|their|such)\b",
    re.I,
)
# "It is important to ...", "This review ..." and the like refer to nothing before them.
_NOT_ANAPHOR = re.compile(
    r"^(?:it (?:is|was|has been|may be|can be|should be|would be|will be) \w+ (?:to|that)\b|"
    r"(?:this|these) (?:scoping )?(?:review|report|document|section|chapter|paper)s?\b)",
    re.I,
)


def opens_with_anaphor(text: str) -> bool:
    t = ITEM_START.sub("", text.strip()).lstrip("\"“‘'(")
    return bool(_ANAPHOR.match(t)) and not _NOT_ANAPHOR.match(t)


_PARENS = re.compile(r"\([^()]*\)")


def _words_outside_parentheses(text: str) -> int:
    return len(_PARENS.sub(" ", text).split())


def is_bare_citation(text: str) -> bool:
    """A sentence that is only a parenthesised reference ("(Rowe et al., 2017, p. 45).")."""
    return "(" in text and _words_outside_parentheses(text) < 4


_URL = re.compile(r"<?(?:https?://|www\.)\S*|\S+\.(?:org|com|net|gov|edu|ie|uk|int)(?:/\S*)?>?", re.I)


def says_little(text: str) -> bool:
    """A sentence that tells the reader nothing by itself: a bare reference ("(Rowe et al., 2017,
    p. 45).") or a web address with a few words round it ("It is available online at: www....")."""
    if _words_outside_parentheses(text) < 4:
        return True
    return bool(_URL.search(text)) and len(_URL.sub(" ", text).split()) < 8


def with_antecedent(table: SentenceTable, sent: DocSentence) -> str:
    """The sentence's text, after the one before it when it opens with an anaphor ("They include
    18 qualitative studies" is read with the sentence that names the review)."""
    prev = table.neighbour(sent, -1) if opens_with_anaphor(sent.text) else None
    return f"{prev.text} {sent.text}" if prev is not None and prev.role != "item" else sent.text


def quotes_balanced(text: str) -> bool:
    return text.count("“") == text.count("”") and text.count('"') % 2 == 0


_STATEMENT = re.compile(r"^[A-Z][^:]{40,}[.!]$")


def is_name_line(text: str) -> bool:
    """Names and titles, not a statement ("- Ciara Glynn, Peer Support Worker, North Dublin and
    Lecturer, ... Recovery College."): fewer than three words of four letters that start lower-case."""
    return len(re.findall(r"(?<![\w'-])[a-z][a-z'-]{3,}", text)) < 3


def as_statement(item: DocSentence) -> DocSentence | None:
    """A list item that is a sentence in its own right ("- In 2022, MHER secured a specific grade
    code for ..."), read as that sentence: no list marker, no opening quote mark of a quotation that
    runs on over the list. None for a phrase ("- Empathic listening") that needs its lead-in."""
    text = ITEM_START.sub("", item.text.strip())
    if text[:1] in "“\"" and not quotes_balanced(text):
        text = text[1:]
    if not (_STATEMENT.match(text) and len(text.split()) >= 8 and quotes_balanced(text)) or is_name_line(text):
        return None
    return replace(item, text=text, role="sentence", start=item.end - len(text))


def is_unfinished_lead_in(text: str) -> bool:
    return bool(LEAD_IN_END.search(text.strip()))


@dataclass
class Unit:
    """Sentences shown together, in reading order; `anchor` is the one that was matched."""

    sentences: list[DocSentence]
    anchor: DocSentence

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def is_list(self) -> bool:
        return any(s.role == "item" for s in self.sentences)

    @property
    def ids(self) -> set[int]:
        return {s.idx for s in self.sentences}

    def words(self) -> int:
        return len(self.text.split())


def _items_after(table: SentenceTable, lead: DocSentence) -> list[DocSentence]:
    """The list a lead-in introduces: each item's first sentence (continuations of an item in the
    same paragraph are skipped), up to the first paragraph that is not an item."""
    items: list[DocSentence] = []
    cur = table.neighbour(lead, +1)
    while cur is not None and len(items) < MAX_ITEMS:
        if cur.role == "item":
            items.append(cur)
        elif cur.new_paragraph:
            break
        elif items and not quotes_balanced(items[-1].text) and len(items[-1].text.split()) < MAX_ITEM_WORDS \
                and quotes_balanced(f"{items[-1].text} {cur.text}"):
            items.append(cur)  # the item's quotation closes in this sentence (else it runs on past the list)
        cur = table.neighbour(cur, +1)
    return items


def build_unit(table: SentenceTable, anchor: DocSentence) -> Unit:
    """The unit around `anchor`: its antecedent, its list, its quotation's end."""
    sentences = [anchor]
    if anchor.role == "row":
        # A table line alone is a cell: show it under the table's caption.
        caption = _caption_of(table, anchor)
        return Unit([caption, anchor] if caption is not None else [anchor], anchor)
    if anchor.role == "item":
        # An item alone answers nothing: show it under its lead-in with the rest of the list.
        lead = _lead_in_of(table, anchor)
        if lead is not None:
            return build_unit(table, lead)
    first = anchor
    for _ in range(2):  # "They ..." after "These ..." after the sentence that names the study
        if not opens_with_anaphor(first.text):
            break
        prev = table.neighbour(first, -1)
        if prev is None or prev.role == "item":
            break
        sentences.insert(0, prev)
        first = prev
        if is_bare_citation(prev.text):  # "(WHO, 2019b, p. 1)." closes the quotation referred to
            quoted = table.neighbour(prev, -1)
            if quoted is None or quoted.role == "item":
                break
            sentences.insert(0, quoted)
            first = quoted
    if first is not anchor and _STUDY_ANAPHOR.match(anchor.text) and not cites_a_study(first.text):
        sentences[:0] = _back_to_frame(table, first, MAX_FRAME_WORDS - sum(len(s.text.split()) for s in sentences))
    if anchor.role == "lead_in":
        sentences.extend(_items_after(table, anchor))
    elif is_unfinished_lead_in(anchor.text):
        sentences.extend(_what_follows(table, anchor))
    _close_quotation(table, sentences)
    return Unit(sentences, anchor)


# Anaphors that point at a study ("The authors conclude ...", "They found ..."): the reader needs
# the sentence that names it.
_STUDY_ANAPHOR = re.compile(r"^(?:they|their|the authors|the study|the review|the trial|the report|the paper|"
                            r"the findings|the results)\b", re.I)
MAX_BACK_TO_FRAME = 3


def _back_to_frame(table: SentenceTable, first: DocSentence, budget: int) -> list[DocSentence]:
    """The sentences before `first`, in its paragraph, back to the one that names the study (within
    MAX_BACK_TO_FRAME sentences and `budget` words); nothing when there is none."""
    back: list[DocSentence] = []
    cur = first
    for _ in range(MAX_BACK_TO_FRAME):
        if cur.new_paragraph:
            return []
        prev = table.neighbour(cur, -1)
        if prev is None or prev.role != "sentence":
            return []
        back.insert(0, prev)
        if sum(len(s.text.split()) for s in back) > budget:
            return []
        if cites_a_study(prev.text):
            return back
        cur = prev
    return []


def _close_quotation(table: SentenceTable, sentences: list[DocSentence]) -> None:
    """Never cut a quotation open: a unit that closes a quote it did not open reaches back to the
    opening; one that opens a quote reaches forward to its end (within MAX_QUOTE sentences). A
    quotation longer than that stays unbalanced, and composition leaves the unit out."""
    def text() -> str:
        return " ".join(s.text for s in sentences)

    for _ in range(MAX_QUOTE):
        if quotes_balanced(text()):
            return
        t = text()
        opened_before = t.count("”") > t.count("“")
        step = -1 if opened_before else +1
        nxt = table.neighbour(sentences[0] if step < 0 else sentences[-1], step)
        if nxt is None:
            return
        if step < 0:
            sentences.insert(0, nxt)
        else:
            sentences.append(nxt)


def _what_follows(table: SentenceTable, lead: DocSentence, max_words: int = 80) -> list[DocSentence]:
    """The content a lead-in introduces when it is not printed as marked items (a run-in list, a
    table): the next sentences up to about `max_words` words, so a unit never ends on ":"."""
    out: list[DocSentence] = []
    cur = table.neighbour(lead, +1)
    while cur is not None and len(out) < 5:
        out.append(cur)
        if sum(len(s.text.split()) for s in out) >= max_words or not is_unfinished_lead_in(cur.text) and len(out) >= 2:
            break
        cur = table.neighbour(cur, +1)
    return out


# A framing sentence ("Kuek et al. (2021) explored the barriers ...") says what a study looked at;
# what it found comes in the sentences after it, up to the next study.
MAX_FINDING_STEPS = 5
MAX_FRAME_WORDS = 110


def with_findings(table: SentenceTable, unit: Unit, relevance: Callable[[DocSentence], float | None]) -> Unit | None:
    """The unit of a framing sentence grown by the findings the question is after: the following
    sentences of the same paragraph (before the next cited study) up to the most relevant one, and
    on while they fit in MAX_FRAME_WORDS; when they do not fit, the first and the most relevant.
    None when the unit is not a frame."""
    last = unit.sentences[-1]
    if unit.is_list or last.role != "sentence" or not cites_a_study(last.text):
        return None
    following: list[DocSentence] = []
    cur = table.neighbour(last, +1)
    while cur is not None and len(following) < MAX_FINDING_STEPS and not cur.new_paragraph \
            and cur.role in ("sentence", "lead_in") and not cites_a_study(cur.text):
        following.append(cur)
        if cur.role == "lead_in" or _ANNOUNCES.search(cur.text.strip()):
            break  # its list (or the sentences it announces, with_counted) ends what the unit can take
        cur = table.neighbour(cur, +1)
    scored = [(score, i) for i, s in enumerate(following) if (score := relevance(s)) is not None]
    if not scored:
        return None
    best = max(scored)[1]

    def fits(extra: list[DocSentence]) -> bool:
        return sum(len(s.text.split()) for s in extra) + unit.words() <= MAX_FRAME_WORDS

    # Every finding up to the best one, and on while they fit (a study's findings read best whole).
    between = following[: best + 1]
    for extra_sent in following[best + 1 :]:
        if not fits([*between, extra_sent]):
            break
        between.append(extra_sent)
    # Findings usually open right after the frame: keep the first one too when the best is further on.
    first_and_best = [following[0], following[best]] if best else [following[0]]
    extra = between if fits(between) else first_and_best if fits(first_and_best) else [following[best]]
    grown = Unit(unit.sentences + extra, unit.anchor)
    if grown.sentences[-1].role == "lead_in":
        grown.sentences.extend(_items_after(table, grown.sentences[-1]))
    _close_quotation(table, grown.sentences)
    return grown


def item_body(table: SentenceTable, item: DocSentence, max_words: int = 90) -> Unit | None:
    """A list item shown whole ("Non-directive - Because ... Peer relationships ..."): the item and
    the sentences that continue it in its paragraph. None when the item is a single sentence."""
    if item.role != "item":
        return None
    sentences = [item]
    cur = table.neighbour(item, +1)
    while cur is not None and cur.role == "sentence" and not cur.new_paragraph \
            and sum(len(s.text.split()) for s in sentences) < max_words:
        sentences.append(cur)
        cur = table.neighbour(cur, +1)
    if len(sentences) == 1:
        return None
    _close_quotation(table, sentences)
    return Unit(sentences, item)


def _caption_of(table: SentenceTable, row: DocSentence) -> DocSentence | None:
    cur = table.neighbour(row, -1)
    while cur is not None and cur.role == "row":
        cur = table.neighbour(cur, -1)
    return cur if cur is not None and cur.role == "caption" else None


def _lead_in_of(table: SentenceTable, item: DocSentence) -> DocSentence | None:
    cur = table.neighbour(item, -1)
    for _ in range(MAX_ITEMS * 3):
        if cur is None:
            return None
        if cur.role == "lead_in":
            return cur
        if cur.role != "item" and cur.new_paragraph:
            return None
        cur = table.neighbour(cur, -1)
    return None


# A sentence that announces a number of things in prose ("They identified three main themes.")
# whose items follow as sentences ("The first was ... The benefits ... There were some concerns
# ..."), not as a list after ":". The things must not be named in the same sentence (no comma).
_COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6}
_ANNOUNCES = re.compile(
    r"\b(two|three|four|five|six|[2-6])\s+(?:[a-z-]+\s+){0,2}(?:themes|sub-?themes|categories|factors|areas|"
    r"components|roles|types|domains|elements|principles|stages|steps|phases|barriers|facilitators|challenges|"
    r"outcomes|models|dimensions|strategies|benefits|aspects|ways|reasons|findings|recommendations|functions)"
    r"\b[^:;,]{0,80}\.$", re.I)
MAX_COUNTED_WORDS = 150


def with_counted(table: SentenceTable, unit: Unit) -> Unit:
    """The unit with the sentences its last sentence announces ("three themes" → the next three
    sentences of the paragraph, before the next cited study, within MAX_COUNTED_WORDS)."""
    last = unit.sentences[-1]
    m = _ANNOUNCES.search(last.text.strip()) if last.role == "sentence" and not unit.is_list else None
    if m is None:
        return unit
    taken: list[DocSentence] = []
    words = unit.words()
    cur = table.neighbour(last, +1)
    while cur is not None and len(taken) < _COUNTS[m.group(1).lower()] and not cur.new_paragraph \
            and cur.role == "sentence" and not cites_a_study(cur.text) \
            and words + len(cur.text.split()) <= MAX_COUNTED_WORDS:
        taken.append(cur)
        words += len(cur.text.split())
        cur = table.neighbour(cur, +1)
    if not taken:
        return unit
    sentences = unit.sentences + taken
    _close_quotation(table, sentences)
    return Unit(sentences, unit.anchor)
