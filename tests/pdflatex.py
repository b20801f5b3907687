"""LaTeX (pdfTeX) imitations, written with tests/pdfproducers.py's writer.

`lecture_notes_pdf` writes a 100-page-plus set of LaTeX lecture notes with hundreds of numbered
theorem and definition boxes: the document that once parsed into thousands of 3-character chunks
nested 100 levels deep. `latex_article` is a short article with numbered sections.
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.pdfproducers import Font, PdfFile, prose, wrap

_CHAPTERS = ["Sets and Functions", "Groups", "Rings and Fields", "Vector Spaces", "Linear Maps", "Metric Spaces",
             "Sequences and Series", "Continuity", "Differentiation", "Integration", "Power Series", "Topology",
             "Measure", "Probability", "Fourier Series"]
_SECTIONS = ["Basic notions", "Examples", "Constructions", "Main results", "Further properties", "Applications"]
_NAMES = ["Injective", "Surjective", "Bijection", "Subgroup", "Coset", "Kernel", "Ideal", "Basis", "Dimension",
          "Norm", "Open set", "Closed set", "Compactness", "Convergence", "Cauchy sequence", "Continuity",
          "Uniform continuity", "Derivative", "Riemann sum", "Partition"]
_LABELS = ["Definition", "Theorem", "Lemma", "Proposition", "Corollary", "Example", "Remark", "Exercise"]
_SYMBOLS = ["x", "y", "f", "g", "n", "k", "A", "B", "G", "H", "X", "V"]


def _math_sentence(rng: random.Random, name: str) -> str:
    a, b = rng.sample(_SYMBOLS, 2)
    forms = [
        f"Let {a} and {b} be as above; we say that the map is {name.lower()} when distinct points have distinct images.",
        f"Suppose that {a} is a subset of {b} and that every element of {a} satisfies the condition of the previous result.",
        f"The notion of {name.lower()} generalises the familiar case of the real line to arbitrary spaces.",
        f"If {a} has this property then so does every image of {a} under a map of the same kind.",
        "We shall use this repeatedly, often without comment, in the chapters that follow.",
        f"In particular the construction does not depend on the choice of {b}, which justifies the notation.",
    ]
    return rng.choice(forms)


def lecture_notes_pdf(path: Path, chapters: int = 15, seed: int = 11) -> Path:
    """LaTeX lecture notes: chapters of numbered sections, each with many theorem boxes and displays."""
    rng = random.Random(seed)
    pdf = PdfFile("pdfTeX-1.40.25", "LaTeX with hyperref", title="", author="")
    rm = pdf.font("ABCDEF+CMR10", ligatures=True)
    bf = pdf.font("ABCDEF+CMBX10", ligatures=True)
    it = pdf.font("ABCDEF+CMTI10", ligatures=True)
    sym = pdf.font("ABCDEF+CMSY10", kind="cid")  # math symbols: glyph ids and a ToUnicode map
    left, right, top, bottom = 90.0, 505.0, 740.0, 90.0
    lead = 13.6
    # Each page: a list of drawing callables, laid out below.
    pages: list[list[tuple]] = []
    running: list[str] = []
    state = {"y": top, "chapter": "", "section": ""}

    def new_page(header: bool = True) -> None:
        pages.append([])
        if not header:
            running.append("")
        elif not state["chapter"]:
            running.append("CONTENTS")
        elif len(pages) % 2 == 0:  # book class: the chapter on even pages, the section on odd ones
            running.append(f"CHAPTER {state['chapter']}")
        else:
            running.append(state["section"])
        state["y"] = top

    def need(height: float) -> None:
        if state["y"] - height < bottom:
            new_page()

    def line(words: list[str], font: Font, size: float = 10, x: float = left, gap: float = 333) -> None:
        need(lead)
        state["y"] -= lead
        pages[-1].append(("kerned", x, state["y"], words, font, size, gap))

    def paragraph(text: str, font: Font = rm, indent: float = 15) -> None:
        lines = wrap(text, right - left - indent, 10)
        for i, ln in enumerate(lines):
            words = ln.split()
            if i < len(lines) - 1 and len(words[-1]) > 7 and rng.random() < 0.3:  # a hyphenated line end
                cut = len(words[-1]) // 2
                lines[i + 1] = words[-1][cut:] + " " + lines[i + 1]
                words[-1] = words[-1][:cut] + "-"
            line(words, font, x=left + (indent if i == 0 else 0))
        state["y"] -= 4

    def display(eq_no: str) -> None:
        """A displayed sum: the limits sit above and below the sigma, the number at the margin."""
        need(lead * 3.2)
        y = state["y"] - lead * 1.6
        mid = (left + right) / 2 - 40
        k = rng.choice(["k", "n", "i"])
        pages[-1] += [
            ("run", mid + 2, y + 11, "\u221e", sym, 7),
            ("run", mid, y, "\u2211", sym, 14),
            ("run", mid - 2, y - 10, f"{k}=0", sym, 7),
            ("run", mid + 16, y, f"a{k} x", sym, 10),
            ("run", mid + 40, y + 4, k, sym, 7),
            ("run", mid + 48, y, "= f (x)", sym, 10),
            ("run", right - 24, y, f"({eq_no})", rm, 10),
        ]
        state["y"] = y - lead * 1.4

    def theorem_box(label: str, number: str, name: str) -> None:
        need(lead * 6)
        title = f"{label} {number} ({name})" if rng.random() < 0.6 else f"{label} {number}"
        top_y = state["y"]
        state["y"] -= 4
        line(title.split(), bf)
        body = " ".join(_math_sentence(rng, name) for _ in range(rng.randint(1, 3)))
        paragraph(body, it if label in ("Theorem", "Lemma", "Proposition", "Corollary") else rm, indent=0)
        pages[-1].append(("box", left - 6, state["y"] - 2, right - left + 12, top_y - state["y"] + 2))
        state["y"] -= 6
        if label in ("Theorem", "Lemma", "Proposition", "Corollary"):
            line(["Proof."] + _math_sentence(rng, name).split()[:8], it)
            paragraph(_math_sentence(rng, name) + " " + _math_sentence(rng, name), indent=0)
            pages[-1].append(("run", right - 8, state["y"] + lead - 4, "\u25a1", sym, 10))

    # Title page and contents with spaced dot leaders.
    new_page(header=False)
    pages[-1].append(("run", left + 80, 600, "Lecture Notes in Pure Mathematics", bf, 17))
    pages[-1].append(("run", left + 120, 560, "Autumn Term", rm, 12))
    new_page(header=False)
    pages[-1].append(("run", left, top - 40, "Contents", bf, 17))
    state["y"] = top - 60
    for c in range(1, chapters + 1):
        line([str(c), *_CHAPTERS[(c - 1) % len(_CHAPTERS)].split()] + ["."] * 12 + [str(3 + (c - 1) * 11)], bf)
        for s in range(1, 5):
            line([f"{c}.{s}", *_SECTIONS[(s - 1) % len(_SECTIONS)].split()] + ["."] * 14 + [str(3 + (c - 1) * 11 + s * 2)], rm,
                 x=left + 15)
    labels = 0
    for c in range(1, chapters + 1):
        state["chapter"] = f"{c}. {_CHAPTERS[(c - 1) % len(_CHAPTERS)].upper()}"
        state["section"] = state["chapter"]
        new_page(header=False)
        pages[-1].append(("run", left, top - 30, f"Chapter {c}", bf, 20))
        pages[-1].append(("run", left, top - 70, _CHAPTERS[(c - 1) % len(_CHAPTERS)], bf, 24))
        state["y"] = top - 100
        paragraph(prose_math(rng, 5))
        number = 0
        eq = 0
        for s in range(1, 5):
            state["section"] = f"{c}.{s}. {_SECTIONS[(s - 1) % len(_SECTIONS)].upper()}"
            need(lead * 4)
            state["y"] -= 10
            line([f"{c}.{s}", *_SECTIONS[(s - 1) % len(_SECTIONS)].split()], bf, size=12)
            paragraph(prose_math(rng, 4))
            for _ in range(rng.randint(6, 9)):
                number += 1
                labels += 1
                theorem_box(rng.choice(_LABELS), f"{c}.{number}", rng.choice(_NAMES))
                if rng.random() < 0.45:
                    eq += 1
                    display(f"{c}.{eq}")
                if rng.random() < 0.5:
                    paragraph(prose_math(rng, 3))
    for n, items in enumerate(pages, start=1):
        canvas = pdf.page()
        head = running[n - 1]
        if head:  # running header: chapter on even pages, section on odd, page number outside
            if n % 2 == 0:
                canvas.kerned(left, 770, [str(n)], rm, 10)
                canvas.kerned(left + 40, 770, head.split(), it, 10)
            else:
                canvas.kerned(left, 770, head.split(), it, 10)
                canvas.kerned(right - 12, 770, [str(n)], rm, 10)
        else:
            canvas.kerned((left + right) / 2, 50, [str(n)], rm, 10)
        for item in items:
            if item[0] == "kerned":
                _, x, y, words, font, size, gap = item
                canvas.kerned(x, y, words, font, size, gap=gap, kern=-28)
            elif item[0] == "run":
                _, x, y, text, font, size = item
                canvas.text(x, y, text, font, size)
            elif item[0] == "box":
                _, x, y, w, h = item
                canvas.box(x, y, w, h)
    pdf.info["Title"] = ""  # pdfTeX without \hypersetup leaves it empty
    pdf.save(path)
    lecture_notes_pdf.labels = labels  # type: ignore[attr-defined]
    return path


def prose_math(rng: random.Random, sentences: int) -> str:
    return " ".join(_math_sentence(rng, rng.choice(_NAMES)) for _ in range(sentences))


def latex_article(path: Path, seed: int = 7) -> Path:
    """A short LaTeX article (pdfTeX): numbered sections, a running header, figure captions, no contents."""
    rng = random.Random(seed)
    pdf = PdfFile("pdfTeX-1.40.25", "LaTeX with hyperref", title="Peer workers on acute wards")
    rm = pdf.font("ABCDEF+CMR10", ligatures=True)
    bf = pdf.font("ABCDEF+CMBX10", ligatures=True)
    it = pdf.font("ABCDEF+CMTI10", ligatures=True)
    left, right, top, bottom = 90.0, 505.0, 740.0, 90.0
    lead = 13.6
    pages: list[list[tuple]] = [[]]
    y = top

    def line(words: list[str], font: Font, size: float = 10, x: float = left) -> None:
        nonlocal y
        if y - lead < bottom:
            pages.append([])
            y = top
        y -= lead
        pages[-1].append((x, y, words, font, size))

    line("Peer workers on acute wards".split(), bf, 17)
    line("A. Author and B. Author".split(), rm, 12, x=left + 100)
    y -= 20
    for n, head in enumerate(["Introduction", "Related work", "Methods", "Results", "Discussion"], start=1):
        y -= 10
        line([str(n), *head.split()], bf, 12)
        for _ in range(3):
            for ln in wrap(prose(rng, 5), right - left, 10):
                line(ln.split(), rm)
            y -= 4
        if head == "Results":
            y -= 30
            line(["Figure", f"{n}:", *"Admissions before and after peer workers joined".split()], rm, x=left + 40)
            for sub in ("Length of stay", "Readmissions"):
                y -= 6
                line([f"{n}.{1 if sub.startswith('L') else 2}", *sub.split()], bf, 11)
                for ln in wrap(prose(rng, 6), right - left, 10):
                    line(ln.split(), it if sub.startswith("R") else rm)
    for n, items in enumerate(pages, start=1):
        canvas = pdf.page()
        if n > 1:
            canvas.kerned(left, 770, "PEER WORKERS ON ACUTE WARDS".split(), it, 9)
        canvas.kerned((left + right) / 2, 50, [str(n)], rm, 10)
        for x, yy, words, font, size in items:
            canvas.kerned(x, yy, words, font, size, kern=-28)
    return pdf.save(path)
