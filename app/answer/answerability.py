"""Does the index hold evidence for a question? Signals for the abstention decision, and the decision.

Signals (all read off the sources themselves, never off a list of questions):
- `best`: the best cosine between the question and a sentence (or passage) of the top passages;
- `missing_rare`: the question names a word that is rare in general English and appears nowhere in
  the sources. Rarity is read off the embedding model's WordPiece vocabulary (BERT vocabularies list
  whole words roughly by corpus frequency, so a word past rank `rare_rank`, or split into pieces,
  is rare): "clozapine" or "gambling" absent from the sources is strong evidence; "handle" is not;
- `missing_name`: an acronym in the question that the sources never print and that no capitalised
  phrase of theirs abbreviates (HSE ↔ Health Service Executive), or a named study (author and
  year) that neither the reference lists nor the text mention;
- `detail_asked`/`detail_best`: the question asks for a figure, a date or a name
  (app/answer/analysis.py), and the best similarity of an evidence sentence that holds that kind
  of detail near the question's focus words (0 when none does).

`decide` maps the signals to "none" (nothing related: abstain), "partial" (the topic is covered,
the detail asked for is not) or "full", with thresholds learned on eval/questions.jsonl
(eval/calibration.py, cross-validated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from peerqa.index.bm25 import STOPWORDS, tokenize
from peerqa.index.corpus_stats import ACRONYM as _ACRONYM
from peerqa.index.corpus_stats import CorpusStats
from peerqa.index.store import LoadedIndex
from peerqa.prompts import vocabulary
from peerqa.settings import AnswerSettings

_WORD = re.compile(r"[a-z][a-z0-9]+")
_NAMED_STUDY = re.compile(r"\b([A-Z][a-z'’-]{2,}(?:\s[A-Z][a-z'’-]{2,})?)(?:\s+et al\.?|\s+and colleagues|\s+(?:and|&)\s+[A-Z][a-z'’-]+)?"
                          r"(?:'s|’s)?\s*\(?((?:19|20)\d{2})\)?")
_PROPER = re.compile(r"(?<![.?!]\s)\b[A-Z][a-zà-ÿ'’-]{2,}\b")
_NAME_RUN = re.compile(r"(?<![.?!]\s)\b[A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]+)+")
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
_ROMAN = {"II", "III", "IV", "VI", "VII", "VIII", "IX", "XI", "XII"}


def wordpiece_ranks(model_folder: Path) -> dict[str, int]:
    """Whole-word entries of a tokenizer's vocabulary with their ids (a frequency rank for BERT)."""
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(model_folder / "tokenizer.json")).get_vocab()
    return {w: i for w, i in vocab.items() if w.isalpha()}


def _forms(word: str) -> list[str]:
    forms = [word]
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            forms.append(word[: -len(suffix)] + repl)
    return forms


@dataclass(frozen=True)
class Thresholds:
    min_similarity: float
    missing_similarity: float
    name_similarity: float
    detail_similarity: float

    @classmethod
    def from_settings(cls, a: AnswerSettings) -> Thresholds:
        return cls(a.abstain_min_similarity, a.abstain_missing_similarity, a.abstain_name_similarity,
                   a.detail_min_similarity)


def decide(signals: dict[str, float], t: Thresholds) -> str:
    """"none", "partial" or "full" for one question's signals."""
    best = signals.get("best", 0.0)
    if best < t.min_similarity:
        return "none"
    if signals.get("missing_rare", 0.0) and best < t.missing_similarity:
        return "none"
    if signals.get("missing_name", 0.0) and best < t.name_similarity:
        return "none"
    if signals.get("detail_asked", 0.0) and signals.get("detail_best", 0.0) < t.detail_similarity:
        return "partial"
    if signals.get("detail_now", 0.0):  # "how many ... today?": the sources give their own time's figure
        return "partial"
    return "full"


class _DfView:
    """`df.get(stem, default)` over the store's corpus statistics (a dict for callers)."""

    def __init__(self, stats: CorpusStats) -> None:
        self.stats = stats

    def get(self, term: str, default: int = 0) -> int:
        return self.stats.df(term) or default


class _Printed:
    def __init__(self, stats: CorpusStats) -> None:
        self.stats = stats

    def __contains__(self, acronym: object) -> bool:
        return isinstance(acronym, str) and self.stats.printed(acronym)


