"""The web app's logic without a model: safe text, uploads, feedback, rebuild job, and the pages
themselves in Streamlit's AppTest with a stub engine that returns canned answers."""

from __future__ import annotations

import html
import io
import json
import re
import sys
import threading
import time
import unicodedata

import pytest
from streamlit.testing.v1 import AppTest

from peerqa.app.answer.engine import Filters, Turn
from peerqa.app.feedback import FeedbackEntry, FeedbackStore, candidate, default_path, export_jsonl
from peerqa.app.ui.chat import ASK_FAILED, EXAMPLES, answer_markdown
from peerqa.app.ui.export import conversation_markdown
from peerqa.app.ui.guard import FRIENDLY
from peerqa.app.ui.rebuild import BUSY, UNEXPECTED, RebuildJob
from peerqa.app.ui.safe_text import WORD_JOINER, doi_url, escape_md, highlight, page_label, quote_spans
from peerqa.app.ui.sources_page import source_rows
from peerqa.app.ui.state import Exchange
from peerqa.app.ui.uploads import MAX_UPLOAD_BYTES, check_pdf, safe_filename, save_pdf
from peerqa.index.builder import BuildError
from peerqa.records import Answer, AnswerSentence, Chunk, Citation, IngestReport, Passage, SourceStatus
from peerqa.settings import Settings
from tests.app_stubs import (
    PASSAGE,
    QUOTE,
    REVIEW,
    SIGNPOST,
    Call,
    StubEngine,
    StubIndex,
    abstained_answer,
    cited_answer,
    reference,
)
from tests.conftest import REPO
from tests.pdfgen import make_pdf

pytestmark = pytest.mark.unit
TIMEOUT = 30  # seconds per AppTest run; generous because the machine is shared


