"""Is a question something the model can read, and is it in English?

The embedding model and the sources are English. A question of punctuation, emoji or
zero-width characters has no word to search for: without this check it is answered with
whatever passages happen to be nearest, or (being short) read as a follow-up that repeats the
previous answer. A question in another language is answered from unrelated English passages,
so it gets a note saying the sources are in English.
"""

from __future__ import annotations

import re
import unicodedata

from peerqa.prompts import messages

_SURROGATE = re.compile(r"[\ud800-\udfff]")
# A word: two or more letters or digits in a row (any script); "a" or "?!" alone is none.
_WORD = re.compile(r"[^\W_]{2,}")
_LATIN_WORD = re.compile(r"[^\W\d_]+")
# Share of a question's letters outside the Latin script above which it is "mostly" another language.
FOREIGN_SCRIPT_SHARE = 0.5
# Frequent function words of the languages staff in Ireland are likeliest to use, none of them also
# an English word, so an English question never counts them.
_FOREIGN_WORDS = frozenset(
    # Irish
    "agus conas cad cén cathain cé cá níl tá bhfuil ag sa mar chun faoi leis".split()
    # French
    + "le la les des du est et pour dans qui une avec comment pourquoi quels quelle quelles sont "
      "aux ces cette leur travailleurs soutien".split()
    # Spanish, Portuguese, Italian
    + "el los las del qué cómo para una con por son trabajo apoyo entre sobre não uma como é os "
      "il gli che della delle sono cosa perché lavoro supporto".split()
    # German, Dutch, Polish
    + "der die das und ist wie was für mit nicht ein eine welche arbeit unterstützung het een "
      "hoe zijn voor wat jest czy jak dla się nie".split()
)
_ENGLISH_WORDS = frozenset(
    "the a an and of to in is are what how why which who does do for with on about peer support "
    "workers worker work review training role services service mental health people".split()
)


def unreadable(text: str) -> str:
    """Why the model cannot read this question (a message to show), or '' when it can."""
    if _SURROGATE.search(text):  # e.g. "\ud800" from a broken JSON escape or a mis-decoded argument
        return messages()["invalid_text"]
    visible = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")  # zero-width and joiners
    if not _WORD.search(visible):
        return messages()["empty_question"]
    return ""


def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


def mostly_foreign(text: str) -> bool:
    """True when most letters are of another script, or the words are plainly another language's."""
    letters = [ch for ch in text if ch.isalpha()]
    if letters and sum(not _is_latin(ch) for ch in letters) / len(letters) > FOREIGN_SCRIPT_SHARE:
        return True
    words = [w.lower() for w in _LATIN_WORD.findall(text)]
    foreign = sum(w in _FOREIGN_WORDS for w in words)
    english = sum(w in _ENGLISH_WORDS for w in words)
    return foreign >= 2 and foreign > english


def language_note(text: str) -> str:
    """The note for a question mostly in another language, or ''."""
    return messages()["other_language"] if mostly_foreign(text) else ""
