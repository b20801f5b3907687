"""Parse a reference list into structured entries and link in-text citations to them."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from peerqa.records import Reference

_ENTRY_START = re.compile(r"^- ")
_YEAR = re.compile(r"\((?P<year>\d{4})(?P<suffix>[a-z]?)(?:,[^)]*)?\)|\((?P<nd>n\.d\.|in press)\)", re.I)
_UPPER = "A-ZÀ-ÖØ-Þ"  # a surname may start with an accented capital (Ísvan)
# Lower-case particles belong to the surname: "de Beer, C." is de Beer, not Beer.
_PARTICLES = r"(?:(?:de|da|di|du|del|della|der|den|des|dos|das|la|le|van|von|ter|ten|op|zu)\s)*"
_SURNAME = re.compile(
    rf"(?<![A-Za-zÀ-ÿ])({_PARTICLES}[{_UPPER}][A-Za-zÀ-ÿ'’\-]+(?:\s[{_UPPER}][A-Za-zÀ-ÿ'’\-]+)*),\s(?:[{_UPPER}][a-z]?\.\s?-?)+"
)
DOI = re.compile(r"10\.\d{4,9}/[^\s<>\"]+")
_PAREN = re.compile(r"\(([^()]*?\b(?:1[89]|20)\d\d[a-z]?\b[^()]*)\)")
_NAME = r"[A-Z][A-Za-zÀ-ÿ'’\-]+"
_CITE_PART = re.compile(
    rf"(?P<names>{_NAME}(?:\s{_NAME})*(?:,\s{_NAME})*(?:,?\s(?:et al\.?|and colleagues)|,?\s(?:and|&)\s{_NAME})?)"
    r"(?:'s|’s)?,?\s(?P<year>(?:1[89]|20)\d\d)(?P<suffix>[a-z]?)\b"
)
_NARRATIVE_NAMES = re.compile(
    rf"(?P<names>{_NAME}(?:\s{_NAME})*(?:(?:,\s{_NAME})*,?\s(?:and|&)\s{_NAME}|\set al\.?|\sand colleagues)?)(?:'s|’s)?\s*$"
)
_YEAR_ONLY = re.compile(r"^\s*(?P<year>(?:1[89]|20)\d\d)(?P<suffix>[a-z]?)\b")
_SKIP_NAMES = {"In", "The", "A", "See", "For", "This", "These", "Table", "Figure", "And", "Since", "In the"}


def fold(name: str) -> str:
    name = unicodedata.normalize("NFKD", name)
    return re.sub(r"[^a-z]", "", name.encode("ascii", "ignore").decode().lower())


def join_entries(lines: list[str]) -> list[str]:
    """Reference lines (wrapped in PDFs) into one string per entry."""
    entries: list[str] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if _ENTRY_START.match(line) or not entries:
            entries.append(line[2:].strip() if line.startswith("- ") else line)
        else:
            sep = "" if entries[-1].endswith(("/", "-")) and not entries[-1].endswith(" -") else " "
            entries[-1] += sep + line
    return entries


def parse_reference(raw: str) -> Reference:
    text = raw.replace("*", "")
    ref_id = hashlib.sha256(raw.encode()).hexdigest()[:16]
    m = _YEAR.search(text)
    authors_part, rest = (text[: m.start()], text[m.end() :]) if m else (text, "")
    year = int(m.group("year")) if m and m.group("year") else None
    suffix = (m.group("suffix") or "") if m else ""
    surnames = [s.strip() for s in _SURNAME.findall(authors_part)]
    if not surnames and authors_part.strip():
        surnames = [authors_part.strip().rstrip(".,").strip()]  # an organisation as author
    rest = rest.lstrip(". ").strip()
    dois = DOI.findall(text)
    doi = dois[-1].rstrip(").,>") if dois else ""
    rest_wo_link = re.sub(r"<[^>]*>", "", rest).strip()
    title, _, venue = rest_wo_link.partition(". ")
    if "?" in title[:-1]:
        title, _, tail = title.partition("? ")
        title += "?"
        venue = f"{tail}. {venue}".strip(". ")
    return Reference(
        id=ref_id,
        raw=raw,
        authors=surnames,
        year=year,
        year_suffix=suffix,
        title=title.strip().rstrip("."),
        venue=venue.strip().rstrip("."),
        doi=doi,
    )


def parse_references(lines: list[str]) -> list[Reference]:
    return [parse_reference(e) for e in join_entries(lines) if len(e) > 20]


def _spelled_as_cited(ref: Reference, cited: str) -> Reference:
    """The text's spelling of the first author wins where the list lost its apostrophe or accent
    ("Ohara, C." in the list, "O'Hara et al." in the text): same letters, more of the name."""
    first = ref.authors[0] if ref.authors else ""
    if first and " " not in first and cited != first and fold(cited) == fold(first) and len(cited) > len(first):
        ref.authors[0] = cited
    return ref


def _acronym(name: str) -> str:
    return "".join(w[0] for w in name.split() if w[:1].isupper())


@dataclass
class CitationIndex:
    """Looks up reference entries by first-author surname and year."""

    refs: list[Reference]
    respell: bool = True  # adopt the text's spelling of a first author (ingest); off when only reading

    def __post_init__(self) -> None:
        self._by_key: dict[tuple[str, str], list[Reference]] = {}
        for ref in self.refs:
            if not ref.authors or not ref.year:
                continue
            first = ref.authors[0]
            keys = {fold(first), fold(first.split()[-1])}
            if len(first.split()) > 1 and first[:1].isupper():  # an organisation, not "de Beer"
                keys.add(fold(_acronym(first)))
            for key in keys:
                self._by_key.setdefault((key, f"{ref.year}{ref.year_suffix}"), []).append(ref)
                self._by_key.setdefault((key, str(ref.year)), []).append(ref)

    def resolve(self, names: str, year: str) -> Reference | None:
        words = re.findall(_NAME, names)
        words = [w for w in words if w not in _SKIP_NAMES and w not in ("et", "al")]
        if not words:
            return None
        candidates: list[Reference] = []
        for n in range(len(words), 0, -1):  # try 'Peer Support Development Team' before 'Peer'
            key = fold(" ".join(words[:n]))
            candidates = self._by_key.get((key, year), [])
            if candidates:
                break
        if not candidates:
            return None
        uniq = list({r.id: r for r in candidates}.values())
        if len(uniq) == 1:
            return _spelled_as_cited(uniq[0], words[0]) if self.respell else uniq[0]
        second = fold(words[1]) if len(words) > 1 else ""
        for ref in uniq:
            if second and len(ref.authors) > 1 and fold(ref.authors[1].split()[-1]) == second:
                return ref
        if "et al" in names:
            many = [r for r in uniq if len(r.authors) >= 3]
            if many:
                return many[0]
        return uniq[0]

    def find(self, text: str) -> tuple[list[Reference], int, int]:
        """Reference entries cited in `text`, citations seen, and citations resolved."""
        found: dict[str, Reference] = {}
        seen = resolved = 0
        for m in _PAREN.finditer(text):
            for part in m.group(1).split(";"):
                cm = _CITE_PART.search(part)
                if cm:
                    seen += 1
                    ref = self.resolve(cm.group("names"), cm.group("year") + cm.group("suffix"))
                elif _YEAR_ONLY.match(part) and ";" not in m.group(1)[: m.group(1).find(part)]:
                    ym = _YEAR_ONLY.match(part)
                    before = _NARRATIVE_NAMES.search(text[max(0, m.start() - 80) : m.start()].rstrip())
                    if not before or not ym:
                        continue
                    seen += 1
                    ref = self.resolve(before.group("names"), ym.group("year") + ym.group("suffix"))
                else:
                    continue
                if ref is not None:
                    found[ref.id] = ref
                    resolved += 1
        return list(found.values()), seen, resolved


def cited_in(sentences: list[str], cites: list[str], references: Mapping[str, Reference]) -> list[Reference]:
    """The reference entries that these sentences themselves cite, in order of first citation,
    looked up among those their passage cites (`cites`, linked at ingest): an answer's quoted
    sentence lists its own studies, not every study of the passage around it."""
    pool = [references[r] for r in cites if r in references]
    if not pool:
        return []
    index = CitationIndex(pool, respell=False)
    found: dict[str, Reference] = {}
    for sentence in sentences:
        for ref in index.find(sentence)[0]:
            found.setdefault(ref.id, ref)
    return list(found.values())
