"""PDFs that imitate real producers, written from text in the tests (no LaTeX or office suite here).

`tests/pdfgen.py` writes the simplest PDF (one Helvetica stream per page). These go further, the way
the producers they imitate lay out text, because that is what the structure code meets in the wild:

* **LaTeX (pdfTeX)**: Type 1 fonts with ligature glyphs (fi, fl), words kerned inside TJ arrays with
  no space characters, running headers ("CHAPTER 2. GROUPS" + page number), a contents page with
  spaced dot leaders, display math set as pieces on several baselines (limits above and below a
  sum, equation numbers at the margin), theorem boxes whose title line ("Definition 2.3 (Group)")
  stands alone, proofs ending in a box, hyphenated line ends.
* **LibreOffice Writer**: subset TrueType fonts through Identity-H with a ToUnicode map (the
  content stream holds glyph ids, not letters), one positioned run per line, numbered headings,
  bullets as a separate run, table cells placed on one baseline, a header with the document title
  and a "Page N of M" footer.
* **A word processor's export (Word)**: also Identity-H, but every word its own positioned run,
  title-case headings in a larger font, private-use bullet glyphs, "Figure N:" and "Table N:"
  captions, a contents page with dot leaders, a "Title | N" footer.

The LaTeX imitations (`lecture_notes_pdf`, `latex_article`) are in tests/pdflatex.py.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path

# Approximate advance widths (thousandths of the font size), the same for every font: the
# layout and the /Widths the reader sees agree, which is all text extraction needs.
_NARROW = set("iljtfrI.,;:'!|()[]-")
_WIDE = set("mwMWOQGDHNU@%&")


def char_width(ch: str) -> int:
    if ch == " ":
        return 250
    if ch in _NARROW:
        return 278
    if ch in _WIDE:
        return 833
    if ch.isupper():
        return 667
    return 500


def text_width(text: str, size: float) -> float:
    return sum(char_width(c) for c in text) * size / 1000


def _esc(raw: bytes) -> bytes:
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


@dataclass
class Font:
    """A font resource: `simple` (Type 1, one byte per glyph) or `cid` (Type 0, Identity-H)."""

    res: str
    base: str
    kind: str = "simple"
    ligatures: bool = False
    gids: dict[str, int] = field(default_factory=dict)  # cid fonts: character -> glyph id

    def encode(self, text: str) -> bytes:
        """The string operand for Tj, as the content stream holds it."""
        if self.kind == "cid":
            out = b""
            for ch in text:
                gid = self.gids.setdefault(ch, len(self.gids) + 3)  # like a subset: ids in order of use
                out += gid.to_bytes(2, "big")
            return b"<" + out.hex().encode() + b">"
        if self.ligatures:  # pdfTeX sets fi/fl as one glyph (codes 12 and 13 of the font's encoding)
            text = text.replace("fi", "\x0c").replace("fl", "\x0d")
        return b"(" + _esc(text.encode("cp1252", errors="replace")) + b")"


class Canvas:
    """One page's content stream."""

    def __init__(self, width: float = 595, height: float = 842):
        self.width, self.height = width, height
        self.ops: list[bytes] = []
        self.fonts: set[str] = set()

    def text(self, x: float, y: float, text: str, font: Font, size: float) -> float:
        """One run at (x, y); returns where it ends."""
        self.fonts.add(font.res)
        self.ops.append(b"BT /%s %.1f Tf 1 0 0 1 %.2f %.2f Tm %s Tj ET" % (font.res.encode(), size, x, y, font.encode(text)))
        return x + text_width(text, size)

    def kerned(self, x: float, y: float, words: list[str], font: Font, size: float, gap: float = 333, kern: int = 0) -> float:
        """pdfTeX style: one TJ array, words separated by a kerning number instead of a space."""
        self.fonts.add(font.res)
        parts: list[bytes] = []
        for i, word in enumerate(words):
            if i:
                parts.append(b"%d" % -round(gap))
            if kern and len(word) > 3:  # a kerning pair inside the word, as fonts have (W-a, T-o)
                parts += [font.encode(word[:2]), b"%d" % kern, font.encode(word[2:])]
            else:
                parts.append(font.encode(word))
        self.ops.append(b"BT /%s %.1f Tf 1 0 0 1 %.2f %.2f Tm [%s] TJ ET" % (font.res.encode(), size, x, y, b" ".join(parts)))
        return x + text_width(" ".join(words), size)

    def word_runs(self, x: float, y: float, text: str, font: Font, size: float) -> float:
        """Word-processor style: every word its own positioned run."""
        for word in text.split(" "):
            if word:
                self.text(x, y, word, font, size)
            x += text_width(word + " ", size)
        return x

    def box(self, x: float, y: float, w: float, h: float) -> None:
        self.ops.append(b"%.2f %.2f %.2f %.2f re S" % (x, y, w, h))


