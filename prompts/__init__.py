"""Fixed wording and vocabularies, validated when loaded."""

from __future__ import annotations

import json
import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Placeholders each message may use; an unknown one is an error at load time, not at answer time.
MESSAGE_FIELDS: dict[str, set[str]] = {
    "empty_question": set(),
    "question_too_long": {"length", "limit"},
    "invalid_text": set(),
    "other_language": set(),
    "abstain": {"topic"},
    "signpost": set(),
    "no_index": set(),
    "partial_lead": {"detail", "focus"},
    "partial_notice": {"detail"},
    "filter_weak": {"scope", "nearest"},
}


class PromptError(ValueError):
    """A template or vocabulary file is malformed."""


def check_placeholders(name: str, template: str, allowed: set[str]) -> None:
    used = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    unknown = used - allowed
    if unknown:
        raise PromptError(f"template {name!r} uses unknown placeholder(s): {', '.join(sorted(unknown))}")


def load_messages(filename: str, fields: dict[str, set[str]], allow_extra: bool = True) -> dict[str, str]:
    """A JSON file of message templates, each checked against the placeholders it may use."""
    data = json.loads((HERE / filename).read_text(encoding="utf-8"))
    missing = set(fields) - set(data)
    if missing:
        raise PromptError(f"{filename} lacks: {', '.join(sorted(missing))}")
    for name, template in data.items():
        if not allow_extra and name not in fields:
            raise PromptError(f"{filename}: unknown message {name!r}")
        check_placeholders(name, template, fields.get(name, set()))
    return dict(data)


@lru_cache(maxsize=1)
def messages() -> dict[str, str]:
    return load_messages("messages.json", MESSAGE_FIELDS)


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, Any]:
    data = json.loads((HERE / "vocabulary.json").read_text(encoding="utf-8"))
    syn = data.get("synonyms", {})
    if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in syn.values()):
        raise PromptError("vocabulary.json: every synonym entry must be a list of strings")
    try:
        data["crisis_regex"] = [re.compile(p, re.I) for p in data.get("crisis_patterns", [])]
    except re.error as exc:
        raise PromptError(f"vocabulary.json: bad crisis pattern ({exc})") from exc
    return data
