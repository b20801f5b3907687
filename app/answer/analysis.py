"""Question analysis: what kind of answer a question expects, and what it is about (its focus).

Rules on the question's wording only (never on answers): the first rule that matches decides.
Detail types (a figure, a date, a name or a place) are the ones the answerability check can
verify in the evidence; the others steer composition (a list question wants the whole list, a
definition wants "X is ...", an effect wants a finding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The details the answerability check can look for in the evidence (a number with a fitting unit,
# a year, a proper name); "person" (who ...?) and "place" are often answered by a role or a setting.
DETAIL_TYPES = ("count", "amount", "percentage", "ratio", "duration", "date", "name")
DETAIL_WORDS = {
    "count": "the number asked for",
    "amount": "the amount or cost asked for",
    "percentage": "the percentage asked for",
    "ratio": "the ratio asked for",
    "duration": "the duration asked for",
    "date": "the date asked for",
    "name": "the name asked for",
}

_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("percentage", re.compile(r"\b(what|which) (percentage|proportion|share|fraction)\b|\bhow many per ?cent\b|"
                              r"\bpercentage of\b|\bwhat per ?cent\b|%|\b(dropout|drop-out|attrition|retention|turnover|"
                              r"response|success|uptake|completion) rates?\b")),
    ("ratio", re.compile(r"\bratio\b|\bhow many \w+(?: \w+)? (per|for every)\b")),
    ("amount", re.compile(r"\b(what|which|how much) (budget|funding|money)\b|\bhow much (does|do|did|is|are|was|were|will|would|money|funding)\b.*\b(cost|costs|pay|paid|earn|"
                          r"spend|spent|charge|worth|fund|funding|budget)\b|\bhow much money\b|\bwhat (is|are|was|were) the "
                          r"(cost|costs|salary|salaries|pay|wage|wages|fee|fees|price|budget|rate of pay)\b|"
                          r"\b(salary|salaries|wage|wages|hourly rate|pay scale|pay rate)\b|€|£|\$|\b(in|how many) "
                          r"(euro|euros|pounds|dollars)\b")),
    ("duration", re.compile(r"\bhow long\b|\bhow many (minutes|hours|days|weeks|months|years|sessions)\b|\bwaiting (time|list)\b|"
                            r"\b(what|which) (is|was) the (duration|length)\b|\bfor how many\b")),
    ("count", re.compile(r"\bhow many\b|\b(the |a )?(maximum|minimum|average|total|typical|recommended) (number|age|size)\b|"
                         r"\bwhat (is|was) the number of\b|\bnumber of \w+ (is|are|were|was)\b|"
                         r"\bhow much\b|\bhow large\b|\bhow big\b|\bwhat (is|was) the (size|sample size)\b")),
    ("date", re.compile(r"^when\b|\b(what|which|in what) (year|date|month)\b|\bsince when\b|\bwhen (did|was|were|will|is)\b")),
    ("definition", re.compile(r"^(what|who) (is|are) (a |an |the )?[\w'&+/ -]{1,40}\?*$|\bwhat (does|do) [\w'&+/ -]{1,40} mean\b|"
                              r"\bdefin(e|ed|ition)\b|\bwhat is meant by\b|\bmeaning of\b|\bwhat (does|do) the term\b")),
    ("name", re.compile(r"\b(what|which) is the name of\b|\bname of the\b|\b(which|what) (author|authors|organisation|"
                        r"organization|university|universities|agency|body|bodies|charity|company|companies|insurer|trial|study|studies)\b")),
    ("person", re.compile(r"^who\b|\bwho (is|was|were|are|led|wrote|developed|ran|funded|commissioned)\b")),
    ("place", re.compile(r"^where\b|\bwhere (is|are|was|were|do|does|did|can)\b|\b(which|what) (country|countries|"
                         r"city|cities|county|counties|region|regions|state|states|hospital|hospitals|location|locations)\b|"
                         r"\bin what (country|city|county|region|setting)\b")),
    ("list", re.compile(r"\b(what|which)\b.{0,40}\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\d{1,2}) "
                        r"(main |key |core |different |common |broad )?[\w-]+s\b|"
                        r"^(what|which) (are|were) (the |its |their )?(main |key |different |common |most )?[\w-]+s\b|"
                        r"\b(what|which) (kinds?|types?|sorts?|categories|forms|roles|barriers|themes|factors|challenges|"
                        r"benefits|topics|domains|phases|stages|elements|components|functions|tasks|duties|principles|"
                        r"recommendations|areas|ways|steps|levels|strategies|skills|values|activities|issues|facilitators|"
                        r"enablers|models|tools|outcomes|competencies|concerns|difficulties|things)\b|\blist\b|"
                        r"\bname the\b|\bwhat (did|do|does) .{3,80} (include|cover|involve|identify|recommend|list)\b|"
                        r"\bwhat.{0,40}\b(roles|barriers|themes|factors|challenges|benefits|categories|topics|functions|"
                        r"duties|tasks|phases|domains|levels|skills|principles|recommendations)\b")),
    ("effect", re.compile(r"^(does|do|did|is|are|was|were|can|could|will|would) .*\b(help|helps|improve|improves|reduce|"
                          r"reduces|increase|increases|work|works|effective|benefit|benefits|lead|affect|impact|"
                          r"associated|better|worse|lower|higher|difference)\b|\b(effect|effects|impact|impacts|outcome|"
                          r"outcomes|effectiveness|efficacy)\b|\bwhat (did|does|do) .* (find|show|report|conclude)\b|"
                          r"\bwhat (is|was) the evidence\b")),
    ("reason", re.compile(r"^why\b|\bwhy (do|does|did|is|are|was|were|should)\b|\breasons? (for|why)\b|\brationale\b")),
    ("method", re.compile(r"^how (do|does|did|can|could|should|is|are|was|were|might)\b|\bin what ways?\b")),
]

_WH = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "many", "much", "long"}
_AUX = {"is", "are", "was", "were", "do", "does", "did", "can", "could", "should", "would", "will", "may", "might",
        "has", "have", "had", "be", "been"}
_GENERIC = {"review", "evidence", "say", "says", "said", "tell", "me", "about", "according", "the", "a", "an", "there",
            "any", "please", "actually", "typically", "usually", "generally", "specifically", "exactly", "overall",
            "total"}
_DETAIL_NOUNS = {"number", "amount", "cost", "costs", "salary", "salaries", "pay", "wage", "wages", "percentage",
                 "proportion", "share", "ratio", "duration", "length", "year", "years", "date", "month", "months",
                 "week", "weeks", "day", "days", "hour", "hours", "minutes", "sessions", "euro", "euros", "pounds",
                 "dollars", "size", "name", "country", "countries", "city", "place", "per", "every", "time"}
_LINKS = {"of", "for", "in", "and", "on", "with", "to", "&"}
_TRAILING_VERBS = {"work", "take", "takes", "do", "get", "have", "need", "last", "lasts", "cost", "costs", "earn",
                   "receive", "mean", "say", "include", "involve", "find", "found", "show", "start", "begin", "run",
                   "help", "use", "used", "happen", "exist", "play", "make", "require"}
_WORD = re.compile(r"[^\W\d_][\w+&'’-]*|\d[\d,.]*")


@dataclass(frozen=True)
class QuestionAnalysis:
    answer_type: str  # one of DETAIL_TYPES, or person, place, definition, list, effect, reason, method, other
    focus: str  # the thing asked about, in the question's own words
    focus_words: tuple[str, ...]  # lower-cased content words of the focus
    unit: str = ""  # what a figure counts or measures ("beds", "minutes", "age"), when the question names it
    present: bool = False  # asked as things stand now ("today", "right now", "currently")

    @property
    def asks_detail(self) -> bool:
        return self.answer_type in DETAIL_TYPES

    @property
    def detail_phrase(self) -> str:
        phrase = DETAIL_WORDS.get(self.answer_type, "the detail asked for")
        return f"{phrase} as it stands today" if self.present else phrase

    @property
    def subject(self) -> str:
        """The focus as an answer names it: up to the noun a figure counts ("peer-run crisis phone
        lines", not "peer-run crisis phone lines operate in Ireland")."""
        words = self.focus.split()
        cut = next((i for i, w in enumerate(words) if self.unit and w.lower() == self.unit), len(words) - 1)
        return " ".join(words[: cut + 1])

    @property
    def asks_present_detail(self) -> bool:
        """A figure or date asked for as it stands now: sources written at one time cannot give it."""
        return self.asks_detail and self.present


def answer_type(question: str) -> str:
    q = " ".join(question.lower().replace("’", "'").split())
    for name, pattern in _RULES:
        if pattern.search(q):
            return name
    return "other"


def focus_of(question: str) -> tuple[str, tuple[str, ...]]:
    """The longest run of content words (links such as 'of' allowed inside), minus detail nouns
    and a trailing verb: 'How many hours a week do HSE peer support workers work?' → 'HSE peer
    support workers'."""
    tokens = _WORD.findall(question)
    runs: list[list[str]] = []
    current: list[str] = []
    for tok in tokens:
        low = tok.lower()
        content = low not in _WH and low not in _AUX and low not in _GENERIC and low not in _DETAIL_NOUNS
        if content and (low not in _LINKS or current):
            current.append(tok)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    best: list[str] = []
    for run in runs:
        while run and (run[-1].lower() in _LINKS or run[-1].lower() in _TRAILING_VERBS and len(run) > 1):
            run = run[:-1]
        if len([t for t in run if t.lower() not in _LINKS]) > len([t for t in best if t.lower() not in _LINKS]):
            best = run
    words = tuple(dict.fromkeys(t.lower().strip("'’") for t in tokens
                                if t.lower() not in _WH | _AUX | _GENERIC | _DETAIL_NOUNS | _LINKS and len(t) > 2))
    return " ".join(best), words


_UNIT = re.compile(r"\bhow many ([a-z][\w-]*(?: [a-z][\w-]*){0,3}?)(?= (?:do|does|did|is|are|was|were|have|has|had|can|could|"
                   r"should|would|will|of|in|on|for|per|a|each|there|must|may|work|worked|took|take|attended|were)\b|[?,]|$)|\b(?:number|size) of ([a-z][\w-]*)"
                   r"|\b(?:minimum|maximum|average|typical) (age)\b")


# "How many peer-run crisis phone lines operate ...": the verb may be any, and the noun is the
# phrase's first plural ("how many staff reported stress" counts staff, not stress).
_HOW_MANY = re.compile(r"\bhow many ((?:[a-z][\w-]* ){0,3}[a-z][\w-]*)")
_PLURAL = re.compile(r"[a-z][\w-]*(?<![sui])s|people|staff|children|men|women")


def unit_of(question: str) -> str:
    """The noun a figure is of: 'How many peer support workers does ...' → 'workers'."""
    m = _UNIT.search(question.lower()) or _HOW_MANY.search(question.lower())
    if not m:
        return ""
    words = next(g for g in m.groups() if g).split()
    return next((w for w in words if _PLURAL.fullmatch(w)), words[-1] if m.re is _UNIT else "")


_CONTRACTED_IS = re.compile(r"\b(what|who|where|when|how|which)['’]s\b", re.I)
# A term the question quotes ("... to be 'non-directive'?") is what it asks about.
_PRESENT = re.compile(r"\b(?:today|right now|currently|at present|at the moment|nowadays|these days|as of now|"
                      r"now)\b", re.I)
_QUOTED = re.compile(r"(?:^|[\s(])['‘\"“]([^'’\"”]{2,40})['’\"”](?=[\s?.,!)]|$)")


def analyse(question: str) -> QuestionAnalysis:
    question = _CONTRACTED_IS.sub(r"\1 is", question)  # "What's PREVAIL?" asks what PREVAIL is
    present = bool(_PRESENT.search(question))
    focus, words = focus_of(_PRESENT.sub(" ", question))  # "... right now?": the time is not the topic
    quoted = _QUOTED.search(question)
    if quoted:
        focus = quoted.group(1).strip()
    kind = answer_type(question)
    return QuestionAnalysis(kind, focus, words, unit_of(question) if kind in DETAIL_TYPES else "",
                            present)