class PdfFile:
    def __init__(self, producer: str, creator: str, title: str = "", author: str = ""):
        self.info = {"Producer": producer, "Creator": creator, "Title": title, "Author": author}
        self.fonts: dict[str, Font] = {}
        self.pages: list[Canvas] = []

    def font(self, base: str, kind: str = "simple", ligatures: bool = False) -> Font:
        res = f"F{len(self.fonts) + 1}"
        self.fonts[res] = Font(res=res, base=base, kind=kind, ligatures=ligatures)
        return self.fonts[res]

    def page(self, width: float = 595, height: float = 842) -> Canvas:
        canvas = Canvas(width, height)
        self.pages.append(canvas)
        return canvas

    def save(self, path: Path) -> Path:
        objs: list[bytes] = []

        def add(body: bytes) -> int:
            objs.append(body)
            return len(objs)

        catalog = add(b"")
        pages_obj = add(b"")
        info = add(b"<< " + b" ".join(
            b"/%s (%s)" % (k.encode(), _esc(v.encode("cp1252", errors="replace"))) for k, v in self.info.items() if v
        ) + b" >>")
        font_ids: dict[str, int] = {}
        page_ids: list[int] = []
        for canvas in self.pages:  # content first: cid fonts learn their glyphs from it
            stream = zlib.compress(b"\n".join(canvas.ops))
            content = add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream")
            page_ids.append(add(b"%d" % content))  # placeholder: the page dict needs font ids
        for res, font in self.fonts.items():
            font_ids[res] = add(self._font_dict(font, add))
        for canvas, pid in zip(self.pages, page_ids, strict=True):
            content = int(objs[pid - 1])
            fonts = b" ".join(b"/%s %d 0 R" % (r.encode(), font_ids[r]) for r in sorted(canvas.fonts))
            objs[pid - 1] = (
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Resources << /Font << %s >> >> /Contents %d 0 R >>"
                % (pages_obj, canvas.width, canvas.height, fonts, content)
            )
        objs[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
        objs[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
            b" ".join(b"%d 0 R" % p for p in page_ids), len(page_ids)
        )
        out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for num, body in enumerate(objs, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
        out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
        out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, catalog, info, xref)
        path.write_bytes(bytes(out))
        return path

    @staticmethod
    def _font_dict(font: Font, add) -> bytes:  # type: ignore[no-untyped-def]
        if font.kind == "cid":
            cmap = ["/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
                    "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
                    "/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
                    "1 begincodespacerange <0000> <FFFF> endcodespacerange"]
            items = sorted(font.gids.items(), key=lambda kv: kv[1])
            for i in range(0, len(items), 100):
                part = items[i : i + 100]
                cmap.append(f"{len(part)} beginbfchar")
                cmap += [f"<{gid:04X}> <{ord(ch):04X}>" for ch, gid in part]
                cmap.append("endbfchar")
            cmap.append("endcmap CMapName currentdict /CMap defineresource pop end end")
            data = "\n".join(cmap).encode()
            tounicode = add(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
            widths = b" ".join(b"%d [%d]" % (gid, char_width(ch)) for ch, gid in items)
            descendant = add(
                b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /%s /CIDSystemInfo << /Registry (Adobe) "
                b"/Ordering (Identity) /Supplement 0 >> /DW 500 /W [%s] >>" % (font.base.encode(), widths)
            )
            return (
                b"<< /Type /Font /Subtype /Type0 /BaseFont /%s /Encoding /Identity-H /DescendantFonts [%d 0 R] "
                b"/ToUnicode %d 0 R >>" % (font.base.encode(), descendant, tounicode)
            )
        widths = []
        for code in range(0, 256):
            ch = bytes([code]).decode("cp1252", errors="replace")
            widths.append(b"%d" % (556 if code in (12, 13) else char_width(ch)))
        diffs = b"/Differences [12 /fi /fl]" if font.ligatures else b""
        enc = b"<< /Type /Encoding /BaseEncoding /WinAnsiEncoding %s >>" % diffs
        return (
            b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /FirstChar 0 /LastChar 255 /Widths [%s] /Encoding %s >>"
            % (font.base.encode(), b" ".join(widths), enc)
        )


# ---------------------------------------------------------------------------------------------
# Text to lay out: prose the tests write, varied so that no two paragraphs are the same.

_TOPICS = ["peer support", "recovery colleges", "family carers", "crisis houses", "peer respite",
           "supervision", "training", "shared decision making", "community teams", "forensic services"]
_VERBS = ["describe", "report", "compare", "question", "document", "examine", "summarise", "review"]
_OBJECTS = ["the roles of peer workers", "the outcomes for service users", "the costs of running services",
            "the views of clinical staff", "the training that was offered", "the barriers to implementation",
            "the experience of families", "how supervision was arranged", "the measures used at follow-up"]


def prose(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        topic, verb, obj = rng.choice(_TOPICS), rng.choice(_VERBS), rng.choice(_OBJECTS)
        n = rng.randint(12, 480)
        shape = rng.randrange(4)
        if shape == 0:
            out.append(f"Studies of {topic} {verb} {obj}, with samples of up to {n} participants.")
        elif shape == 1:
            out.append(f"In {n % 9 + 2} of the sites, staff working in {topic} were asked to {verb} {obj}.")
        elif shape == 2:
            out.append(f"The authors {verb} {obj} and note that {topic} depends on local leadership.")
        else:
            out.append(f"Across the {n} interviews, participants described {topic} as flexible and humane.")
    return " ".join(out)


def wrap(text: str, width: float, size: float) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and text_width(trial, size) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines


# ---------------------------------------------------------------------------------------------
# LibreOffice Writer


def libreoffice_report(path: Path, seed: int = 3) -> Path:
    """A 6-page report: numbered headings, bullets, a table, header and "Page N of M" footer."""
    rng = random.Random(seed)
    pdf = PdfFile("LibreOffice 7.4", "Writer", title="Peer support in community teams")
    body = pdf.font("BAAAAA+LiberationSerif", kind="cid")
    bold = pdf.font("CAAAAA+LiberationSerif-Bold", kind="cid")
    sans = pdf.font("DAAAAA+LiberationSans", kind="cid")
    sections = [
        ("1 Introduction", []), ("2 Background", ["2.1 Policy context", "2.2 Earlier evaluations"]),
        ("3 Methods", ["3.1 Sites and participants", "3.2 Interviews"]), ("4 Findings", ["4.1 Roles", "4.2 Supervision"]),
        ("5 Discussion", []), ("6 Conclusion", []),
    ]
    blocks: list[tuple[str, str]] = [("title", "Peer support in community teams"), ("para", prose(rng, 3))]
    for head, subs in sections:
        blocks.append(("h1", head))
        blocks.append(("para", prose(rng, 5)))
        if head.startswith("3"):
            blocks += [("bullet", prose(rng, 1)) for _ in range(3)]
        for sub in subs:
            blocks += [("h2", sub), ("para", prose(rng, 6)), ("para", prose(rng, 4))]
        if head.startswith("4"):
            blocks += [("caption", "Table 1: Participants by site"), ("table", "Site|Peer workers|Staff|Service users"),
                       ("table", "North|12|30|140"), ("table", "South|9|22|96"), ("table", "West|15|41|188")]
    return _flow(pdf, blocks, body, bold, sans, style="libreoffice", path=path)


# A word processor's export (Word)


def word_export(path: Path, seed: int = 5) -> Path:
    rng = random.Random(seed)
    pdf = PdfFile("Microsoft® Word for Microsoft 365", "Microsoft® Word for Microsoft 365",
                  title="Evaluation of a peer support service", author="Evaluation team")
    body = pdf.font("ABCDEE+Calibri", kind="cid")
    bold = pdf.font("ABCDEE+Calibri-Light", kind="cid")
    sans = pdf.font("BCDEEE+Calibri", kind="cid")
    heads = ["Executive summary", "Background", "Aims of the evaluation", "Methods", "Findings", "Recommendations"]
    blocks: list[tuple[str, str]] = [("title", "Evaluation of a peer support service"), ("contents", "")]
    for head in heads:
        blocks.append(("h1", head))
        blocks.append(("para", prose(rng, 5)))
        if head == "Findings":
            blocks += [("h2", "Uptake"), ("para", prose(rng, 5)), ("caption", "Figure 1: Referrals by month"),
                       ("para", prose(rng, 4)), ("h2", "Experience of staff"), ("para", prose(rng, 6)),
                       ("caption", "Table 2: Contacts per peer worker"), ("para", prose(rng, 3))]
        if head == "Recommendations":
            blocks += [("pbullet", prose(rng, 1)) for _ in range(4)]
        blocks.append(("para", prose(rng, 4)))
    return _flow(pdf, blocks, body, bold, sans, style="word", path=path)


def _flow(pdf: PdfFile, blocks: list[tuple[str, str]], body: Font, bold: Font, sans: Font, style: str, path: Path) -> Path:
    """Lay blocks out on A4 pages with the producer's header, footer and run style."""
    left, right, top, bottom = 72.0, 523.0, 770.0, 80.0
    pages: list[list[tuple[str, float, float, str, Font, float]]] = [[]]
    y = top
    title = pdf.info["Title"]

    def emit(kind: str, x: float, text: str, font: Font, size: float, lead: float) -> None:
        nonlocal y
        if y - lead < bottom:
            pages.append([])
            y = top
        y -= lead
        pages[-1].append((kind, x, y, text, font, size))

    for kind, text in blocks:
        if kind == "title":
            emit("run", left, text, bold, 20, 30)
            y -= 10
        elif kind == "contents":
            emit("run", left, "Contents", bold, 16, 24)
            for n, head in enumerate(["Executive summary", "Background", "Aims of the evaluation", "Methods", "Findings",
                                      "Recommendations"], start=1):
                dots = "." * int((right - left - text_width(head, 11) - 20) / text_width(".", 11))
                emit("run", left, f"{head}{dots}{n + 1}", body, 11, 15)
            pages.append([])
            y = top
        elif kind in ("h1", "h2"):
            y -= 8
            emit("run", left, text, bold, 16 if kind == "h1" else 13, 22)
        elif kind == "caption":
            emit("run", left, text, sans, 9, 14)
        elif kind == "table":
            cells = text.split("|")
            for i, cell in enumerate(cells):
                x = left + i * 110
                if i == 0:
                    emit("cell", x, cell, body, 10, 14)
                else:
                    pages[-1].append(("cell", x, y, cell, body, 10))
        elif kind in ("bullet", "pbullet"):
            lines = wrap(text, right - left - 20, 11)
            mark = "\u2022" if kind == "bullet" else "\uf0b7"
            emit("run", left + 6, mark, sans, 11, 15)
            pages[-1][-1] = ("run", left + 6, y, mark, sans, 11)
            pages[-1].append(("run", left + 20, y, lines[0], body, 11))
            for line in lines[1:]:
                emit("run", left + 20, line, body, 11, 15)
        else:
            for line in wrap(text, right - left, 11):
                emit("run", left, line, body, 11, 15)
            y -= 6
    total = len(pages)
    for n, items in enumerate(pages, start=1):
        canvas = pdf.page()
        if style == "libreoffice":
            canvas.text(left, 800, title, body, 9)
            foot = f"Page {n} of {total}"
            canvas.text((595 - text_width(foot, 9)) / 2, 40, foot, body, 9)
        else:
            foot = f"{title} | {n}"
            canvas.text(right - text_width(foot, 9), 40, foot, body, 9)
        for kind, x, yy, text, font, size in items:
            if style == "word" and kind == "run":
                canvas.word_runs(x, yy, text, font, size)
            else:
                canvas.text(x, yy, text, font, size)
    return pdf.save(path)