@pytest.fixture(autouse=True)
def _keep_the_main_module():
    """AppTest installs its script as __main__ and leaves it there; a later test that parses in a
    spawned child (ingest) would then re-run that script and crash. Put the real one back."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


# -- safe text ----------------------------------------------------------------------------------

def _render(markdown: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").render(markdown)


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert('x')</script> & <b>bold</b>",
        "*stars* _under_ **strong** `code` [link](http://evil.example) ![img](x.png)",
        "# Heading\n- item\n1. numbered\n> quote\n    indented code",
        ":red[colour] :smile: $x^2$ ~~strike~~ | table | a\\b &amp; &#60;",
    ],
)
def test_escaped_document_text_renders_as_exactly_that_text(text):
    rendered = _render(escape_md(text))
    # Only paragraphs and line breaks: no document markup became HTML.
    assert set(re.findall(r"</?([a-z0-9]+)", rendered)) <= {"p", "br"}
    plain = html.unescape(re.sub(r"<br />\n?", "\n", re.sub(r"</?p>", "", rendered))).strip()
    assert plain.replace(WORD_JOINER, "") == "\n".join(line.strip() for line in text.split("\n"))


# What Streamlit's Markdown (mdast-util-gfm-autolink-literal, in its bundled JavaScript) turns into
# links after escapes are resolved: a URL or an e-mail address after a start, space or punctuation.
_GFM_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.I | re.A)
_GFM_EMAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)", re.A)


def _autolinks(text: str) -> list[str]:
    def after_boundary(m: re.Match[str]) -> bool:
        before = text[m.start() - 1] if m.start() else " "
        return m.start() == 0 or before.isspace() or unicodedata.category(before)[0] in "PS"

    return [m.group(0) for rx in (_GFM_URL, _GFM_EMAIL) for m in rx.finditer(text) if after_boundary(m)]


HOSTILE_LINKS = (
    "Visit https://evil.example/login now. [site](http://evil.example/a) ![x](https://evil.example/i.png) "
    "<https://evil.example/b> www.evil.example/c WWW.Evil.Example HTTPS://EVIL.EXAMPLE mail boss@evil.example "
    "(https://evil.example/d) https://www.evil.example/e"
)


def test_urls_and_addresses_in_source_text_never_become_links():
    assert _autolinks(HOSTILE_LINKS)  # the checker finds them in the raw text
    rendered = _render(escape_md(HOSTILE_LINKS))
    assert "<a" not in rendered and "<img" not in rendered
    plain = html.unescape(re.sub(r"</?p>", "", rendered)).strip()
    assert _autolinks(plain) == []
    assert plain.replace(WORD_JOINER, "") == HOSTILE_LINKS  # the words read exactly as written
    assert _autolinks(html.unescape(re.sub(r"<[^>]+>", "", _render(highlight(HOSTILE_LINKS, "Visit https://evil.example/login now."))))) == []


def test_the_cited_sentence_is_highlighted_and_the_rest_stays_text():
    out = highlight(PASSAGE, QUOTE)
    assert f":orange-background[**{escape_md(QUOTE)}**]" in out
    assert out.count(":orange-background[") == 1
    assert escape_md("<b>ignore</b>") in out and "<b>" not in out
    # Several sentences joined by " … ", with whitespace that differs from the passage.
    text = "First claim here.\nSecond   claim there. Third."
    spans = quote_spans(text, "First claim here. … Second claim there.")
    assert [text[s:e] for s, e in spans] == ["First claim here.", "Second   claim there."]
    assert quote_spans(text, "Not in the passage.") == []
    assert highlight(text, "Not in the passage.") == escape_md(text)


def test_extractive_answers_show_one_sentence_per_line_and_prose_stays_prose():
    answer = cited_answer("q")
    assert _render(answer_markdown(answer)).count("<li>") == 1
    assert '<a href="#peerqa-cite-1"><strong>[1]</strong></a>' in _render(answer_markdown(answer))
    prose = answer.model_copy(update={"mode": "llm", "answer": "Training *matters* [1]."})
    assert answer_markdown(prose) == escape_md("Training *matters* [1].")
    assert answer_markdown(abstained_answer("q")) == escape_md(abstained_answer("q").answer)


def test_page_labels_and_doi_links():
    assert page_label(46) == "p. 46"
    assert page_label(46, 47) == "pp. 46–47"
    assert page_label(None) == ""
    assert doi_url("10.1000/jp(2020)1") == "https://doi.org/10.1000/jp%282020%291"
    assert doi_url("not a doi") == "" and doi_url("10.1000/has space") == ""


# -- uploads ------------------------------------------------------------------------------------

PDF_BYTES = b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\n%%EOF\n"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("My Report (final).PDF", "My_Report_final.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\ann\\Desktop\\study.pdf", "study.pdf"),
        (".hidden.pdf", "hidden.pdf"),
        ("...pdf", "upload.pdf"),
        ("étude; rm -rf ~.pdf", "tude_rm_-rf.pdf"),
    ],
)
def test_upload_names_are_sanitised(name, safe):
    assert safe_filename(name) == safe
    assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", safe_filename(name))


def test_only_real_pdfs_of_acceptable_size_are_accepted():
    assert check_pdf("a.pdf", PDF_BYTES) == ""
    assert "only PDF" in check_pdf("a.txt", PDF_BYTES)
    assert "not a PDF" in check_pdf("a.pdf", b"MZ\x90\x00 a program renamed to .pdf")
    assert "empty" in check_pdf("a.pdf", b"")
    assert "limit is 50 MB" in check_pdf("a.pdf", b"%PDF-" + b"0" * MAX_UPLOAD_BYTES)


def test_saving_uploads_never_overwrites_and_skips_same_bytes(tmp_path):
    folder = tmp_path / "sources"
    first = save_pdf(folder, "../Report.pdf", PDF_BYTES)
    assert first.ok and first.saved_as == "Report.pdf" and (folder / "Report.pdf").read_bytes() == PDF_BYTES
    again = save_pdf(folder, "copy.pdf", PDF_BYTES)
    assert not again.ok and "already in the sources as Report.pdf" in again.message
    other = save_pdf(folder, "Report.pdf", PDF_BYTES + b"% another version\n")
    assert other.saved_as == "Report-2.pdf" and (folder / "Report.pdf").read_bytes() == PDF_BYTES
    refused = save_pdf(folder, "evil.pdf", b"<html>not a pdf</html>")
    assert not refused.ok and not (folder / "evil.pdf").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["Report-2.pdf", "Report.pdf"]  # no temp files left
    assert not (tmp_path / "Report.pdf").exists()  # the '../' did not climb out


# -- feedback store and export ------------------------------------------------------------------

def _entry(answer_id: str = "a" * 32, vote: str = "up", abstained: bool = False, **kw) -> FeedbackEntry:
    return FeedbackEntry(answer_id=answer_id, question="What training?", answer="Training. [1]",
                         abstained=abstained, vote=vote, **kw)  # type: ignore[arg-type]


def test_feedback_is_one_row_per_answer_and_exports_as_candidate_questions(tmp_path):
    store = FeedbackStore(tmp_path / "fb" / "feedback.sqlite")
    store.save(_entry(comment="useful"))
    store.save(_entry(vote="down", comment="missed the supervision part"))
    store.save(_entry("b" * 32, abstained=True, context=[{"question": "Earlier?", "answer": "Yes."}]))
    entries = store.entries()
    assert [(e.answer_id[0], e.vote, e.comment) for e in entries] == [
        ("a", "down", "missed the supervision part"), ("b", "up", ""),
    ]
    with pytest.raises(ValueError):
        store.save(_entry(vote="meh"))
    out = io.StringIO()
    assert export_jsonl(store, out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[0] == {
        "id": "fb-aaaaaaaaaaaa", "question": "What training?", "answer": "Training. [1]", "evidence": [],
        "section": "", "type": "fact", "keywords": [], "feedback": "down", "comment": "missed the supervision part",
    }
    assert rows[1]["type"] == "unanswerable" and rows[1]["context"] == [{"question": "Earlier?", "answer": "Yes."}]
    # The fields the evaluation's own questions carry are all there.
    gold = json.loads((REPO / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert set(gold) <= set(candidate(entries[0]))


def test_feedback_export_command(tmp_path, monkeypatch, capsys):
    from peerqa.app.cli import main

    monkeypatch.delenv("PEERQA_FEEDBACK_PATH", raising=False)
    index_dir = tmp_path / "data" / "index"
    out = tmp_path / "out" / "candidates.jsonl"
    # No feedback yet: nothing to export, not an error.
    assert main(["feedback-export", "--index-dir", str(index_dir), "--out", str(out)]) == 0
    assert out.read_text() == "" and "no feedback file" in capsys.readouterr().err
    settings = Settings(index_dir=index_dir.resolve())
    assert default_path(settings) == (tmp_path / "data" / "feedback.sqlite").resolve()
    FeedbackStore(default_path(settings)).save(_entry())
    assert main(["feedback-export", "--index-dir", str(index_dir), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["feedback"] == "up"
    assert main(["feedback-export", "--index-dir", str(index_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "fb-aaaaaaaaaaaa"
    (tmp_path / "junk.sqlite").write_bytes(b"this is not a database" * 100)
    assert main(["feedback-export", "--db", str(tmp_path / "junk.sqlite")]) == 1


# -- conversation export ------------------------------------------------------------------------

def test_conversation_exports_as_markdown_with_citations():
    exchanges = [
        Exchange(question="What training?", answer=cited_answer("What training?")),
        Exchange(question="And salaries?", answer=abstained_answer("And salaries?"), scope="the section Context"),
    ]
    md = conversation_markdown(exchanges)
    assert md.startswith("# Peer Support Work")
    assert f"## 1. {escape_md('What training?')}" in md and escape_md(f"{QUOTE} [1]") in md
    assert escape_md(f"[1] Findings › Training ({REVIEW}, p. 46)") in md and f"> {escape_md(QUOTE)}" in md
    assert (f"cites {escape_md('Smith et al. (2020): Peer support in forensic care')} "
            "<https://doi.org/10.1000/jp%282020%291>") in md
    assert f"## 2. {escape_md('And salaries?')}" in md and f"- {escape_md('Findings › Training')}" in md
    assert f"*Searched only in {escape_md('the section Context')}.*" in md


def test_the_export_shows_source_markup_and_links_as_text():
    hostile = cited_answer("q")
    hostile.answer = "<script>alert(1)</script> [click](javascript:alert(1)) " + HOSTILE_LINKS
    hostile.citations[0].quote = "![pixel](https://evil.example/p.png) :red[x]"
    md = conversation_markdown([Exchange(question="q", answer=hostile)])
    rendered = _render(md)
    hrefs = re.findall(r'<a href="([^"]*)"', rendered)
    assert hrefs and all(h.startswith("https://doi.org/") for h in hrefs)  # only the app's own DOI link
    assert "<script" not in rendered and "<img" not in rendered
    text = html.unescape(re.sub(r"<[^>]+>", " ", rendered))
    assert [u for u in _autolinks(text) if not u.startswith("https://doi.org/")] == []


# -- the rebuild job ----------------------------------------------------------------------------

class FakeIngest:
    """Reports progress, then waits until the test lets it finish."""

    def __init__(self, outcome: IngestReport | Exception):
        self.outcome = outcome
        self.release = threading.Event()
        self.calls: list[dict] = []

    def __call__(self, settings, paths, **kw) -> IngestReport:
        self.calls.append(kw)
        kw["progress"]("Reading review.pdf", 0.25)
        assert self.release.wait(10)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def _report(**kw) -> IngestReport:
    return IngestReport(sources=[SourceStatus(path=REVIEW, status="ok", chunks=3)], chunks_total=3,
                        index_version="20250102T000000000000Z-abcdef12", seconds=2.0, **kw)


def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_rebuild_runs_in_the_background_and_reports(settings_factory):
    ingest = FakeIngest(_report())
    job = RebuildJob(settings_factory(), ingest=ingest)
    assert job.status().generation == 0
    assert job.start(rebuild=True)
    _until(lambda: job.status().fraction > 0)
    status = job.status()
    assert status.running and status.message == "Reading review.pdf" and status.fraction == 0.25
    assert not job.start()  # one at a time
    ingest.release.set()
    assert job.wait(10)
    status = job.status()
    assert not status.running and status.error == "" and status.report and status.report.chunks_total == 3
    assert ingest.calls[0]["rebuild"] is True and ingest.calls[0]["show_progress"] is False


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (BuildError("no source could be ingested: a.pdf: encrypted"), "Nothing was rebuilt: no source could be"),
        (RuntimeError("another build is running on /x/index; try again"), BUSY),
        (OSError("disk full at /secret/path"), UNEXPECTED),
    ],
)
def test_rebuild_failures_are_explained_without_internal_details(settings_factory, exc, message):
    ingest = FakeIngest(exc)
    ingest.release.set()
    job = RebuildJob(settings_factory(), ingest=ingest)
    job.start()
    assert job.wait(10)
    status = job.status()
    assert status.error.startswith(message) and "/secret" not in status.error and "/x/index" not in status.error


# -- the sources table --------------------------------------------------------------------------

def test_sources_table_shows_each_file_with_status_and_error(tmp_path):
    folder = tmp_path / "sources"
    folder.mkdir()
    make_pdf(folder / REVIEW, [["Peer Support Work"]])
    make_pdf(folder / "new-study.pdf", [["A new study"]])
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    (folder / "notes.docx").write_bytes(b"PK")
    index = StubIndex()
    index.sources["gone"] = index.sources["src1"].model_copy(update={"id": "gone", "path": "deleted.pdf"})
    report = IngestReport(sources=[SourceStatus(path="broken.pdf", status="failed", error="cannot parse PDF")])
    rows = {r["File"]: r for r in source_rows(folder, index, report)}
    assert (rows[REVIEW]["Status"], rows[REVIEW]["Passages"], rows[REVIEW]["Pages"]) == ("indexed", "3", "80")
    assert (rows["new-study.pdf"]["Status"], rows["new-study.pdf"]["Pages"]) == ("new", "")
    assert (rows["broken.pdf"]["Status"], rows["broken.pdf"]["Details"]) == ("failed", "cannot parse PDF")
    assert rows["notes.docx"]["Status"] == "skipped" and "unsupported" in rows["notes.docx"]["Details"]
    assert rows["deleted.pdf"]["Status"] == "removed"
    assert source_rows(tmp_path / "missing", None, None) == []


# -- the chat page in AppTest -------------------------------------------------------------------

def chat_app(engine, store_path, sources_dir, provider="none"):
    # Runs as a Streamlit script: everything it needs is imported here.
    from pathlib import Path

    import streamlit as st

    from peerqa.app.feedback import FeedbackStore
    from peerqa.app.ui import sidebar
    from peerqa.app.ui.chat import render_chat
    from peerqa.settings import Settings

    settings = Settings(index_dir=Path(store_path).parent / "index", llm={"provider": provider})
    with st.sidebar:
        sidebar.render_index_status(engine.index)
        choice = sidebar.render_filters(engine.index, settings)
    render_chat(engine, FeedbackStore(Path(store_path)), choice, Path(sources_dir))
    with st.sidebar:  # as app/streamlit_app.py does: after the chat
        sidebar.render_conversation_controls()


@pytest.fixture
def chat(tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    make_pdf(sources / REVIEW, [["Peer Support Work"]])
    engine = StubEngine()
    kwargs = {"engine": engine, "store_path": str(tmp_path / "feedback.sqlite"), "sources_dir": str(sources)}
    at = AppTest.from_function(chat_app, kwargs=kwargs, default_timeout=TIMEOUT)
    return at.run(), engine, tmp_path


def _ask(at: AppTest, question: str) -> AppTest:
    return at.chat_input(key="question").set_value(question).run()


def _ask_first(chat, question: str):
    at, engine, tmp = chat
    return _ask(at, question), engine, tmp


def _texts(at: AppTest) -> list[str]:
    """Every text shown on the page (main area and sidebar)."""
    out = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success"):
        out += [str(e.value) for e in getattr(at, kind)]
    return out


def test_welcome_offers_example_questions(chat):
    at, engine, _ = chat
    assert [b.label for b in at.button if (b.key or "").startswith("example-")] == list(EXAMPLES)
    at.button(key="example-0").click().run()
    assert engine.calls[0].question == EXAMPLES[0]
    assert len(at.chat_message) == 2
    assert not [b for b in at.button if (b.key or "").startswith("example-")]  # the welcome is gone


def test_an_answer_shows_its_citations_passage_page_pdf_and_studies(chat):
    at, _, _ = _ask_first(chat, "What training do peer support workers need?")
    assert not at.exception
    user, assistant = at.chat_message
    assert user.markdown[0].value == escape_md("What training do peer support workers need?")
    # One bullet per quoted sentence, its [n] in bold.
    assert assistant.markdown[0].value == f"- {escape_md(QUOTE)} [**\\[1\\]**](#peerqa-cite-1)"
    (expander,) = at.expander
    assert expander.label == escape_md("[1] Training · p. 46")
    captions = [c.value for c in expander.caption]
    assert escape_md(f"Findings › Training · {REVIEW} · p. 46") in captions
    assert "and open it at page 46 (the number printed on the page)." in captions
    assert escape_md("Study designs named here: RCT") in captions
    passage, _heading, studies = (m.value for m in expander.markdown)
    assert passage == highlight(PASSAGE, QUOTE)
    assert "Smith et al\\. \\(2020\\)" in studies and "(https://doi.org/10.1000/jp%282020%291)" in studies
    assert [b.label for b in expander.get("download_button")] == ["Download the report (PDF)"]
    assert [b.label for b in expander.button] == ["Show page 46 with the sentence highlighted"]
    assert len(at.feedback) == 1
    # No element may render raw HTML: document text is data.
    assert not any(getattr(m, "allow_html", False) for m in at.markdown)


def test_followups_carry_the_conversation_until_a_new_one_starts(chat):
    at, engine, _ = chat
    export = at.sidebar.get("download_button")[0]
    assert export.proto.label == "Download as Markdown" and export.proto.disabled  # nothing to export yet
    _ask(at, "What training do they need?")
    # The controls are drawn after the chat, so the answer just given is already in the export.
    assert not at.sidebar.get("download_button")[0].proto.disabled
    _ask(at, "And supervision?")
    assert engine.calls[0].history == []
    assert engine.calls[1].history == [Turn("What training do they need?", f"{QUOTE} [1]")]
    assert len(at.chat_message) == 4 and len(at.expander) == 2
    at.button(key=next(b.key for b in at.sidebar.button if b.label == "New conversation")).click().run()
    assert len(at.chat_message) == 0
    _ask(at, "What is peer support?")
    assert engine.calls[2].history == []


def test_an_abstention_offers_sections_that_reask_within_them(chat):
    at, engine, _ = _ask_first(chat, "What is the salary?")
    assert any("does not appear to cover" in t for t in _texts(at))
    suggestions = [b for b in at.button if (b.key or "").startswith("suggest-")]
    assert [b.label for b in suggestions] == [escape_md("Findings › Training"), "Context"]
    assert not at.expander and not at.exception
    suggestions[0].click().run()
    last = engine.calls[-1]
    assert (last.question, last.filters.section, last.history) == ("What is the salary?", "Findings › Training", [])
    assert escape_md("Searched only in the section Findings › Training") in [c.value for c in at.caption]
    assert len(at.expander) == 1  # the re-asked question found a cited passage


def test_sidebar_shows_the_index_and_its_filters_reach_the_engine(chat):
    at, engine, _ = chat
    status = at.sidebar.caption[0].value.split("  \n")
    assert status == [escape_md("1 source(s) · 3 passages"), escape_md("Model: all-MiniLM-L6-v2"),
                      escape_md("Built 01 Jan 2025, 09:30 UTC in 62 s")]
    assert at.selectbox(key="filter_section").options == [
        "All sections", "Context", "Findings", "Training — in Findings"]  # own name first, then where it sits
    assert not at.radio  # no LLM configured: no mode to choose
    at.selectbox(key="filter_section").set_value("Findings › Training")
    at.selectbox(key="filter_source").set_value("src1").run()
    _ask(at, "What training?")
    assert engine.calls[-1].filters.section == "Findings › Training" and engine.calls[-1].filters.source == "src1"
    assert escape_md(f"Searched only in the section Findings › Training and {REVIEW}") in [
        c.value for c in at.caption
    ]


def test_llm_mode_is_offered_only_when_an_llm_is_configured(tmp_path):
    engine = StubEngine()
    kwargs = {"engine": engine, "store_path": str(tmp_path / "f.sqlite"), "sources_dir": str(tmp_path),
              "provider": "ollama"}
    at = AppTest.from_function(chat_app, kwargs=kwargs, default_timeout=TIMEOUT).run()
    at.radio(key="answer_mode").set_value("llm").run()
    _ask(at, "What training?")
    assert engine.calls[-1].mode == "llm"
    assert getattr(engine, "streamed", 0) == 1  # the LLM reply streamed into a live preview


def test_feedback_is_saved_with_the_answer(chat):
    at, _, tmp = _ask_first(chat, "What training do they need?")
    store = FeedbackStore(tmp / "feedback.sqlite")
    assert store.entries() == []
    at.feedback[0].set_value(1).run()
    (entry,) = store.entries()
    assert (entry.vote, entry.question, entry.abstained) == ("up", "What training do they need?", False)
    assert entry.citations == [{"n": 1, "chunk_id": "chunk-Findings-Training", "section": "Findings › Training",
                                "page": 46}]
    assert "Thank you, your feedback is saved." in [c.value for c in at.caption]
    at.text_input(key=f"comment-{entry.answer_id}").input("Missed supervision").run()
    at.feedback[0].set_value(0).run()
    (entry,) = store.entries()
    assert (entry.vote, entry.comment) == ("down", "Missed supervision")


def test_refused_and_failed_questions_are_answered_politely(chat):
    at, engine, _ = _ask_first(chat, "boom")
    assert not at.exception
    assert [e.value for e in at.error] == [ASK_FAILED]
    assert not any("passwd" in t for t in _texts(at))
    _ask(at, "   ")
    assert "Please type a question" in at.warning[0].value
    _ask(at, "I am in crisis")
    assert at.info[0].value == escape_md(SIGNPOST) and not at.feedback and not at.expander
    assert len(engine.calls) == 3


def failing_page():
    from peerqa.app.ui.guard import friendly_errors

    @friendly_errors
    def page() -> None:
        raise KeyError("internal detail: /srv/secret")

    page()


def test_an_unexpected_error_shows_a_friendly_message_and_logs_the_detail(caplog):
    at = AppTest.from_function(failing_page, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert [e.value for e in at.error] == [FRIENDLY]
    assert "/srv/secret" in caplog.text  # the detail is in the log, not on the page


# -- the sources page and the entry point in AppTest -------------------------------------------

def sources_app(settings, job, index):
    from peerqa.app.ui.sources_page import render_sources_page

    render_sources_page(settings, job, index)


def test_sources_page_uploads_checked_pdfs_and_rebuilds_with_progress(settings_factory, tmp_path):
    settings = settings_factory()
    settings.sources_dir.mkdir()
    make_pdf(settings.sources_dir / REVIEW, [["Peer Support Work"]])
    ingest = FakeIngest(_report(warnings=["x.pdf: duplicate of y.pdf, ingested once"]))
    ingest.outcome.sources.append(SourceStatus(path="My_Study.pdf", status="failed", error="no text layer"))
    job = RebuildJob(settings, ingest=ingest)
    at = AppTest.from_function(sources_app, kwargs={"settings": settings, "job": job, "index": StubIndex()},
                               default_timeout=TIMEOUT).run()
    table = at.table[0].value
    assert list(table["File"]) == [escape_md(REVIEW)] and list(table["Status"]) == ["indexed"]

    at.button[0].click().run()  # submitted with nothing received (none chosen, or refused in transfer)
    assert "No file was received" in at.warning[0].value and "50 MB" in at.warning[0].value

    study = make_pdf(tmp_path / "study.pdf", [["A study of peer support"]]).read_bytes()
    at.file_uploader[0].set_value([("My Study.pdf", study, "application/pdf"),
                                   ("fake.pdf", b"GIF89a not a pdf", "application/pdf")])
    at.button[0].click().run()  # "Add to sources" (the form's submit button)
    assert escape_md("My Study.pdf: saved as My_Study.pdf (renamed from My Study.pdf)") in [s.value for s in at.success]
    assert "not a PDF" in at.error[0].value and not (settings.sources_dir / "fake.pdf").exists()
    table = at.table[0].value
    # Cells are escaped: st.table renders Markdown, and file names are not markup.
    assert dict(zip(table["File"], table["Status"], strict=True)) == {
        escape_md("My_Study.pdf"): "new", escape_md(REVIEW): "indexed",
    }

    next(b for b in at.button if b.label == "Rebuild the index").click().run()
    assert job.status().running
    _until(lambda: job.status().fraction > 0)
    at.run()
    progress = at.get("progress")
    assert progress and escape_md("Reading review.pdf · 25%") in progress[0].proto.text
    ingest.release.set()
    assert job.wait(10)
    at.run()
    assert any("is ready: 3 passages" in s.value for s in at.success)
    table = at.table[0].value
    failed = table[table["File"] == escape_md("My_Study.pdf")].iloc[0]
    assert (failed["Status"], failed["Details"]) == ("failed", "no text layer")


def test_the_app_explains_when_there_is_no_index_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("PEERQA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("PEERQA_SOURCES_DIR", str(tmp_path / "sources"))
    at = AppTest.from_file(str(REPO / "app" / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "No index has been built yet" in at.info[0].value


def test_a_start_up_error_shows_the_plain_message_and_logs_the_detail(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PEERQA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("PEERQA_ANSWER__MAX_QUESTION_CHARS", "not-a-number")  # the settings cannot load
    with caplog.at_level("ERROR", logger="peerqa.app"):
        at = AppTest.from_file(str(REPO / "app" / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert [e.value for e in at.error] == [FRIENDLY]
    assert "could not start" in caplog.text and "max_question_chars" in caplog.text
    assert not any("not-a-number" in t or "Traceback" in t for t in _texts(at))


def test_concurrent_uploads_of_one_name_keep_every_file_and_same_bytes_once(tmp_path):
    folder = tmp_path / "sources"
    tries, lost, errors = 200, 0, []
    for i in range(tries):
        barrier = threading.Barrier(2)
        bodies = [PDF_BYTES + f"% try {i} session {s}\n".encode() for s in (0, 1)]
        outcomes: list = [None, None]

        def upload(s: int, barrier=barrier, outcomes=outcomes, bodies=bodies) -> None:
            barrier.wait()
            try:
                outcomes[s] = save_pdf(folder, "report.pdf", bodies[s])
            except Exception as exc:  # collected: any exception is a failed upload
                errors.append(exc)

        threads = [threading.Thread(target=upload, args=(s,)) for s in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        names = [o.saved_as for o in outcomes if o is not None and o.ok]
        if len(set(names)) != 2 or [(folder / n).read_bytes() for n in names] != [o_body for o_body in bodies]:
            lost += 1
    assert (errors, lost) == ([], 0)
    assert len(list(folder.glob("report*.pdf"))) == 2 * tries and not list(folder.glob(".*"))

    # The same bytes from two sessions at once: one copy, the other told where it is.
    same = PDF_BYTES + b"% identical\n"
    barrier = threading.Barrier(2)
    results: list = []

    def same_upload(name: str) -> None:
        barrier.wait()
        results.append(save_pdf(folder, name, same))

    threads = [threading.Thread(target=same_upload, args=(n,)) for n in ("x.pdf", "y.pdf")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(r.ok for r in results) == [False, True]
    assert any("already in the sources as" in r.message for r in results)


def test_a_partial_answer_is_a_notice_with_the_evidence_below_it(chat):
    at, _engine, _ = _ask_first(chat, "How many beds does a peer respite house have?")
    assert [w.value for w in at.warning] == [escape_md("The review does not give the number asked for. "
                                                         "What it does say about peer respite:")]
    assert len(at.expander) == 1 and not at.exception  # the cited passage is still there to check


def test_a_filter_that_hides_the_evidence_offers_to_search_everywhere(chat):
    at, engine, _ = chat
    at.selectbox(key="filter_section").select("Findings › Training").run()
    _ask(at, "What is peer respite?")
    assert any("does not appear to cover this" in i.value for i in at.info)
    widen = next(b for b in at.button if (b.key or "").startswith("widen-"))
    assert widen.label == "Search all sections"
    widen.click().run()
    last = engine.calls[-1]
    assert (last.question, last.filters.section) == ("What is peer respite?", "")
    assert at.selectbox(key="filter_section").value == ""
    assert not at.exception
def test_a_suggestion_sets_the_sidebar_and_an_abstention_never_offers_the_section_just_searched(chat):
    at, engine, _ = _ask_first(chat, "What is the pension?")
    offered = [b.label for b in at.button if (b.key or "").startswith("suggest-")]
    assert offered == [escape_md("Findings › Training"), escape_md("Findings › Training › Costs"), "Context"]
    next(b for b in at.button if b.label == escape_md("Findings › Training")).click().run()
    # The sidebar shows the filter the answer used, and so do the next questions.
    assert at.selectbox(key="filter_section").value == "Findings › Training"
    assert escape_md("Searching in Findings › Training") in [c.value for c in at.sidebar.caption]
    assert engine.calls[-1].filters.section == "Findings › Training" and engine.calls[-1].history == []
    # Abstaining again there: neither that section nor one inside it is offered; all sections is.
    last = [b for b in at.button if (b.key or "").startswith("suggest-")][-2:]
    assert [b.label for b in last] == ["Context", "Ask again in all sections"]
    last[1].click().run()
    assert engine.calls[-1].filters.section == "" and at.selectbox(key="filter_section").value == ""
    assert engine.calls[-1].history == []  # the same question again, not a follow-up to itself


def test_sections_to_offer_and_section_labels():
    from peerqa.app.ui.chat import sections_to_offer
    from peerqa.app.ui.sidebar import section_option_label

    got = sections_to_offer(["Findings › Training", "Findings › Training › Costs", "Findings › Trainings", "Context"],
                            "Findings › Training")
    assert got == ["Findings › Trainings", "Context"]
    assert sections_to_offer(["A", "B"], "") == ["A", "B"]
    assert section_option_label("Findings › Development and Implementation › Training") == \
        "Training — in Findings › Development and Implementation"
    assert section_option_label("Context") == "Context" and section_option_label("") == "All sections"


def test_show_page_opens_the_cited_page_or_says_why_not(chat):
    at, _, _ = _ask_first(chat, "What training do peer support workers need?")
    at.expander[0].button[0].click().run()
    assert not at.exception
    # The stub source has one page; the citation says p. 46: a clear message, not a traceback.
    assert any("review.pdf has no page 46 (its pages are numbered 1–1)" in w.value.replace("\\", "") for w in at.warning)


class _TextSourceEngine(StubEngine):
    """Cites a .txt source (no pages) with two quoted sentences, one of which cites a study."""

    def __init__(self) -> None:
        super().__init__()
        first = "Notes on supervision. Peer workers met weekly. "
        cited = "Supervisors had lived experience (Smith et al., 2020). Workers asked for clear roles."
        last = " The pilot ran for a year."
        text = first + cited
        self.chunks = [
            Chunk(id="t1", source_id="txt", source_path="notes.txt", char_start=0, char_end=len(first),
                  text=first.strip(), embed_text=first),
            Chunk(id="t2", source_id="txt", source_path="notes.txt", char_start=len(first), char_end=len(text),
                  text=cited, embed_text=cited),
            Chunk(id="t3", source_id="txt", source_path="notes.txt", char_start=len(text) + 2,
                  char_end=len(text) + 2 + len(last.strip()), text=last.strip(), embed_text=last),
        ]
        self.index.chunks = self.chunks  # type: ignore[attr-defined]

    def ask(self, question, history=None, filters=None, k=None, mode="extractive", on_chunk=None):
        self.calls.append(Call(question, list(history or []), filters or Filters(), mode))
        quote = "Supervisors had lived experience (Smith et al., 2020). … Workers asked for clear roles."
        passage = Passage(chunk=self.chunks[1], score=1.0, rank=1)
        return Answer(question=question, answer="x [1]", index_version="v-test",
                      sentences=[AnswerSentence(text=p, citations=[1]) for p in quote.split(" … ")],
                      citations=[Citation(n=1, passage=passage, quote=quote, studies=[reference()])])


def test_a_text_source_shows_its_passage_in_context_and_each_sentence_its_studies(tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "notes.txt").write_text("Notes on supervision.\n", encoding="utf-8")
    engine = _TextSourceEngine()
    kwargs = {"engine": engine, "store_path": str(tmp_path / "feedback.sqlite"), "sources_dir": str(sources)}
    at = AppTest.from_function(chat_app, kwargs=kwargs, default_timeout=TIMEOUT).run()
    _ask(at, "What about supervision?")
    (expander,) = at.expander
    shown = [m.value for m in expander.markdown]
    assert "**Studies each quoted sentence cites**" in shown
    per_sentence = shown[shown.index("**Studies each quoted sentence cites**") + 1]
    assert per_sentence.startswith(f"1. “{escape_md('Supervisors had lived experience (Smith et al., 2020).')}”")
    assert "Smith et al\\. \\(2020\\)" in per_sentence.split("2. ")[0]
    assert per_sentence.split("\n")[-1].endswith(": no study named")
    assert [b.label for b in expander.button] == ["Show the passage in context"]
    expander.button[0].click().run()
    assert not at.exception
    context = next(m.value for m in at.markdown if "Peer workers met weekly" in m.value)
    assert "The pilot ran for a year" in context and ":orange-background[**Supervisors had lived" in context
    assert escape_md("notes.txt has no pages: the passage in its surrounding text") in [c.value for c in at.caption]


def test_list_items_nest_under_their_lead_in_and_stand_alone_without_one():
    from peerqa.records import AnswerSentence

    def answer(roles: list[str]) -> Answer:
        sentences = [AnswerSentence(text=("- item" if r == "item" else "Five topics:" if r == "lead_in" else "Text."),
                                    citations=[1], role=r) for r in roles]
        return Answer(question="q", answer="a", sentences=sentences, citations=[cited_answer("q").citations[0]])

    lines = answer_markdown(answer(["lead_in", "item", "item", "sentence", "item"])).split("\n")
    assert [line.startswith("    - ") for line in lines] == [False, True, True, False, False]
    assert lines[1].startswith("    - item ")
