"""Does a text hold the kind of answer a question expects? Patterns per answer type.

Used twice: composition prefers units that hold the expected type near the focus, and the
answerability check asks whether the best evidence holds the detail at all (a number with a
fitting unit, a year, a proper name). Citation years ("Smith et al., 2016", "(2016)") and page
references are removed first, so they never count as the figure or date asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from peerqa.app.answer.analysis import QuestionAnalysis
from peerqa.app.answer.sentences import DocSentence
from peerqa.index.bm25 import tokenize

_CITATION = re.compile(
    r"\((?:[^()]*?\b(?:19|20)\d{2}[a-z]?(?:[,;][^()]*)?)\)|\b(?:et al\.?|and colleagues)\s*,?\s*\(?(?:19|20)\d{2}[a-z]?\)?"
    r"|,\s*(?:19|20)\d{2}[a-z]?\)|\bpp?\.\s*\d+(?:\s*[-–]\s*\d+)?"
)
_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
                 r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|hundred|hundreds|thousand|thousands|"
                 r"million|dozen|dozens|half|a third|a quarter|single|double|twice")
_NUM = rf"(?:\d[\d,.]*|\b(?:{_NUMBER_WORDS})\b)"
_TIME_UNIT = r"(?:minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|sessions?|semesters?|terms?|modules?)"
_MONTHS = r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"

def cites_a_study(text: str) -> bool:
    """Does the sentence name a study by author and year ("Kuek et al. (2021)", "(Otte, 2020)")?"""
    return bool(_CITATION.search(text))


PATTERNS: dict[str, re.Pattern[str]] = {
    # A count is a number that is not a year.
    "count": re.compile(rf"(?<![\d.,€£$])(?!(?:19|20)\d{{2}}\b){_NUM}(?!\s*%)(?!\s*per ?cent)", re.I),
    "amount": re.compile(rf"[€£$]\s*\d|\b\d[\d,.]*\s*(?:euros?|pounds?|dollars?|k\b)|\b(?:euros?|sterling|dollars?)\b|"
                         rf"\b(?:salary|salaries|wage|wages|paid)\b[^.]{{0,40}}{_NUM}", re.I),
    "percentage": re.compile(rf"{_NUM}\s*(?:%|per ?cent\b|percentage points?)|\b(?:majority|minority|half|third|quarter) of\b",
                             re.I),
    "ratio": re.compile(rf"\bratio\b|\b\d+\s*:\s*\d+\b|{_NUM}\s+(?:\w+\s+){{0,3}}(?:per|for every|to every)\s+{_NUM}?", re.I),
    "duration": re.compile(rf"{_NUM}[\s-]*(?:\w+[\s-]+)?{_TIME_UNIT}\b|\b(?:full|part)[\s-]time\b|\b(?:weekly|monthly|"
                           rf"daily|fortnightly|annually)\b", re.I),
    "date": re.compile(rf"\b(?:19|20)\d{{2}}\b|\b{_MONTHS}\b|\b(?:19|20)\d0s\b", re.I),
    "name": re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+(?:of|for|and|the|&)?\s*[A-Z][a-z]+)+|\b[A-Z]{2,}\b"),
    "definition": re.compile(r"\b(?:is|are|refers? to|means?|is defined as|are defined as|describes?|involves?|"
                             r"can be described as|is known as|is a|are an?)\b", re.I),
    "list": re.compile(r"[;:]|\b(?:include|includes|including|such as|namely)\b"),
    "effect": re.compile(r"\b(?:found|find|finds|showed|shows|shown|reported|reports|improv\w*|reduc\w*|increas\w*|"
                         r"decreas\w*|significant\w*|effective\w*|associated|benefit\w*|outcomes?|no difference|"
                         r"evidence|effects?|impact\w*|lower|higher|better|worse)\b", re.I),
    "reason": re.compile(r"\b(?:because|due to|as a result|in order to|so that|reasons?|rationale|aims? to|"
                         r"led to|driven by|since)\b", re.I),
    "method": re.compile(r"\b(?:by|through|using|via|should|can|recommend\w*|approach\w*|involv\w*|steps?)\b", re.I),
}


def without_citations(text: str) -> str:
    return _CITATION.sub(" ", text)


# "How much training did they get?" is answered by a duration as often as by a count.
PATTERNS["count"] = re.compile(PATTERNS["count"].pattern + "|" + PATTERNS["duration"].pattern, re.I)


def defines(text: str, focus: str) -> bool:
    """Does the sentence define the focus term: "X is / are / refers to / means ...", "... (X)",
    "X (its expansion)", "known as X"? Without a focus, any "is / are / refers to" counts."""
    if not focus:
        return has_type("definition", text)
    term = re.escape(focus.strip())
    pattern = (rf"\b{term}\b['’]?s?\s*(?:\([^)]*\)\s*)?,?\s*(?:is|are|was|were|refers? to|means?|describes?|involves?|"
               rf"can be (?:described|defined|understood) as|is defined as|offers?|provides?)\b"
               rf"|\({term}\)|\b{term}\s*\(|\b(?:known|referred to|called|termed) as\s+(?:an?\s+|the\s+)?[\"'“‘]?{term}\b")
    return bool(re.search(pattern, without_citations(text), re.I))


def has_type(answer_type: str, text: str) -> bool:
    pattern = PATTERNS.get(answer_type)
    return bool(pattern and pattern.search(without_citations(text)))


def detail_near(answer_type: str, text: str, focus_stems: set[str], tokenize, unit: str = "",  # type: ignore[no-untyped-def]
                window: int = 12, closest: bool = False, modifiers: frozenset[str] | set[str] = frozenset()) -> bool:
    """The detail of `answer_type` about the focus: within `window` words of a focus word, and, when
    the question names what the figure is of ("how many beds", "how many minutes"), a number right
    beside that word (a fitting unit: "12 beds", "beds: 12", "twelve-bed") in a sentence that also
    names something else of the focus. `closest` marks the sentence nearest the question in meaning:
    it may hold the detail without repeating the focus words (a date question answered in other
    words), but never without the fitting unit. `modifiers` (the question's word stems) may stand
    between the number and its unit."""
    pattern = PATTERNS.get(answer_type)
    if pattern is None:
        return False
    clean = without_citations(text)
    words = clean.split()
    if not words:
        return False
    unit_stems = set(tokenize(unit))
    stems_of = [set(tokenize(w)) for w in words]
    if unit_stems:
        others = focus_stems - unit_stems
        if others and not any(others & st for st in stems_of):
            return False
        anchors = [i for i, st in enumerate(stems_of) if unit_stems & st]
        # "12 beds", "twelve-bed", "22 weekly sessions": the number just before its unit, or
        # before words the question itself puts before it ("11 Family Peer Support Workers").
        for m in pattern.finditer(clean):
            pos = len(clean[: m.start()].split())
            if any(0 <= i - pos <= 2 or (i > pos and all(stems_of[j] and stems_of[j] <= modifiers
                                                          for j in range(pos + 1, i)))
                   for i in anchors):
                return True
        return False
    else:
        anchors = [i for i, st in enumerate(stems_of) if focus_stems & st] if focus_stems else []
    if not anchors:
        return not unit_stems and closest and bool(pattern.search(clean))
    for m in pattern.finditer(clean):
        pos = len(clean[: m.start()].split())
        if any(abs(pos - i) <= window for i in anchors):
            return True
    return False


def closest_detail(analysis: QuestionAnalysis, scored: list[tuple[DocSentence, float]], focus_stems: set[str],
                   best: float, read: Callable[[DocSentence], str] = lambda s: s.text) -> tuple[DocSentence | None, float]:
    """The sentence nearest the question (and its cosine) that holds the detail `analysis` asks
    for beside its focus; (None, 0.0) when none does. `scored`: (sentence, cosine) pairs; `read`
    gives the text a sentence is judged on (with the sentence its anaphor refers back to)."""
    asked = set(tokenize(" ".join(analysis.focus_words)))
    found: DocSentence | None = None
    found_sim = 0.0
    for sent, sim in scored:
        if sim > found_sim and detail_near(analysis.answer_type, read(sent), focus_stems, tokenize, analysis.unit,
                                           closest=sim >= best - 0.02, modifiers=asked):
            found, found_sim = sent, sim
    return found, found_sim
