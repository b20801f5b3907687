"""The cited page rendered from the real PDFs through PDFium: the review's pages, an uploaded
(generated) PDF, an image-only page, and `peerqa page` as a subprocess."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from PIL import Image

from peerqa.app.page_view import (
    HIGHLIGHT_RGBA,
    NO_TEXT_NOTE,
    PageError,
    cited_page,
    page_numbers,
    render_page,
)
from peerqa.app.runtime import open_index
from tests.conftest import REPO, REVIEW_PDF
from tests.pdfgen import make_pdf

pytestmark = pytest.mark.integration
# HIGHLIGHT_RGBA over white paper
HIGHLIGHTED = tuple(round(255 + (c - 255) * HIGHLIGHT_RGBA[3] / 255) for c in HIGHLIGHT_RGBA[:3])


def _highlight_pixels(png: bytes, box: tuple[float, float, float, float] | None = None) -> int:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if box is not None:
        image = image.crop(tuple(int(v) for v in box))
    return sum(n for n, rgb in image.getcolors(maxcolors=1 << 20) or []
               if all(abs(a - b) <= 12 for a, b in zip(rgb, HIGHLIGHTED, strict=True)))


def test_a_review_page_shows_with_the_quoted_sentence_highlighted():
    quote = ("For example, Lloyd-Evans et al. (2014) usefully describe three main categories of peer support "
             "within the effectiveness literature including: (1) Mutual support groups")
    shown = render_page(REVIEW_PDF, 49, [quote])
    assert (shown.page_index, shown.printed, shown.pages) == (48, 49, 115)
    assert shown.located == 1 and shown.note == "" and len(shown.boxes) >= 2  # two lines of text
    assert shown.png[:8] == b"\x89PNG\r\n\x1a\n" and (shown.width, shown.height) == (893, 1263)
    # The highlight is drawn where PDFium says the words are, and nowhere else.
    inside = sum(_highlight_pixels(shown.png, box) for box in shown.boxes)
    assert inside > 3000 and _highlight_pixels(shown.png) <= inside * 1.2  # crop boxes round down
    plain = render_page(REVIEW_PDF, 49, [])
    assert _highlight_pixels(plain.png) < 50 and not plain.boxes


def test_an_image_only_page_is_shown_without_highlight_and_says_so():
    shown = render_page(REVIEW_PDF, 51, ["Any sentence at all that we would like to find here."])
    assert shown.boxes == [] and shown.note == NO_TEXT_NOTE
    with pytest.raises(PageError, match="has no page 200"):
        render_page(REVIEW_PDF, 200, [])


def test_an_uploaded_pdf_page_is_highlighted_too(tmp_path):
    lines = ["PEER RESPITE IN CONNEMARA", "Peer workers ran weekly equine sessions on a farm in Connemara.",
             "Participants reported less isolation after twelve weeks."]
    pdf = make_pdf(tmp_path / "Connemara_Study.pdf", [["Cover page"], lines])
    assert page_numbers(pdf) == (1, 2)
    shown = render_page(pdf, 2, ["Participants reported less isolation after twelve weeks."])
    assert shown.located == 1 and len(shown.boxes) == 1 and _highlight_pixels(shown.png, shown.boxes[0]) > 200


def test_an_answers_citation_opens_on_the_page_holding_its_quote(review_index):
    from peerqa.app.answer.engine import Engine

    settings, _ = review_index
    engine = Engine.from_settings(settings)
    answer = engine.ask("What training do peer support workers need?")
    for c in answer.citations:
        shown = cited_page(settings.sources_dir / c.passage.chunk.source_path, c.passage.chunk, c.quote)
        assert shown.located >= 1, (c.passage.chunk.page_start, c.quote)
        assert c.passage.chunk.page_start <= shown.printed <= (c.passage.chunk.page_end or shown.printed)
    assert open_index(settings).chunks  # the index is the one the answer came from


def test_peerqa_page_writes_the_png(tmp_path):
    out = tmp_path / "page.png"
    env_dir = ["--index-dir", str(tmp_path / "none")]
    done = subprocess.run(
        [sys.executable, "-m", "peerqa.app.cli", "page", REVIEW_PDF.name, "46", *env_dir, "--highlight",
         "The importance of training for peer support workers", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1/1 quote(s) located" in done.stderr and out.read_bytes()[:4] == b"\x89PNG"
    missing = subprocess.run([sys.executable, "-m", "peerqa.app.cli", "page", "nope.pdf", "3", "--out", str(out)],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no source named 'nope.pdf'" in missing.stderr
    bad_page = subprocess.run([sys.executable, "-m", "peerqa.app.cli", "page", REVIEW_PDF.name, "0", "--out", str(out)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad_page.returncode == 2 and "has no page 0" in bad_page.stderr and "Traceback" not in bad_page.stderr


def test_the_bench_figure_times_warm_page_renders():
    from peerqa.app.cli_bench import page_figures
    from peerqa.records import Chunk

    training = Chunk(id="c", source_id="s", source_path=REVIEW_PDF.name, page_start=46, page_end=47, char_start=0,
                     char_end=1, text="t", embed_text="t")
    cited = [(REVIEW_PDF.name, training, "The importance of training for peer support workers"),
             ("missing.pdf", training, "x")]
    out = page_figures(REVIEW_PDF.parent, cited, lambda _msg: None)
    assert out["pages"] == {"rendered": 1, "with_highlight": 1, "boxes": out["pages"]["boxes"]}
    assert out["pages"]["boxes"] >= 1 and out["page_p50_ms"] is not None and out["page_max_ms"] >= out["page_p50_ms"]