class Answerability:
    def __init__(self, index: LoadedIndex, ranks: dict[str, int], rare_rank: int = 10000):
        self.ranks = ranks
        self.rare_rank = rare_rank
        # Counted from the chunks by the folder store, read from tables by the PostgreSQL store.
        self.stats = index.corpus.stats
        self.df = _DfView(self.stats)
        self.demonyms: dict[str, str] = vocabulary().get("demonyms", {})
        self.printed_acronyms = _Printed(self.stats)
        self.glossary = index.glossary
        self.handled = set(vocabulary()["synonyms"]) | {k.lower() for k in index.glossary}

    # -- acronyms and names ------------------------------------------------------------------------
    def acronyms(self, question: str) -> list[str]:
        return [m.group(1) for m in _ACRONYM.finditer(question) if m.group(1) not in _ROMAN and len(m.group(1)) >= 2]

    def expansion(self, acronym: str) -> str:
        """What the sources call an acronym ("" when they never print nor spell it out)."""
        if acronym in self.glossary:
            return self.glossary[acronym]
        return self.stats.expansion(acronym)

    def known_acronym(self, acronym: str) -> bool:
        return acronym in self.printed_acronyms or bool(self.expansion(acronym))

    def missing_names(self, question: str) -> list[str]:
        """Acronyms the sources neither print nor spell out, and named studies (author + year) that
        neither the reference lists nor the text mention."""
        missing = [a for a in self.acronyms(question) if not self.known_acronym(a) and a.lower() not in self.handled]
        # A proper name (capitalised, not the question's first word) or a year the sources never print.
        for m in _PROPER.finditer(question):
            word = m.group(0)
            if m.start() > 0 and word.upper() != word and not self.in_sources(word.lower()):
                country = self.demonyms.get(word.lower(), "")
                if not (country and self.in_sources(country)):
                    missing.append(word)
        # A name of several words ("Northern Ireland", "Irish Sign Language") is missing when the
        # sources never print its words together, even if each word occurs somewhere.
        for m in _NAME_RUN.finditer(question):
            stems = tokenize(m.group(0))
            if m.start() > 0 and len(stems) >= 2 and not all(self.stats.has_bigram(*b) for b in zip(stems, stems[1:], strict=False)):
                missing.append(m.group(0))
        for year in _YEAR.findall(question):
            if self.df.get(year, 0) == 0:
                missing.append(year)
        for m in _NAMED_STUDY.finditer(question):
            surname, year = m.group(1).split()[-1].lower(), int(m.group(2))
            if surname in STOPWORDS or m.group(1).split()[0].lower() in STOPWORDS:
                continue  # "The 2019 ...", "In 2020 ...": a year, not a named study
            years = self.stats.surname_years(surname)
            in_text = bool(tokenize(surname)) and self.df.get(tokenize(surname)[0], 0) > 0
            if (years is None or year not in years) and not in_text:
                missing.append(f"{m.group(1)} ({year})")
        return list(dict.fromkeys(missing))

    def glossary_for(self, glossary: dict[str, str], question: str) -> dict[str, str]:
        """The review's glossary, plus what the sources spell an acronym of the question out as."""
        extra = {}
        for acronym in self.acronyms(question):
            if acronym not in glossary and acronym not in self.printed_acronyms:
                spelled = self.expansion(acronym)
                if spelled:
                    extra[acronym] = spelled
        return {**glossary, **extra} if extra else glossary

    def in_sources(self, word: str) -> bool:
        """The word, or a word of the same root ("burnt" ~ "burnout", "German" ~ "Germany"), occurs."""
        stems = tokenize(word)
        if not stems:
            return True
        if self.df.get(stems[0], 0) > 0:
            return True
        root = word[: max(4, len(word) - 1)]
        return len(word) >= 5 and self.stats.has_prefix(root)

    # -- rare words ----------------------------------------------------------------------------------
    def missing_terms(self, question: str) -> list[str]:
        """Rare words of the question that appear nowhere in the sources; an acronym the sources spell
        out (its expansion is printed) is never one of them."""
        spelled = {a.lower() for a in self.acronyms(question) if self.known_acronym(a)}
        missing: list[str] = []
        for word in _WORD.findall(question.lower()):
            if word in STOPWORDS or word in self.handled or word in spelled or len(word) < 3:
                continue
            if not tokenize(word) or self.in_sources(word):
                continue
            known = [self.ranks[f] for f in _forms(word) if f in self.ranks]
            if not known or min(known) > self.rare_rank:
                missing.append(word)
        return list(dict.fromkeys(missing))
