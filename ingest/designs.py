"""Tag a passage with the study designs and sample sizes its text names."""

from __future__ import annotations

import re

DESIGN_PATTERNS: dict[str, re.Pattern[str]] = {
    "systematic review": re.compile(r"\bsystematic(?:\s+\w+)?\s+reviews?\b", re.I),
    "meta-analysis": re.compile(r"\bmeta[- ]?analys[ie]s\b", re.I),
    "umbrella review": re.compile(r"\bumbrella\b['’]?\s*reviews?", re.I),
    "scoping review": re.compile(r"\bscoping reviews?\b", re.I),
    "RCT": re.compile(r"\b(?:RCTs?|randomi[sz]ed(?:\s+\w+)?\s+(?:controlled\s+)?trials?)\b", re.I),
    "quasi-experimental": re.compile(r"\bquasi[- ]experimental\b", re.I),
    "qualitative": re.compile(r"\bqualitative\b", re.I),
    "mixed methods": re.compile(r"\bmixed[- ]methods?\b", re.I),
    "cohort": re.compile(r"\bcohort stud(?:y|ies)\b", re.I),
    "pilot": re.compile(r"\bpilot (?:stud(?:y|ies)|trial|project)\b", re.I),
    "survey": re.compile(r"\b(?:survey|questionnaire)s?\b", re.I),
}
_SAMPLE = re.compile(r"\$?\b[nN]\s*=\s*(\d[\d,]*)\$?")


def tag_designs(text: str) -> list[str]:
    tags = [name for name, pattern in DESIGN_PATTERNS.items() if pattern.search(text)]
    tags += [f"n={m.group(1).replace(',', '')}" for m in _SAMPLE.finditer(text)]
    return list(dict.fromkeys(tags))
