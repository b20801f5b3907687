"""Does the index hold evidence for a question? Signals for the abstention decision.

`missing_terms` finds the question's specific words that appear nowhere in the indexed text.
"Specific" means rare in general English, read off the embedding model's WordPiece vocabulary:
BERT-style vocabularies list whole words roughly in order of corpus frequency, so a word past
rank `rare_rank` (or split into pieces) is a rare one. A rare word the sources never use
("clozapine", "gambling", "pension") is strong evidence that the review does not cover the
question; an everyday word they never use ("actually", "handle") is not.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from index.bm25 import STOPWORDS, tokenize
from index.store import LoadedIndex
from prompts import vocabulary

_WORD = re.compile(r"[a-z][a-z0-9]+")


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


class Answerability:
    def __init__(self, index: LoadedIndex, ranks: dict[str, int], rare_rank: int = 10000):
        self.ranks = ranks
        self.rare_rank = rare_rank
        df: Counter[str] = Counter()
        for chunk in index.chunks:
            df.update(set(tokenize(chunk.text + " " + chunk.section)))
        self.df = df
        self.handled = {k for k in vocabulary()["synonyms"]} | {k.lower() for k in index.glossary}

    def missing_terms(self, question: str) -> list[str]:
        missing: list[str] = []
        for word in _WORD.findall(question.lower()):
            if word in STOPWORDS or word in self.handled or len(word) < 3:
                continue
            stems = tokenize(word)
            if not stems or self.df.get(stems[0], 0) > 0:
                continue
            known = [self.ranks[f] for f in _forms(word) if f in self.ranks]
            if not known or min(known) > self.rare_rank:
                missing.append(word)
        return list(dict.fromkeys(missing))
