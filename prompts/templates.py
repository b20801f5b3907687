"""Chat prompt templates and LLM notices for the optional generative answerer, validated on load.

A chat template file holds one section per message role, each opened by a marker line:

    === system ===
    ...
    === human ===
    ... {passages} ... {question} ...

Placeholders use str.format syntax (LangChain's f-string templates); literal braces are doubled.
An unknown placeholder, or a required one that is missing, is an error when the file is loaded,
never a silently different prompt at answer time.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache

from peerqa.prompts import HERE, PromptError, check_placeholders, load_messages

# The reply the model gives when the passages do not answer; filled into the system template so
# the code that recognises it and the prompt that asks for it cannot drift apart.
NO_ANSWER = "NO_ANSWER"

# Placeholders per template and role; each is required (a prompt without {passages} would ask the
# model to answer from nothing) and nothing else is allowed.
TEMPLATE_FIELDS: dict[str, dict[str, set[str]]] = {
    "llm_answer": {"system": {"no_answer"}, "human": {"passages", "question"}},
}
LLM_MESSAGE_FIELDS: dict[str, set[str]] = {
    "failed": {"reason"},
    "no_answer": set(),
    "unsupported": set(),
    "partial": {"unsupported", "total", "mark"},
    "invented": {"count"},
}
_MARKER = re.compile(r"^=== (\w+) ===[ \t]*$", re.M)


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    system: str
    human: str


def _placeholders(name: str, template: str) -> set[str]:
    try:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f}
    except ValueError as exc:  # a lone '{' or '}'
        raise PromptError(f"template {name!r} is not a valid format string ({exc})") from exc


def parse_chat_template(name: str, text: str) -> ChatTemplate:
    """Split a template file into its roles and check every placeholder."""
    fields = TEMPLATE_FIELDS.get(name)
    if fields is None:
        raise PromptError(f"unknown chat template {name!r}")
    markers = list(_MARKER.finditer(text))
    if not markers or text[: markers[0].start()].strip():
        raise PromptError(f"template {name!r} must start with a '=== system ===' marker line")
    sections: dict[str, str] = {}
    for i, m in enumerate(markers):
        role = m.group(1)
        if role not in fields or role in sections:
            raise PromptError(f"template {name!r}: unexpected or repeated section {role!r}")
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        sections[role] = text[m.end() : end].strip("\n")
    for role, allowed in fields.items():
        body = sections.get(role, "")
        if not body.strip():
            raise PromptError(f"template {name!r} lacks a {role!r} section")
        label = f"{name}:{role}"
        used = _placeholders(label, body)  # first: a syntax error gets a PromptError, not a ValueError
        check_placeholders(label, body, allowed)
        missing = allowed - used
        if missing:
            raise PromptError(f"template {label!r} lacks placeholder(s): {', '.join(sorted(missing))}")
    return ChatTemplate(name=name, system=sections["system"], human=sections["human"])


@lru_cache(maxsize=4)
def chat_template(name: str = "llm_answer") -> ChatTemplate:
    path = HERE / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(f"cannot read template {path.name} ({exc.strerror})") from exc
    return parse_chat_template(name, text)


@lru_cache(maxsize=1)
def llm_messages() -> dict[str, str]:
    """The notices shown beside an answer when the LLM path falls back or flags sentences."""
    return load_messages("llm_messages.json", LLM_MESSAGE_FIELDS, allow_extra=False)
